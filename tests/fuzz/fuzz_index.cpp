// libFuzzer target: model.safetensors.index.json (RELIABILITY.md 16).
// Build with -DFOLIO_FUZZ=ON and clang; seeds in tests/fuzz/corpus/fuzz_index/.
#include "fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  folio::fuzz::RunIndex(data, size);
  return 0;
}
