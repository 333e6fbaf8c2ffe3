// libFuzzer target: the text decoder, page splitter and chunker (RELIABILITY.md 5).
// Build with -DFOLIO_FUZZ=ON and clang; seeds in tests/fuzz/corpus/fuzz_text/.
#include "fuzz_text_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  folio::fuzz::RunTextDecode(data, size);
  return 0;
}
