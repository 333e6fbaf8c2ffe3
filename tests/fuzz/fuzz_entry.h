// One input through one parser, shared by the libFuzzer targets and the always-built
// corpus replay test (test_fuzz_corpus). Each returns whether the parser accepted the
// input; an accepted result that breaks an invariant aborts, so the fuzzer reports it
// as a crash and the replay test fails.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/safetensors.h"

#define FOLIO_FUZZ_CHECK(cond)                                                          \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace folio::fuzz {

// Accepted headers describe tensors that tile the data section exactly; every view's
// first and last element can be read from the input buffer (ASan checks the bounds).
inline bool RunSafetensorsHeader(const uint8_t* data, size_t size) {
  auto h = ParseSafetensorsHeader(data, size, size, "fuzz.safetensors");
  if (!h.ok()) {
    FOLIO_FUZZ_CHECK(!h.status().message().empty());
    return false;
  }
  FOLIO_FUZZ_CHECK(h->header_bytes >= 1 && h->header_bytes <= size - 8);
  const uint64_t data_bytes = size - 8 - h->header_bytes;
  uint64_t expected = 0;
  for (const auto& e : h->tensors) {
    FOLIO_FUZZ_CHECK(e.begin == expected && e.end >= e.begin && e.end <= data_bytes);
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      FOLIO_FUZZ_CHECK(d >= 0);
      FOLIO_FUZZ_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel));
    }
    FOLIO_FUZZ_CHECK(numel * DTypeSize(e.dtype) == e.end - e.begin);
    if (numel > 0) {
      TensorView v;
      v.dtype = e.dtype;
      v.shape = e.shape;
      v.data = data + 8 + h->header_bytes + e.begin;
      v.nbytes = e.end - e.begin;
      volatile float first = v.GetF32(0);
      volatile float last = v.GetF32(static_cast<int64_t>(numel) - 1);
      (void)first;
      (void)last;
    }
    expected = e.end;
  }
  FOLIO_FUZZ_CHECK(expected == data_bytes);
  return true;
}

// Accepted indexes name only plain files inside the model folder.
inline bool RunIndex(const uint8_t* data, size_t size) {
  auto m = ParseSafetensorsIndex(std::string(reinterpret_cast<const char*>(data), size),
                                 "fuzz.index.json");
  if (!m.ok()) return false;
  FOLIO_FUZZ_CHECK(!m->empty());
  for (const auto& [tensor, file] : *m) {
    FOLIO_FUZZ_CHECK(!tensor.empty() && !file.empty() && file != "." && file != "..");
    FOLIO_FUZZ_CHECK(file.find('/') == std::string::npos && file.find('\\') == std::string::npos);
  }
  return true;
}

// Accepted configs give consistent shapes, a plan of num_hidden_layers layers, and
// parameter counts computed without overflow (UBSan watches the arithmetic).
inline bool RunConfig(const uint8_t* data, size_t size) {
  auto c =
      ParseModelConfig(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  if (!c.ok()) return false;
  FOLIO_FUZZ_CHECK(c->model_type == "jamba");
  FOLIO_FUZZ_CHECK(c->head_dim() * c->num_attention_heads == c->hidden_size);
  FOLIO_FUZZ_CHECK(c->num_attention_heads % c->num_key_value_heads == 0);
  FOLIO_FUZZ_CHECK(c->num_experts_per_tok <= c->num_experts);
  FOLIO_FUZZ_CHECK(static_cast<int64_t>(c->Plan().size()) == c->num_hidden_layers);
  FOLIO_FUZZ_CHECK(!c->PlanString().empty());
  const int64_t total = c->ParameterCount(), active = c->ActiveParameterCount();
  FOLIO_FUZZ_CHECK(active > 0 && active <= total);
  FOLIO_FUZZ_CHECK(!c->eos_token_ids.empty() && c->eos_token_ids[0] == c->eos_token_id);
  return true;
}

}  // namespace folio::fuzz
