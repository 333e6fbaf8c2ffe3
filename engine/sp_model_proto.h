// Just enough of the protobuf wire format to check a sentencepiece ModelProto
// (tokenizer.model) before handing it to the library, and to flip one normalizer flag.
//
// ModelProto fields: 1 pieces (repeated), 2 trainer_spec, 3 normalizer_spec,
// 4 self_test_data, 5 denormalizer_spec. NormalizerSpec: 3 add_dummy_prefix (default true),
// 4 remove_extra_whitespaces (default true).
#pragma once

#include <string>

#include "engine/status.h"

namespace folio {

struct SpModelSummary {
  int64_t pieces = 0;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool identity_normalizer = true;  // no precompiled_charsmap: text is not rewritten
};

// Walks the whole message: every field well-formed and inside the buffer, at least one
// piece, trainer_spec and normalizer_spec present (a file cut short loses them).
Result<SpModelSummary> InspectSpModel(const std::string& bytes, const std::string& display_name);

// The same model with normalizer_spec.add_dummy_prefix and remove_extra_whitespaces set to
// false: used to encode text that follows a special token (see tokenizer.h).
Result<std::string> SpModelWithoutDummyPrefix(const std::string& bytes,
                                              const std::string& display_name);

}  // namespace folio
