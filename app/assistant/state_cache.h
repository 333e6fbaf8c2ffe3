// The document-state cache: the model state after a prompt prefix (system instruction +
// documents), so the next question about the same documents pays only for its own tokens.
//
// Two levels, both least-recently-used with a byte cap:
//   memory: SessionSnapshots of this process;
//   disk:   one file per entry in `dir` ("<hash>.fstate": a header naming key and model,
//           then Session::SerializeSnapshot bytes), indexed by rows of the library's
//           state_cache table (key, model_key, bytes, path, last_used in ms since epoch),
//           so entries outlive the process and every library user sees the same index.
// Keys: ModelIdentity() (path, config hash, weights size and mtime, backend) and the
// prompt's cache_key (format version, mode, content hashes, passages, prefix-ids hash).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "docstore/store.h"
#include "engine/session.h"
#include "engine/status.h"

namespace folio::assistant {

struct StateCacheOptions {
  std::string dir;                         // "" = DefaultStateCacheDir()
  uint64_t memory_cap_bytes = 1ull << 30;  // 1 GiB of snapshots in memory
  uint64_t disk_cap_bytes = 8ull << 30;    // 8 GiB of files
  bool disk = true;                        // false: memory only
};

// $XDG_CACHE_HOME/folio/state, else ~/.cache/folio/state; "" when neither is known.
std::string DefaultStateCacheDir();

// "cpu|/abs/model|config:HASH|weights:BYTES@MTIME": changes when the model files change.
Result<std::string> ModelIdentity(const std::string& model_dir, const std::string& backend_name);

enum class CacheHit { kNone, kMemory, kDisk };
const char* CacheHitName(CacheHit h);  // "none", "memory", "disk"

class StateCache {
 public:
  // `library` (may be null: no disk level) must outlive the cache.
  StateCache(docstore::Library* library, StateCacheOptions options);

  // Restores the entry for (key, model_key) into `session` and returns where it came from;
  // kNone (session untouched) when absent or unreadable (a damaged file is dropped).
  Result<CacheHit> Restore(const std::string& key, const std::string& model_key, Session& session);

  // Keeps the session's current state under (key, model_key), in memory and on disk.
  Status Put(const std::string& key, const std::string& model_key, const Session& session);

  uint64_t memory_bytes() const { return memory_bytes_; }
  size_t memory_entries() const { return entries_.size(); }
  // Bytes of files indexed on disk for every model.
  Result<uint64_t> DiskBytes();
  // Forgets the memory level (tests: the next Restore must come from disk).
  void DropMemory();

 private:
  struct Entry {
    std::string key, model_key;
    SessionSnapshot snapshot;
  };
  void Touch(std::list<Entry>::iterator it);
  void EvictMemory();
  Status PutDisk(const std::string& key, const std::string& model_key, const Session& session,
                 const SessionSnapshot& snap);
  Result<bool> RestoreDisk(const std::string& key, const std::string& model_key, Session& session);
  Status EvictDisk();
  std::string Dir() const;

  docstore::Library* library_;
  StateCacheOptions options_;
  std::list<Entry> entries_;  // most recently used first
  uint64_t memory_bytes_ = 0;
};

}  // namespace folio::assistant
