// Choosing the next token on the device, so decode need not copy [vocab] logits back.
//   ArgmaxRows   greedy: the index of the largest logit of each row (ties: lowest index;
//                NaN never wins).
//   TopPSample   nucleus sampling of one row: p_i = softmax(logits / temperature); keep
//                the tokens with p_i >= tau, where tau is the largest value whose kept
//                mass is >= top_p (ties at tau are all kept); draw with the caller's
//                uniform u in [0, 1) by inverse CDF over the kept tokens in index order.
//                The random number comes from the host's seeded generator, so a run
//                repeats exactly.
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "kernels/device.h"

namespace folio::kernels {

// logits [rows, vocab] float32; out [rows] int32.
Status ArgmaxRows(const float* logits, int64_t rows, int64_t vocab, int32_t* out, Stream stream);

// logits [vocab] float32 (not modified); out [1] int32. temperature > 0, top_p in (0, 1].
Status TopPSample(const float* logits, int64_t vocab, float temperature, float top_p, float u,
                  int32_t* out, Stream stream);

}  // namespace folio::kernels
