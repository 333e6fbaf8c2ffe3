// SHA-256 (FIPS 180-4), written here so the store needs no crypto library: content hashes
// recognise a document imported twice and a file that changed under us.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace folio::docstore {

// Streaming hasher: Update() any number of times, then Final() once.
class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  std::array<uint8_t, 32> Final();  // the hasher must not be used afterwards
  std::string FinalHex();           // 64 lowercase hex digits

 private:
  void Compress(const uint8_t* block);  // one 64-byte block into state_
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};  // pending bytes of a partial block
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string Sha256Hex(std::string_view data);

// Hashes a file in fixed-size reads (memory stays flat whatever its size).
Result<std::string> Sha256FileHex(const std::string& path);

}  // namespace folio::docstore
