#include "engine/json_strict.h"

#include <algorithm>
#include <set>
#include <vector>

namespace folio {

using Json = nlohmann::json;

// Strict UTF-8 (no overlongs, no surrogates, max U+10FFFF). Returns the offset of the
// first bad byte, or n when the text is valid.
size_t FirstInvalidUtf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min_cp || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return n;
}

namespace {

// Deepest bracket nesting in `text`, stopping early past `limit`; brackets inside
// strings do not count. Run before the real parser so that a file of a million '['
// never makes it build a million-level stack.
int MaxNesting(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      deepest = std::max(deepest, ++depth);
    else if (c == '}' || c == ']')
      --depth;
    if (deepest > limit) break;
  }
  return deepest;
}

}  // namespace

bool ParseJsonStrict(std::string_view text, int max_depth, Json* out, std::string* error) {
  if (MaxNesting(text, max_depth) > max_depth) {
    *error = "JSON nested deeper than " + std::to_string(max_depth) + " levels";
    return false;
  }
  // keys[d]: the keys seen so far in the open object at nesting level d. The callback's
  // depth is the number of open containers: d at an object's start, d + 1 at its keys.
  std::vector<std::set<std::string>> keys;
  std::string problem;
  auto cb = [&](int depth, Json::parse_event_t ev, Json& parsed) -> bool {
    if (!problem.empty() || depth < 0) return true;
    const size_t d = static_cast<size_t>(depth);
    if (ev == Json::parse_event_t::object_start) {
      keys.resize(d + 1);
      keys[d].clear();
    } else if (ev == Json::parse_event_t::key && d >= 1 && d - 1 < keys.size() &&
               parsed.is_string()) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!keys[d - 1].insert(k).second) problem = "duplicate key '" + k + "'";
    }
    return true;
  };
  try {
    *out = Json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    *error = std::string("not valid JSON (") + e.what() + ")";
    return false;
  }
  if (!problem.empty()) {
    *error = problem;
    return false;
  }
  return true;
}

}  // namespace folio
