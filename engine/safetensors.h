// safetensors files: memory-mapped, header validated before any tensor is read.
//
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section. Every check in RELIABILITY.md 12-15 and 18 happens in Open(),
// before any allocation whose size comes from the file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace folio {

// Limits for what a header may claim.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;  // 100 MB

// A read-only memory mapping of a whole file. Move-only; unmaps on destruction.
class MappedFile {
 public:
  static Result<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True if the file on disk is still at least as long as when it was mapped: a
  // truncated shard would SIGBUS on access, so callers check before reading.
  // Checks the mapped inode (through the descriptor kept open), so a file replaced
  // by rename does not hide a truncation of the one we map.
  bool StillIntact() const;

 private:
  void Reset();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;  // kept open for StillIntact's fstat
};

// Parsed, validated header of one safetensors file.
struct SafetensorsHeader {
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0;  // offsets relative to the start of the data section
    uint64_t end = 0;
  };
  uint64_t header_bytes = 0;           // N
  std::vector<Entry> tensors;          // in file order of data_offsets
  std::map<std::string, std::string> metadata;  // "__metadata__" (string values only)
};

// Parses and validates a header against a file of `file_size` bytes. `bytes` holds the
// whole file or at least its first 8 + N bytes. Pure function: used by the loader and
// by the fuzz target. Errors name the file (`display_name`) and the tensor.
Result<SafetensorsHeader> ParseSafetensorsHeader(const uint8_t* bytes, size_t available,
                                                  uint64_t file_size,
                                                  const std::string& display_name);

// One opened safetensors file: mapping + validated header + views.
class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return map_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  // Zero-copy view of a tensor; NotFound if absent.
  Result<TensorView> Get(const std::string& name) const;
  bool Has(const std::string& name) const { return index_.count(name) != 0; }
  std::vector<std::string> Names() const;
  bool StillIntact() const { return map_.StillIntact(); }

 private:
  MappedFile map_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;  // name -> position in header_.tensors
};

// Writes a safetensors file (tests, make-tiny-model). Tensors are written in the
// order given; data is copied as raw bytes of the stated dtype.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // numel * DTypeSize(dtype)
};
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace folio
