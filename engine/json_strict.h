// Strict JSON parsing for files Folio reads from disk (safetensors headers, config.json,
// the shard index): duplicate keys are refused (the JSON spec tolerates them, but two
// values for one key make a file ambiguous) and nesting is bounded. Engine-internal.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace folio {

// Parses `text` into *out. On failure returns false and sets *error to a phrase such as
// "not valid JSON (...)" or "duplicate key 'x'". Never throws.
bool ParseJsonStrict(std::string_view text, int max_depth, nlohmann::json* out, std::string* error);

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). Returns the offset of the
// first bad byte, or n when all n bytes are valid.
size_t FirstInvalidUtf8(const uint8_t* s, size_t n);

}  // namespace folio
