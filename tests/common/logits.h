// Logits of every position of a token sequence, for suites that compare a backend with a
// reference (golden files, another backend, int8 experts against stored weights).
#pragma once

#include <QtGlobal>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/session.h"

namespace folio::testing {

// Logits [T, vocab] of every position of `ids`, prefilled `chunk` tokens per Forward in a
// fresh session sized to the ids (so a GPU cache holds no more K/V than the ids need).
// chunk >= ids.size() is one Forward over the whole sequence.
inline std::vector<float> AllLogits(Backend& backend, const std::vector<int64_t>& ids,
                                    int64_t chunk) {
  auto session = Session::Create(backend, {static_cast<int64_t>(ids.size()), chunk});
  if (!session.ok()) qFatal("Session: %s", session.status().message().c_str());
  const int64_t V = backend.config().vocab_size;
  std::vector<float> all(ids.size() * static_cast<size_t>(V));
  const Status st =
      (*session)->AppendAll(ids, [&](int64_t first, int64_t rows, const float* logits) {
        std::copy_n(logits, rows * V, all.begin() + first * V);
      });
  if (!st.ok()) qFatal("AppendAll: %s", st.message().c_str());
  return all;
}

}  // namespace folio::testing
