#include "app/assistant/state_cache.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace folio::assistant {
namespace fs = std::filesystem;
namespace sql = docstore::sql;
namespace {

constexpr char kFileMagic[8] = {'F', 'O', 'L', 'I', 'O', 'S', 'T', '1'};

constexpr const char* kFindRow = "SELECT path FROM state_cache WHERE key = ?1 AND model_key = ?2";
constexpr const char* kUpsertRow =
    "INSERT INTO state_cache(key, model_key, bytes, path, last_used) VALUES(?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(key, model_key) DO UPDATE SET bytes = excluded.bytes, path = excluded.path, "
    "last_used = excluded.last_used";
constexpr const char* kTouchRow =
    "UPDATE state_cache SET last_used = ?3 WHERE key = ?1 AND model_key = ?2";
constexpr const char* kDeleteRow = "DELETE FROM state_cache WHERE key = ?1 AND model_key = ?2";
constexpr const char* kTotalBytes = "SELECT COALESCE(SUM(bytes), 0) FROM state_cache";
constexpr const char* kOldest =
    "SELECT key, model_key, path FROM state_cache ORDER BY last_used ASC LIMIT 1";

// Milliseconds since the epoch, strictly increasing within the process so that two
// uses in the same millisecond still have an order for LRU.
int64_t NowMs() {
  static std::mutex mu;
  static int64_t last = 0;
  std::lock_guard<std::mutex> lock(mu);
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  last = std::max(now, last + 1);
  return last;
}

uint64_t Fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string Hex(uint64_t v) {
  std::ostringstream o;
  o << std::hex;
  o.width(16);
  o.fill('0');
  o << v;
  return o.str();
}

void PutString(std::string* out, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(s);
}

bool TakeString(std::string_view* in, std::string* s) {
  uint32_t n = 0;
  if (in->size() < sizeof(n)) return false;
  std::memcpy(&n, in->data(), sizeof(n));
  in->remove_prefix(sizeof(n));
  if (in->size() < n) return false;
  s->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound(path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

const char* CacheHitName(CacheHit h) {
  return h == CacheHit::kMemory ? "memory" : h == CacheHit::kDisk ? "disk" : "none";
}

std::string DefaultStateCacheDir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/folio/state";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/folio/state";
  return {};
}

Result<std::string> ModelIdentity(const std::string& model_dir, const std::string& backend_name) {
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(model_dir, ec);
  if (ec) return NotFound(model_dir + ": " + ec.message());
  FOLIO_ASSIGN_OR_RETURN(std::string config, ReadFile((dir / "config.json").string()));
  uint64_t weight_bytes = 0;
  int64_t newest = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() < 12 || name.compare(name.size() - 12, 12, ".safetensors") != 0) continue;
    weight_bytes += e.file_size(ec);
    const auto t = e.last_write_time(ec).time_since_epoch();
    newest = std::max<int64_t>(newest, std::chrono::duration_cast<std::chrono::seconds>(t).count());
  }
  // The tokenizer config holds the chat template, which shapes every prompt.
  auto tok_config = ReadFile((dir / "tokenizer_config.json").string());
  const std::string tok_hash = Hex(Fnv1a(tok_config.ok() ? *tok_config : ""));
  return backend_name + "|" + dir.string() + "|config:" + Hex(Fnv1a(config)) +
         "|tokenizer:" + tok_hash + "|weights:" + std::to_string(weight_bytes) + "@" +
         std::to_string(newest);
}

StateCache::StateCache(docstore::Library* library, StateCacheOptions options)
    : library_(library), options_(std::move(options)) {
  if (options_.dir.empty()) options_.dir = DefaultStateCacheDir();
  if (options_.dir.empty()) options_.disk = false;
}

std::string StateCache::Dir() const {
  return options_.dir;
}

void StateCache::Touch(std::list<Entry>::iterator it) {
  entries_.splice(entries_.begin(), entries_, it);
}

void StateCache::EvictMemory() {
  while (memory_bytes_ > options_.memory_cap_bytes && !entries_.empty()) {
    memory_bytes_ -= entries_.back().snapshot.bytes();
    entries_.pop_back();
  }
}

void StateCache::DropMemory() {
  entries_.clear();
  memory_bytes_ = 0;
}

Result<CacheHit> StateCache::Restore(const std::string& key, const std::string& model_key,
                                     Session& session) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->key == key && it->model_key == model_key) {
      FOLIO_RETURN_IF_ERROR(session.Restore(it->snapshot));
      Touch(it);
      return CacheHit::kMemory;
    }
  }
  if (!options_.disk || !library_) return CacheHit::kNone;
  FOLIO_ASSIGN_OR_RETURN(bool found, RestoreDisk(key, model_key, session));
  if (!found) return CacheHit::kNone;
  // Keep it in memory too: the next question is likely to be about the same documents.
  FOLIO_ASSIGN_OR_RETURN(SessionSnapshot snap, session.Snapshot());
  memory_bytes_ += snap.bytes();
  entries_.push_front({key, model_key, std::move(snap)});
  EvictMemory();
  return CacheHit::kDisk;
}

