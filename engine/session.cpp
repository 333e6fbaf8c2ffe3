#include "engine/session.h"

#include <algorithm>
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

}  // namespace folio
