#include "engine/session.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace folio {

uint64_t SessionSnapshot::bytes() const {
  return (cache_ ? cache_->bytes() : 0) + tokens_.size() * sizeof(int64_t) +
         last_logits_.size() * sizeof(float);
}

Session::Session(Backend& backend, const SessionOptions& options, int64_t max_context)
    : backend_(&backend), options_(options), max_context_(max_context) {}

Result<std::unique_ptr<Session>> Session::Create(Backend& backend, const SessionOptions& options) {
  if (options.prefill_chunk < 1) {
    return InvalidArgument("prefill_chunk must be at least 1 (got " +
                           std::to_string(options.prefill_chunk) + ")");
  }
  if (options.max_context < 0) return InvalidArgument("max_context must not be negative");
  const int64_t max_context =
      options.max_context > 0 ? options.max_context : backend.config().max_position_embeddings;
  std::unique_ptr<Session> s(new Session(backend, options, max_context));
  FOLIO_RETURN_IF_ERROR(s->Reset());
  return s;
}

int64_t Session::vocab_size() const { return backend_->config().vocab_size; }

Status Session::Reset() {
  FOLIO_ASSIGN_OR_RETURN(cache_, backend_->NewCache(max_context_));
  tokens_.clear();
  last_logits_.clear();
  return Status::Ok();
}

Status Session::CheckIds(std::span<const int64_t> ids) const {
  const int64_t vocab = vocab_size();
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab) {
      return InvalidArgument("token id " + std::to_string(id) +
                             " is out of range for this model (vocab " + std::to_string(vocab) +
                             ")");
    }
  }
  const int64_t n = position() + static_cast<int64_t>(ids.size());
  if (n > max_context_) {
    return ResourceExhausted("context exceeded (" + std::to_string(n) + " / " +
                             std::to_string(max_context_) + ")");
  }
  return Status::Ok();
}

// Feeds ids chunk by chunk. Only the last chunk asks for logits (its last row) unless
// on_rows wants every row; so memory is bounded by chunk x vocab, never T x vocab.
Status Session::Run(std::span<const int64_t> ids, const LogitsRows* on_rows) {
  if (ids.empty()) return Status::Ok();
  FOLIO_RETURN_IF_ERROR(CheckIds(ids));
  const int64_t vocab = vocab_size(), total = static_cast<int64_t>(ids.size());
  for (int64_t begin = 0; begin < total; begin += options_.prefill_chunk) {
    const int64_t n = std::min(options_.prefill_chunk, total - begin);
    const bool last_chunk = begin + n == total;
    ForwardOutputs out;
    if (on_rows) {
      chunk_logits_.resize(static_cast<size_t>(n * vocab));
      out = {LogitsMode::kAll, chunk_logits_.data()};
    } else if (last_chunk) {
      chunk_logits_.resize(static_cast<size_t>(vocab));
      out = {LogitsMode::kLast, chunk_logits_.data()};
    } else {
      out = {LogitsMode::kNone, nullptr};
    }
    const int64_t first = position();
    Status st = backend_->Forward(ids.data() + begin, n, *cache_, out);
    if (!st.ok()) {
      // The backend left the cache as before this chunk. If earlier chunks went in, the
      // old logits no longer belong to the position: drop them.
      if (begin > 0) last_logits_.clear();
      return st;
    }
    tokens_.insert(tokens_.end(), ids.begin() + begin, ids.begin() + begin + n);
    if (on_rows) (*on_rows)(first, n, chunk_logits_.data());
    if (last_chunk) last_logits_.assign(chunk_logits_.end() - vocab, chunk_logits_.end());
  }
  if (on_rows) chunk_logits_ = {};  // do not keep chunk x vocab floats around
  return Status::Ok();
}

Status Session::Append(std::span<const int64_t> ids) { return Run(ids, nullptr); }

Status Session::AppendAll(std::span<const int64_t> ids, const LogitsRows& on_rows) {
  return Run(ids, &on_rows);
}

Result<SessionSnapshot> Session::Snapshot() const {
  SessionSnapshot snap;
  FOLIO_ASSIGN_OR_RETURN(snap.cache_, backend_->Snapshot(*cache_));
  snap.tokens_ = tokens_;
  snap.last_logits_ = last_logits_;
  return snap;
}

Status Session::Restore(const SessionSnapshot& snapshot) {
  if (!snapshot.cache_) return InvalidArgument("empty snapshot");
  FOLIO_RETURN_IF_ERROR(backend_->Restore(*snapshot.cache_, *cache_));
  tokens_ = snapshot.tokens_;
  last_logits_ = snapshot.last_logits_;
  return Status::Ok();
}

namespace {

// Snapshot blob: "FSNP" u32 version, i64 n_tokens, i64 n_logits, ids, logits, cache bytes.
constexpr char kSnapMagic[4] = {'F', 'S', 'N', 'P'};
constexpr uint32_t kSnapVersion = 1;

template <typename T>
void Put(std::string* out, const T* v, size_t n) {
  out->append(reinterpret_cast<const char*>(v), n * sizeof(T));
}

template <typename T>
bool Take(std::string_view* in, T* v, size_t n) {
  if (n > in->size() / sizeof(T)) return false;
  std::memcpy(v, in->data(), n * sizeof(T));
  in->remove_prefix(n * sizeof(T));
  return true;
}

}  // namespace

Result<std::string> Session::SerializeSnapshot(const SessionSnapshot& snapshot) const {
  if (!snapshot.cache_) return InvalidArgument("empty snapshot");
  FOLIO_ASSIGN_OR_RETURN(std::string cache, backend_->SerializeCache(*snapshot.cache_));
  std::string out(kSnapMagic, sizeof(kSnapMagic));
  Put(&out, &kSnapVersion, 1);
  const int64_t counts[2] = {static_cast<int64_t>(snapshot.tokens_.size()),
                             static_cast<int64_t>(snapshot.last_logits_.size())};
  Put(&out, counts, 2);
  Put(&out, snapshot.tokens_.data(), snapshot.tokens_.size());
  Put(&out, snapshot.last_logits_.data(), snapshot.last_logits_.size());
  out.append(cache);
  return out;
}

Result<SessionSnapshot> Session::DeserializeSnapshot(std::string_view bytes) const {
  char magic[4];
  uint32_t version = 0;
  int64_t counts[2];
  if (!Take(&bytes, magic, 4) || std::memcmp(magic, kSnapMagic, 4) != 0 ||
      !Take(&bytes, &version, 1) || version != kSnapVersion || !Take(&bytes, counts, 2)) {
    return Corrupt("saved model state: not a Folio snapshot of this version");
  }
  if (counts[0] < 0 || counts[0] > max_context_ || counts[1] != vocab_size()) {
    return Corrupt("saved model state: token or logits count does not fit this model");
  }
  SessionSnapshot snap;
  snap.tokens_.resize(static_cast<size_t>(counts[0]));
  snap.last_logits_.resize(static_cast<size_t>(counts[1]));
  if (!Take(&bytes, snap.tokens_.data(), snap.tokens_.size()) ||
      !Take(&bytes, snap.last_logits_.data(), snap.last_logits_.size())) {
    return Corrupt("saved model state: truncated");
  }
  FOLIO_ASSIGN_OR_RETURN(snap.cache_, backend_->DeserializeCache(bytes, max_context_));
  if (snap.cache_->position() != counts[0]) {
    return Corrupt("saved model state: cache position disagrees with its tokens");
  }
  return snap;
}

}  // namespace folio
