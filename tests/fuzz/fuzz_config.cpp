// libFuzzer target: config.json (RELIABILITY.md 17).
// Build with -DFOLIO_FUZZ=ON and clang; seeds in tests/fuzz/corpus/fuzz_config/.
#include "fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  folio::fuzz::RunConfig(data, size);
  return 0;
}
