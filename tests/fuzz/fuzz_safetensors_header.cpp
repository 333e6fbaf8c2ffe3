// libFuzzer target: the safetensors header parser (RELIABILITY.md 12-15).
// Build with -DFOLIO_FUZZ=ON and clang; seeds in tests/fuzz/corpus/fuzz_safetensors_header/.
#include "fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  folio::fuzz::RunSafetensorsHeader(data, size);
  return 0;
}
