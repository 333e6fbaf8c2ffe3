// Parsing and validating a safetensors header (RELIABILITY.md 12-15).
//
// The JSON is read with a SAX handler, not into a DOM: a hostile 100 MB header costs
// memory in proportion to the tensors it declares (each checked as it closes), never a
// tree many times the header's size, and the first bad value stops the parse.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/json_strict.h"
#include "engine/safetensors.h"

namespace folio {
namespace {

using Json = nlohmann::json;

// Real tensors have rank <= 6 or so; a longer shape is an attack on memory, not a tensor.
constexpr size_t kMaxRank = 32;
// Nesting allowed inside fields we ignore (unknown keys of a tensor entry).
constexpr int kMaxSkipDepth = 8;

uint64_t ReadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// dtype names safetensors defines that Folio does not load: well-formed, unsupported.
bool IsKnownSafetensorsDType(const std::string& s) {
  static const char* const kKnown[] = {
      "BOOL", "U8",   "I8",      "F8_E5M2", "F8_E4M3", "I16",         "U16",
      "F16",  "BF16", "I32",     "U32",     "F32",     "F64",         "I64",
      "U64",  "F4",   "F6_E2M3", "F6_E3M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ"};
  for (const char* k : kKnown) {
    if (s == k) return true;
  }
  return false;
}

// One tensor entry as read from JSON, before validation.
struct RawEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<int64_t> offsets;
  bool has_dtype = false, has_shape = false, has_offsets = false;
};

// Validates one entry: dtype, shape (no 64-bit overflow), data_offsets inside the data
// section, and dtype x shape == byte length.
Status FinishEntry(const RawEntry& r, uint64_t data_bytes, SafetensorsHeader::Entry* e) {
  const std::string where = "tensor '" + r.name + "'";
  if (!r.has_dtype) return Corrupt(where + ": missing dtype");
  if (!r.has_shape) return Corrupt(where + ": missing shape");
  if (!r.has_offsets || r.offsets.size() != 2) {
    return Corrupt(where + ": data_offsets must be two non-negative integers");
  }
  e->name = r.name;
  if (!ParseDType(r.dtype, &e->dtype)) {
    if (IsKnownSafetensorsDType(r.dtype)) {
      return Unsupported(where + ": dtype " + r.dtype +
                         " is not supported (F32, F16, BF16, I64, I32, U8)");
    }
    return Corrupt(where + ": unknown dtype '" + r.dtype + "'");
  }
  e->shape = r.shape;
  uint64_t numel = 1, nbytes = 0;
  for (int64_t d : r.shape) {
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) {
      return Corrupt(where + ": shape product overflows 64 bits");
    }
  }
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(e->dtype)), &nbytes)) {
    return Corrupt(where + ": byte size of shape overflows 64 bits");
  }
  e->begin = static_cast<uint64_t>(r.offsets[0]);
  e->end = static_cast<uint64_t>(r.offsets[1]);
  if (e->end < e->begin) {
    return Corrupt(where + ": data_offsets reversed [" + std::to_string(e->begin) + ", " +
                   std::to_string(e->end) + "]");
  }
  if (e->end > data_bytes) {
    return Corrupt(where + ": data_offsets end " + std::to_string(e->end) +
                   " is past the end of the file (data section is " + std::to_string(data_bytes) +
                   " bytes)");
  }
  if (e->end - e->begin != nbytes) {
    return Corrupt(where + ": " + std::string(DTypeName(e->dtype)) + " x " + ShapeText(e->shape) +
                   " needs " + std::to_string(nbytes) + " bytes but data_offsets span " +
                   std::to_string(e->end - e->begin));
  }
  return Status::Ok();
}

// SAX handler for {"name": {"dtype": s, "shape": [n..], "data_offsets": [b, e]}, ...,
// "__metadata__": {"k": "v"}}. Returning false stops the parse; `problem` says why.
class HeaderSax : public nlohmann::json_sax<Json> {
 public:
  HeaderSax(uint64_t data_bytes, SafetensorsHeader* h) : data_bytes_(data_bytes), h_(h) {}
  Status problem;
  bool done() const { return state_ == State::kDone; }

