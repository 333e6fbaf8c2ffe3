// Protobuf wire walking for tokenizer.model. See sp_model_proto.h.
#include "engine/sp_model_proto.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace folio {
namespace {

struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;       // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t varint = 0;     // wire 0
  std::string_view bytes;  // wire 2: the payload; all wires: see `raw`
  std::string_view raw;    // the whole field, tag included
};

bool ReadVarint(std::string_view s, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= s.size()) return false;
    const uint8_t b = static_cast<uint8_t>(s[(*pos)++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Splits a message into fields; false when any field is malformed or runs past the end.
bool SplitFields(std::string_view s, std::vector<Field>* out) {
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = pos;
    uint64_t tag;
    if (!ReadVarint(s, &pos, &tag)) return false;
    Field f;
    f.number = static_cast<uint32_t>(tag >> 3);
    f.wire = static_cast<uint32_t>(tag & 7);
    if (f.number == 0 || (tag >> 3) > 0x1FFFFFFF) return false;
    switch (f.wire) {
      case 0:
        if (!ReadVarint(s, &pos, &f.varint)) return false;
        break;
      case 1:
        if (s.size() - pos < 8) return false;
        pos += 8;
        break;
      case 5:
        if (s.size() - pos < 4) return false;
        pos += 4;
        break;
      case 2: {
        uint64_t len;
        if (!ReadVarint(s, &pos, &len) || len > s.size() - pos) return false;
        f.bytes = s.substr(pos, len);
        pos += len;
        break;
      }
      default:
        return false;  // groups are not used by ModelProto
    }
    f.raw = s.substr(start, pos - start);
    out->push_back(f);
  }
  return true;
}

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

Status Damaged(const std::string& name, const std::string& why) {
  return Corrupt(name + ": not a sentencepiece model (" + why +
                 "); the file is damaged or incomplete, download it again");
}

}  // namespace

Result<SpModelSummary> InspectSpModel(const std::string& bytes, const std::string& display_name) {
  if (bytes.empty()) return Damaged(display_name, "the file is empty");
  std::vector<Field> fields;
  if (!SplitFields(bytes, &fields)) return Damaged(display_name, "malformed or cut short");
  SpModelSummary s;
  bool trainer = false, normalizer = false;
  for (const Field& f : fields) {
    if (f.number >= 1 && f.number <= 5 && f.wire != 2)
      return Damaged(display_name, "field " + std::to_string(f.number) + " has the wrong type");
    if (f.number == 1) {
      std::vector<Field> piece;
      if (!SplitFields(f.bytes, &piece)) return Damaged(display_name, "a malformed piece");
      ++s.pieces;
    } else if (f.number == 2) {
      std::vector<Field> t;
      if (!SplitFields(f.bytes, &t)) return Damaged(display_name, "malformed trainer_spec");
      trainer = true;
    } else if (f.number == 3) {
      std::vector<Field> n;
      if (!SplitFields(f.bytes, &n)) return Damaged(display_name, "malformed normalizer_spec");
      normalizer = true;
      for (const Field& g : n) {
        if (g.number == 3 && g.wire == 0) s.add_dummy_prefix = g.varint != 0;
        if (g.number == 4 && g.wire == 0) s.remove_extra_whitespaces = g.varint != 0;
        if (g.number == 2 && g.wire == 2 && !g.bytes.empty()) s.identity_normalizer = false;
      }
    }
  }
  if (s.pieces == 0) return Damaged(display_name, "no vocabulary pieces");
  if (!trainer || !normalizer)
    return Damaged(display_name, "its trainer or normalizer settings are missing");
  return s;
}

Result<std::string> SpModelWithoutDummyPrefix(const std::string& bytes,
                                              const std::string& display_name) {
  std::vector<Field> fields;
  if (!SplitFields(bytes, &fields)) return Damaged(display_name, "malformed or cut short");
  std::string out;
  for (const Field& f : fields) {
    if (f.number != 3) {
      out.append(f.raw);
      continue;
    }
    std::vector<Field> n;
    if (!SplitFields(f.bytes, &n)) return Damaged(display_name, "malformed normalizer_spec");
    std::string spec;
    for (const Field& g : n)
      if (g.number != 3 && g.number != 4) spec.append(g.raw);
    spec += std::string("\x18\x00\x20\x00", 4);  // field 3 = false, field 4 = false
    AppendVarint((3 << 3) | 2, &out);
    AppendVarint(spec.size(), &out);
    out += spec;
  }
  return out;
}

}  // namespace folio
