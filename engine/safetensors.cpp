// safetensors reading and writing. The header is validated in full (RELIABILITY.md
// 12-15) before any tensor byte is touched and before any allocation whose size comes
// from the file: the only file-sized quantity we trust is the header length, and only
// after it has been bounded by kMaxSafetensorsHeaderBytes and by the file size.
#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/json_strict.h"

namespace folio {
namespace {

using Json = nlohmann::json;

// Deepest nesting a valid header has: {name: {shape: [..]}} is 3; allow some slack for
// metadata but refuse to build a DOM for pathological nesting.
constexpr int kMaxJsonDepth = 8;

std::string ErrnoText() {
  return std::strerror(errno);
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

uint64_t ReadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A non-negative JSON integer that fits int64_t.
bool AsNonNegativeInt(const Json& j, int64_t* out) {
  if (j.is_number_unsigned()) {
    const uint64_t v = j.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }
  if (j.is_number_integer()) {
    const int64_t v = j.get<int64_t>();
    if (v < 0) return false;
    *out = v;
    return true;
  }
  return false;
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

// Validates one tensor entry: dtype, shape (no 64-bit overflow), data_offsets, and
// that dtype x shape matches the byte length. `data_bytes` is the data section size.
Status ParseEntry(const std::string& name, const Json& j, uint64_t data_bytes,
                  SafetensorsHeader::Entry* e) {
  const std::string where = "tensor '" + name + "'";
  if (!j.is_object()) return Corrupt(where + ": entry is not a JSON object");
  e->name = name;
  auto dt = j.find("dtype");
  if (dt == j.end() || !dt->is_string()) return Corrupt(where + ": missing or non-string dtype");
  const std::string& dname = dt->get_ref<const std::string&>();
  if (!ParseDType(dname, &e->dtype)) {
    if (IsKnownSafetensorsDType(dname)) {
      return Unsupported(where + ": dtype " + dname +
                         " is not supported (F32, F16, BF16, I64, I32, U8)");
    }
    return Corrupt(where + ": unknown dtype '" + dname + "'");
  }
  auto sh = j.find("shape");
  if (sh == j.end() || !sh->is_array()) return Corrupt(where + ": missing or non-array shape");
  uint64_t numel = 1;
  for (const Json& d : *sh) {
    int64_t v;
    if (!AsNonNegativeInt(d, &v))
      return Corrupt(where + ": shape holds a non-integer or negative size");
    e->shape.push_back(v);
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(v), &numel)) {
      return Corrupt(where + ": shape product overflows 64 bits");
    }
  }
  uint64_t nbytes;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(e->dtype)), &nbytes)) {
    return Corrupt(where + ": byte size of shape overflows 64 bits");
  }
  auto off = j.find("data_offsets");
  int64_t b, en;
  if (off == j.end() || !off->is_array() || off->size() != 2 || !AsNonNegativeInt((*off)[0], &b) ||
      !AsNonNegativeInt((*off)[1], &en)) {
    return Corrupt(where + ": data_offsets must be two non-negative integers");
  }
  e->begin = static_cast<uint64_t>(b);
  e->end = static_cast<uint64_t>(en);
  if (e->end < e->begin) {
    return Corrupt(where + ": data_offsets reversed [" + std::to_string(b) + ", " +
                   std::to_string(en) + "]");
  }
  if (e->end > data_bytes) {
    return Corrupt(where + ": data_offsets end " + std::to_string(en) +
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

}  // namespace

namespace {

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

Status ParseMetadata(const Json& j, std::map<std::string, std::string>* out) {
  if (!j.is_object()) return Corrupt("__metadata__ is not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_string()) return Corrupt("__metadata__ value '" + it.key() + "' is not a string");
    (*out)[it.key()] = it->get<std::string>();
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
  Json j;
  std::string err;
  if (!ParseJsonStrict(text, kMaxJsonDepth, &j, &err)) return Corrupt("header is " + err);
  if (!j.is_object()) return Corrupt("header is not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      FOLIO_RETURN_IF_ERROR(ParseMetadata(*it, &h->metadata));
      continue;
    }
    SafetensorsHeader::Entry e;
    FOLIO_RETURN_IF_ERROR(ParseEntry(it.key(), *it, data_bytes, &e));
    h->tensors.push_back(std::move(e));
  }
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

// ---- MappedFile ----------------------------------------------------------------------

Result<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string why = ErrnoText();
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return IoError(path + ": cannot open (" + why + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = ErrnoText();
    ::close(fd);
    return IoError(path + ": cannot stat (" + why + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  MappedFile m;
  m.path_ = path;
  m.fd_ = fd;
  m.size_ = static_cast<size_t>(st.st_size);
  if (m.size_ > 0) {  // mmap of length 0 fails; an empty file maps to nothing
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return IoError(path + ": cannot map (" + ErrnoText() + ")");
    m.data_ = static_cast<const uint8_t*>(p);
  }
  return m;
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : path_(std::move(o.path_)), data_(o.data_), size_(o.size_), fd_(o.fd_) {
  o.data_ = nullptr;
  o.size_ = 0;
  o.fd_ = -1;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    Reset();
    path_ = std::move(o.path_);
    data_ = o.data_;
    size_ = o.size_;
    fd_ = o.fd_;
    o.data_ = nullptr;
    o.size_ = 0;
    o.fd_ = -1;
  }
  return *this;
}

MappedFile::~MappedFile() {
  Reset();
}

void MappedFile::Reset() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

bool MappedFile::StillIntact() const {
  if (fd_ < 0) return size_ == 0;
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return false;
  return st.st_size >= 0 && static_cast<uint64_t>(st.st_size) >= size_;
}

// ---- SafetensorsFile -----------------------------------------------------------------

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  FOLIO_ASSIGN_OR_RETURN(MappedFile map, MappedFile::Open(path));
  FOLIO_ASSIGN_OR_RETURN(SafetensorsHeader header,
                         ParseSafetensorsHeader(map.data(), map.size(), map.size(), path));
  auto f = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  f->map_ = std::move(map);
  f->header_ = std::move(header);
  for (size_t i = 0; i < f->header_.tensors.size(); ++i) f->index_[f->header_.tensors[i].name] = i;
  return f;
}

Result<TensorView> SafetensorsFile::Get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return NotFound(path() + ": no tensor '" + name + "'");
  if (!map_.StillIntact()) {
    return IoError(path() +
                   ": file was truncated or changed after it was opened; reload the model");
  }
  const SafetensorsHeader::Entry& e = header_.tensors[it->second];
  TensorView v;
  v.name = e.name;
  v.dtype = e.dtype;
  v.shape = e.shape;
  v.data = map_.data() + 8 + header_.header_bytes + e.begin;
  v.nbytes = static_cast<size_t>(e.end - e.begin);
  return v;
}

std::vector<std::string> SafetensorsFile::Names() const {
  std::vector<std::string> names;
  names.reserve(header_.tensors.size());
  for (const auto& e : header_.tensors) names.push_back(e.name);
  return names;
}

// ---- Writing -------------------------------------------------------------------------

namespace {

// The header text, padded with spaces so that the data section starts 8-byte aligned
// (as the reference writer does).
Result<std::string> BuildHeader(const std::vector<TensorToWrite>& tensors,
                                const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!metadata.empty()) j["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__" || j.contains(t.name)) {
      return InvalidArgument("tensor name '" + t.name + "' is empty, reserved or repeated");
    }
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) {
        return InvalidArgument("tensor '" + t.name + "': bad shape " + ShapeText(t.shape));
      }
    }
    if (numel * DTypeSize(t.dtype) != t.bytes.size()) {
      return InvalidArgument("tensor '" + t.name + "': " + std::to_string(t.bytes.size()) +
                             " bytes given for " + std::string(DTypeName(t.dtype)) + " x " +
                             ShapeText(t.shape));
    }
    j[t.name] = {{"dtype", DTypeName(t.dtype)},
                 {"shape", t.shape},
                 {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = j.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  FOLIO_ASSIGN_OR_RETURN(std::string header, BuildHeader(tensors, metadata));
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return IoError(path + ": cannot create (" + ErrnoText() + ")");
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t{header.size()} >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size();
  for (size_t i = 0; ok && i < tensors.size(); ++i) {
    const auto& b = tensors[i].bytes;
    ok = b.empty() || std::fwrite(b.data(), 1, b.size(), f) == b.size();
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = ErrnoText();
    std::remove(tmp.c_str());
    return IoError(path + ": write failed (" + why + ")");
  }
  return Status::Ok();
}

}  // namespace folio
