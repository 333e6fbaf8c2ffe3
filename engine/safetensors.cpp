// safetensors files: the read-only mapping, opening (header validated in full by
// ParseSafetensorsHeader in safetensors_header.cpp before any tensor byte is touched),
// zero-copy views, and the writer.
#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

namespace folio {
namespace {

std::string ErrnoText() {
  return std::strerror(errno);
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

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
