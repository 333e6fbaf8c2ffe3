// golden.safetensors of a fixture folder: the reference implementation's outputs
// (input_ids, logits, hidden.K, gen_prompt, gen_tokens, gen_logits; tests/fixtures/README.md).
#pragma once

#include <QtGlobal>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/safetensors.h"

namespace folio::testing {

struct GoldenFile {
  std::unique_ptr<SafetensorsFile> file;

  // A float tensor (F32 in the fixtures), flattened row-major.
  std::vector<float> Floats(const std::string& name) const {
    TensorView t = file->Get(name).value();
    std::vector<float> v(static_cast<size_t>(t.numel()));
    t.ToF32(0, t.numel(), v.data());
    return v;
  }
  // An I64 tensor of token ids.
  std::vector<int64_t> Ids(const std::string& name) const {
    TensorView t = file->Get(name).value();
    std::vector<int64_t> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), t.data, v.size() * sizeof(int64_t));
    return v;
  }
};

// Opens DIR/golden.safetensors; a missing or damaged file stops the test binary with the
// reason (the fixtures are part of the repository, so this is a broken checkout).
inline GoldenFile LoadGoldenFile(const std::string& fixture_dir) {
  auto f = SafetensorsFile::Open(fixture_dir + "/golden.safetensors");
  if (!f.ok()) qFatal("golden: %s", f.status().message().c_str());
  return {std::move(f).value()};
}

}  // namespace folio::testing