  bool null() override { return Scalar("null"); }
  bool boolean(bool) override { return Scalar("a boolean"); }
  bool number_integer(number_integer_t v) override {
    return Number(v >= 0, static_cast<uint64_t>(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return Number(true, v); }
  bool number_float(number_float_t, const string_t&) override { return Number(false, 0); }
  bool binary(binary_t&) override { return Scalar("binary"); }

  bool string(string_t& s) override {
    switch (state_) {
      case State::kSkip:
        return SkipValueDone();
      case State::kDtype:
        raw_.dtype = s;
        state_ = State::kInEntry;
        return true;
      case State::kMetaValue:
        h_->metadata[meta_key_] = s;
        state_ = State::kInMeta;
        return true;
      case State::kMetaObject:
        return Fail("__metadata__ is not a JSON object");
      case State::kEntryObject:
        return Fail("tensor '" + raw_.name + "': entry is not a JSON object");
      default:
        return Fail(Where() + "unexpected string");
    }
  }

  bool start_object(std::size_t) override {
    switch (state_) {
      case State::kStart:
        state_ = State::kInTop;
        return true;
      case State::kEntryObject:
        state_ = State::kInEntry;
        return true;
      case State::kMetaObject:
        state_ = State::kInMeta;
        return true;
      case State::kSkip:
        return SkipOpen();
      case State::kMetaValue:
        return Fail("__metadata__ value '" + meta_key_ + "' is not a string");
      default:
        return Fail(Where() + "unexpected object");
    }
  }

  bool key(string_t& k) override {
    switch (state_) {
      case State::kInTop:
        if (!top_keys_.insert(k).second) return Fail("duplicate key '" + k + "'");
        if (k == "__metadata__") {
          state_ = State::kMetaObject;
        } else {
          raw_ = RawEntry{};
          raw_.name = k;
          state_ = State::kEntryObject;
        }
        return true;
      case State::kInMeta:
        if (h_->metadata.count(k)) return Fail("duplicate key '" + k + "' in __metadata__");
        meta_key_ = k;
        state_ = State::kMetaValue;
        return true;
      case State::kInEntry:
        return EntryKey(k);
      case State::kSkip:
        return true;
      default:
        return Fail(Where() + "unexpected key");
    }
  }

  bool end_object() override {
    switch (state_) {
      case State::kInTop:
        state_ = State::kDone;
        return true;
      case State::kInMeta:
        state_ = State::kInTop;
        return true;
      case State::kInEntry: {
        SafetensorsHeader::Entry e;
        Status s = FinishEntry(raw_, data_bytes_, &e);
        if (!s.ok()) return Fail(s);
        h_->tensors.push_back(std::move(e));
        state_ = State::kInTop;
        return true;
      }
      case State::kSkip:
        return SkipClose();
      default:
        return Fail(Where() + "unexpected '}'");
    }
  }

  bool start_array(std::size_t) override {
    switch (state_) {
      case State::kShapeStart:
        state_ = State::kInShape;
        return true;
      case State::kOffsetsStart:
        state_ = State::kInOffsets;
        return true;
      case State::kSkip:
        return SkipOpen();
      case State::kStart:
        return Fail("header is not a JSON object");
      case State::kMetaObject:
        return Fail("__metadata__ is not a JSON object");
      case State::kMetaValue:
        return Fail("__metadata__ value '" + meta_key_ + "' is not a string");
      case State::kEntryObject:
        return Fail("tensor '" + raw_.name + "': entry is not a JSON object");
      default:
        return Fail(Where() + "unexpected array");
    }
  }

  bool end_array() override {
    switch (state_) {
      case State::kInShape:
      case State::kInOffsets:
        state_ = State::kInEntry;
        return true;
      case State::kSkip:
        return SkipClose();
      default:
        return Fail(Where() + "unexpected ']'");
    }
  }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    return Fail(std::string("header is not valid JSON (") + ex.what() + ")");
  }

 private:
  enum class State {
    kStart,
    kInTop,
    kDone,
    kMetaObject,
    kInMeta,
    kMetaValue,
    kEntryObject,
    kInEntry,
    kDtype,
    kShapeStart,
    kInShape,
    kOffsetsStart,
    kInOffsets,
    kSkip,
  };

  bool Fail(const std::string& m) { return Fail(Corrupt(m)); }
  bool Fail(Status s) {
    if (problem.ok()) problem = std::move(s);
    return false;
  }
  // Message prefix for where the parse is: in a tensor entry, in the metadata, or above.
  std::string Where() const {
    switch (state_) {
      case State::kEntryObject:
      case State::kInEntry:
      case State::kDtype:
      case State::kShapeStart:
      case State::kInShape:
      case State::kOffsetsStart:
      case State::kInOffsets:
      case State::kSkip:
        return "tensor '" + raw_.name + "': ";
      case State::kMetaObject:
      case State::kInMeta:
      case State::kMetaValue:
        return "__metadata__: ";
      default:
        return "header: ";
    }
  }

  bool EntryKey(const std::string& k) {
    bool* seen = k == "dtype"          ? &raw_.has_dtype
                 : k == "shape"        ? &raw_.has_shape
                 : k == "data_offsets" ? &raw_.has_offsets
                                       : nullptr;
    if (!seen) {  // unknown fields are ignored, as the reference does
      state_ = State::kSkip;
      skip_depth_ = 0;
      return true;
    }
    if (*seen) return Fail("tensor '" + raw_.name + "': duplicate key '" + k + "'");
    *seen = true;
    state_ = k == "dtype"   ? State::kDtype
             : k == "shape" ? State::kShapeStart
                            : State::kOffsetsStart;
    return true;
  }

  // A scalar that is not a string or a number.
  bool Scalar(const char* what) {
    if (state_ == State::kSkip) return SkipValueDone();
    if (state_ == State::kMetaValue)
      return Fail("__metadata__ value '" + meta_key_ + "' is not a string");
    return Fail(Where() + "unexpected " + what);
  }

  bool Number(bool non_negative_int, uint64_t v) {
    if (state_ == State::kSkip) return SkipValueDone();
    const bool fits = non_negative_int && v <= static_cast<uint64_t>(INT64_MAX);
    if (state_ == State::kInShape) {
      if (!fits) return Fail(Where() + "shape holds a non-integer, negative or huge size");
      if (raw_.shape.size() >= kMaxRank) return Fail(Where() + "shape has more than 32 dimensions");
      raw_.shape.push_back(static_cast<int64_t>(v));
      return true;
    }
    if (state_ == State::kInOffsets) {
      if (!fits || raw_.offsets.size() >= 2) {
        return Fail(Where() + "data_offsets must be two non-negative integers");
      }
      raw_.offsets.push_back(static_cast<int64_t>(v));
      return true;
    }
    return Scalar("number");
  }

  bool SkipOpen() {
    if (++skip_depth_ > kMaxSkipDepth) return Fail(Where() + "JSON nested too deep");
    return true;
  }
  bool SkipClose() {
    if (--skip_depth_ == 0) state_ = State::kInEntry;
    return true;
  }
  bool SkipValueDone() {
    if (skip_depth_ == 0) state_ = State::kInEntry;
    return true;
  }

  uint64_t data_bytes_;
  SafetensorsHeader* h_;
  State state_ = State::kStart;
  std::set<std::string> top_keys_;
  RawEntry raw_;
  std::string meta_key_;
  int skip_depth_ = 0;
};

// The data section must be covered exactly: sorted by offset, each tensor starts where
// the previous ended, the first at 0 and the last ending at the end of the file.
Status CheckLayout(std::vector<SafetensorsHeader::Entry>* entries, uint64_t data_bytes) {
  std::sort(entries->begin(), entries->end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  const SafetensorsHeader::Entry* prev = nullptr;
  for (const auto& e : *entries) {
    if (e.begin < expected) {
      return Corrupt("tensor '" + e.name + "' overlaps tensor '" + prev->name + "' (bytes " +
                     std::to_string(e.begin) + ".." + std::to_string(expected) + ")");
    }
    if (e.begin > expected) {
      return Corrupt(
          "tensor '" + e.name + "' leaves a hole of " + std::to_string(e.begin - expected) +
          " bytes before it" +
          (prev ? " (after tensor '" + prev->name + "')" : std::string(" (at the start)")));
    }
    expected = e.end;
    prev = &e;
  }
  if (expected != data_bytes) {
    return Corrupt(std::to_string(data_bytes - expected) +
                   " bytes at the end of the data section belong to no tensor" +
                   (prev ? " (after tensor '" + prev->name + "')" : std::string()));
  }
  return Status::Ok();
}

// Checks on the 8-byte length alone, before anything sized by the file is allocated.
Status CheckHeaderLength(uint64_t n, uint64_t file_size) {
  if (n == 0) return Corrupt("header length is 0");
  if (n > kMaxSafetensorsHeaderBytes) {
    return Corrupt("header length " + std::to_string(n) + " is over the " +
                   std::to_string(kMaxSafetensorsHeaderBytes >> 20) + " MB limit");
  }
  if (n > file_size - 8) {
    return Corrupt("header length " + std::to_string(n) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  }
  return Status::Ok();
}

Status ParseHeaderJson(std::string_view text, uint64_t data_bytes, SafetensorsHeader* h) {
  const size_t bad = FirstInvalidUtf8(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  if (bad != text.size()) {
    return Corrupt("header is not UTF-8 (bad byte at header offset " + std::to_string(bad) + ")");
  }
  HeaderSax sax(data_bytes, h);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const Json::exception& e) {  // sax_parse reports through parse_error; belt and braces
    return Corrupt(std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!sax.problem.ok()) return sax.problem;
  if (!ok || !sax.done()) return Corrupt("header is not a complete JSON object");
  return CheckLayout(&h->tensors, data_bytes);
}

}  // namespace

Result<SafetensorsHeader> ParseSafetensorsHeader(const uint8_t* bytes, size_t available,
                                                 uint64_t file_size,
                                                 const std::string& display_name) {
  if (file_size < 8) {
    return Corrupt(display_name + ": file is " + std::to_string(file_size) +
                   " bytes, too short for a safetensors header (8-byte length first)");
  }
  if (available < 8) {
    return InvalidArgument(display_name + ": only " + std::to_string(available) + " bytes given");
  }
  const uint64_t n = ReadLe64(bytes);
  FOLIO_RETURN_IF_ERROR(CheckHeaderLength(n, file_size).WithContext(display_name));
  if (available - 8 < n) {
    return InvalidArgument(display_name + ": only " + std::to_string(available) +
                           " bytes given for a header of " + std::to_string(n));
  }
  SafetensorsHeader h;
  h.header_bytes = n;
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(n));
  FOLIO_RETURN_IF_ERROR(ParseHeaderJson(text, file_size - 8 - n, &h).WithContext(display_name));
  return h;
}

}  // namespace folio