Result<bool> StateCache::RestoreDisk(const std::string& key, const std::string& model_key,
                                     Session& session) {
  sql::Database& db = library_->database();
  std::string path;
  {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db.Prepare(kFindRow));
    st.Bind(1, key);
    st.Bind(2, model_key);
    FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return false;
    path = st.ColumnText(0);
  }
  auto drop = [&]() -> Result<bool> {
    FOLIO_ASSIGN_OR_RETURN(sql::Statement del, db.Prepare(kDeleteRow));
    del.Bind(1, key);
    del.Bind(2, model_key);
    FOLIO_RETURN_IF_ERROR(del.Run());
    std::error_code ec;
    fs::remove(path, ec);
    return false;
  };
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return drop();
  std::string_view in(*bytes);
  std::string file_key, file_model;
  if (in.size() < sizeof(kFileMagic) || std::memcmp(in.data(), kFileMagic, sizeof(kFileMagic))) {
    return drop();
  }
  in.remove_prefix(sizeof(kFileMagic));
  if (!TakeString(&in, &file_key) || !TakeString(&in, &file_model) || file_key != key ||
      file_model != model_key) {
    return drop();
  }
  auto snap = session.DeserializeSnapshot(in);
  if (!snap.ok()) return drop();  // damaged or from another build: recompute instead
  FOLIO_RETURN_IF_ERROR(session.Restore(*snap));
  FOLIO_ASSIGN_OR_RETURN(sql::Statement touch, db.Prepare(kTouchRow));
  touch.Bind(1, key);
  touch.Bind(2, model_key);
  touch.Bind(3, NowMs());
  FOLIO_RETURN_IF_ERROR(touch.Run());
  return true;
}

Status StateCache::Put(const std::string& key, const std::string& model_key,
                       const Session& session) {
  FOLIO_ASSIGN_OR_RETURN(SessionSnapshot snap, session.Snapshot());
  if (options_.disk && library_) {
    Status st = PutDisk(key, model_key, session, snap);
    // Unsupported (a backend that cannot save): memory only. Other errors are real.
    if (!st.ok() && st.code() != ErrorCode::kUnsupported) return st;
  }
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->key == key && it->model_key == model_key) {
      memory_bytes_ -= it->snapshot.bytes();
      entries_.erase(it);
      break;
    }
  }
  memory_bytes_ += snap.bytes();
  entries_.push_front({key, model_key, std::move(snap)});
  EvictMemory();
  return Status::Ok();
}

Status StateCache::PutDisk(const std::string& key, const std::string& model_key,
                           const Session& session, const SessionSnapshot& snap) {
  FOLIO_ASSIGN_OR_RETURN(std::string blob, session.SerializeSnapshot(snap));
  std::string data(kFileMagic, sizeof(kFileMagic));
  PutString(&data, key);
  PutString(&data, model_key);
  data += blob;
  if (data.size() > options_.disk_cap_bytes) return Status::Ok();  // never fits: skip
  std::error_code ec;
  fs::create_directories(Dir(), ec);
  if (ec) return IoError(Dir() + ": cannot create the state cache folder (" + ec.message() + ")");
  const std::string path = Dir() + "/" + Hex(Fnv1a(key, Fnv1a(model_key))) + ".fstate";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f.flush()) {
      f.close();
      fs::remove(tmp, ec);
      return IoError(tmp + ": cannot write the model state (disk full?)");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) return IoError(path + ": " + ec.message());
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, library_->database().Prepare(kUpsertRow));
  st.Bind(1, key);
  st.Bind(2, model_key);
  st.Bind(3, static_cast<int64_t>(data.size()));
  st.Bind(4, path);
  st.Bind(5, NowMs());
  FOLIO_RETURN_IF_ERROR(st.Run());
  return EvictDisk();
}

Result<uint64_t> StateCache::DiskBytes() {
  if (!library_) return uint64_t{0};
  FOLIO_ASSIGN_OR_RETURN(sql::Statement st, library_->database().Prepare(kTotalBytes));
  FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? static_cast<uint64_t>(st.ColumnInt64(0)) : 0;
}

Status StateCache::EvictDisk() {
  sql::Database& db = library_->database();
  for (;;) {
    FOLIO_ASSIGN_OR_RETURN(uint64_t total, DiskBytes());
    if (total <= options_.disk_cap_bytes) return Status::Ok();
    std::string key, model_key, path;
    {
      FOLIO_ASSIGN_OR_RETURN(sql::Statement st, db.Prepare(kOldest));
      FOLIO_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Ok();
      key = st.ColumnText(0);
      model_key = st.ColumnText(1);
      path = st.ColumnText(2);
    }
    FOLIO_ASSIGN_OR_RETURN(sql::Statement del, db.Prepare(kDeleteRow));
    del.Bind(1, key);
    del.Bind(2, model_key);
    FOLIO_RETURN_IF_ERROR(del.Run());
    std::error_code ec;
    fs::remove(path, ec);
  }
}

}  // namespace folio::assistant
