// A Session is one sequence being read or written by a model: it owns the hybrid cache
// (through its Backend), the ids consumed so far and the logits after the last one.
// Prefill runs in chunks so that memory never grows with T x vocab; decoding is Step()
// in a loop with a Sampler (sampler.h) choosing each next id from last_logits().
//
//   auto session = Session::Create(backend).value();
//   FOLIO_RETURN_IF_ERROR(session->Append(prompt_ids));
//   for (...) { int64_t id = sampler.Sample(session->last_logits(), session->tokens());
//               FOLIO_RETURN_IF_ERROR(session->Step(id)); }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/backend.h"
#include "engine/status.h"

namespace folio {

struct SessionOptions {
  int64_t max_context = 0;      // tokens; 0 = the model's max_position_embeddings
  int64_t prefill_chunk = 512;  // tokens per Forward call during prefill (>= 1)
};

// The whole state of a session at one point, kept in memory (the document-state cache).
// Move-only; restore it into the session that made it or another on the same backend.
class SessionSnapshot {
 public:
  SessionSnapshot() = default;
  SessionSnapshot(SessionSnapshot&&) noexcept = default;
  SessionSnapshot& operator=(SessionSnapshot&&) noexcept = default;

  int64_t position() const { return static_cast<int64_t>(tokens_.size()); }
  uint64_t bytes() const;

 private:
  friend class Session;
  std::unique_ptr<CacheState> cache_;
  std::vector<int64_t> tokens_;
  std::vector<float> last_logits_;
};

class Session {
 public:
  // The backend must outlive the session.
  static Result<std::unique_ptr<Session>> Create(Backend& backend,
                                                 const SessionOptions& options = {});

  // Appends ids, prefilling in chunks of options.prefill_chunk; afterwards last_logits()
  // holds the logits after the last id. Checked before anything runs: every id in
  // [0, vocab) (InvalidArgument naming the id) and position() + ids.size() <= max_context()
  // (ResourceExhausted "context exceeded (n / max)"). If the backend fails mid-way the
  // ids of the chunks that completed stay consumed (position() says how many).
  Status Append(std::span<const int64_t> ids);

  // Receives the logits of `rows` consecutive positions starting at `first_position`:
  // logits [rows, vocab], valid only during the call.
  using LogitsRows =
      std::function<void(int64_t first_position, int64_t rows, const float* logits)>;
  // Like Append, and hands the logits of every position to on_rows, chunk by chunk.
  Status AppendAll(std::span<const int64_t> ids, const LogitsRows& on_rows);

  // One decode step: consumes one id (usually the one just sampled).
  Status Step(int64_t id) { return Append(std::span<const int64_t>(&id, 1)); }

  // Logits after the last consumed id, [vocab]; empty before the first Append.
  std::span<const float> last_logits() const { return last_logits_; }
  // Every id consumed so far, in order (the repetition penalty reads these).
  const std::vector<int64_t>& tokens() const { return tokens_; }
  int64_t position() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t max_context() const { return max_context_; }
  int64_t vocab_size() const;
  int64_t prefill_chunk() const { return options_.prefill_chunk; }
  Backend& backend() const { return *backend_; }

  // A deep copy of the whole state (cache, ids, last logits).
  Result<SessionSnapshot> Snapshot() const;
  // Puts the session back to `snapshot`; the snapshot stays usable for later restores.
  Status Restore(const SessionSnapshot& snapshot);
  // A snapshot as bytes (ids, last logits, the backend's cache bytes) for the on-disk
  // document-state cache, and back into a snapshot this session can Restore. Unsupported
  // when the backend cannot serialise; kCorrupt for a malformed blob.
  Result<std::string> SerializeSnapshot(const SessionSnapshot& snapshot) const;
  Result<SessionSnapshot> DeserializeSnapshot(std::string_view bytes) const;
  // Forgets everything: position 0, fresh cache.
  Status Reset();

  // (engine/generate.cpp adds the streaming generate() on top of Step and Sampler.)

 private:
  Session(Backend& backend, const SessionOptions& options, int64_t max_context);
  Status CheckIds(std::span<const int64_t> ids) const;
  Status Run(std::span<const int64_t> ids, const LogitsRows* on_rows);

  Backend* backend_;
  SessionOptions options_;
  int64_t max_context_;
  std::unique_ptr<CacheState> cache_;
  std::vector<int64_t> tokens_;
  std::vector<float> last_logits_;
  std::vector<float> chunk_logits_;  // [chunk, vocab] scratch for AppendAll
};

}  // namespace folio
