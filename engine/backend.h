// The interface every compute backend implements (CPU now, CUDA later). A backend owns
// the model weights (bound from a Checkpoint) and runs the Jamba graph over a per-sequence
// CacheState that it allocates. Sessions (session.h) drive a backend; nothing above the
// session needs to know which backend runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine/config.h"
#include "engine/status.h"

namespace folio {

// The hybrid cache of one sequence: K/V for attention layers, conv and SSM state for
// Mamba layers. Opaque: only the backend that made it may read or write it.
class CacheState {
 public:
  virtual ~CacheState() = default;
  // Tokens consumed so far (the position of the next token).
  virtual int64_t position() const = 0;
  // Most tokens this cache may ever hold.
  virtual int64_t max_context() const = 0;
  // Bytes held now (K/V grows with position; Mamba state is fixed).
  virtual uint64_t bytes() const = 0;
};

// Which logits a Forward call produces.
enum class LogitsMode : uint8_t {
  kNone,  // none (e.g. the middle chunks of a long prefill)
  kLast,  // the last position only: [vocab]
  kAll,   // every position of this call: [T, vocab]
};

// Where a Forward call writes its outputs (host memory, float32, caller-owned).
struct ForwardOutputs {
  LogitsMode mode = LogitsMode::kLast;
  float* logits = nullptr;  // [vocab] for kLast, [T, vocab] for kAll; unused for kNone
};

// Called after the embedding (layer_index -1), after each decoder layer (0..L-1: the
// residual stream) and after the final norm (L), with x [T, hidden] of the current call.
// A debug hook for tests that compare hidden states with a reference.
using HiddenObserver =
    std::function<void(int64_t layer_index, const float* x, int64_t T, int64_t hidden)>;

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", "cpu-ref", "cuda".
  virtual std::string name() const = 0;
  virtual const ModelConfig& config() const = 0;

  // A fresh, empty cache for one sequence of at most max_context tokens. Memory for K/V
  // may grow as tokens arrive; ResourceExhausted when even the fixed part cannot be had.
  virtual Result<std::unique_ptr<CacheState>> NewCache(int64_t max_context) = 0;

  // Runs ids[0..T) at positions cache.position() .. +T, appending to the cache, and
  // writes the logits `out` asks for. Ids are checked (0 <= id < vocab) and the context
  // limit is checked before anything changes: on error the cache is as it was.
  // Callers keep T moderate (the session prefills in chunks): a backend may allocate
  // activations proportional to T x (hidden + intermediate), never to T x context
  // beyond the attention scores of this call.
  virtual Status Forward(const int64_t* ids, int64_t T, CacheState& cache,
                         const ForwardOutputs& out) = 0;

  // A deep copy of `cache` (the document-state cache keeps these). The copy belongs to
  // this backend and may live in device or host memory.
  virtual Result<std::unique_ptr<CacheState>> Snapshot(const CacheState& cache) = 0;
  // Makes `cache` equal to `snapshot` (both from this backend, same max_context or a
  // larger one for `cache`).
  virtual Status Restore(const CacheState& snapshot, CacheState& cache) = 0;

  // The document-state cache on disk: `cache` as bytes, and back. The layout is the
  // backend's own; only a backend of the same kind over the same model may read it (the
  // caller keys files by model identity). A malformed or mismatched blob is kCorrupt.
  // Backends that cannot return Unsupported (the cache then stays in memory only).
  virtual Result<std::string> SerializeCache(const CacheState& cache) {
    (void)cache;
    return Unsupported(name() + " backend cannot save a cache to disk");
  }
  virtual Result<std::unique_ptr<CacheState>> DeserializeCache(std::string_view bytes,
                                                               int64_t max_context) {
    (void)bytes;
    (void)max_context;
    return Unsupported(name() + " backend cannot load a cache from disk");
  }

  // Debug hook (tests): observe hidden states. Backends that cannot return Unsupported.
  virtual Status SetHiddenObserver(HiddenObserver observer) {
    (void)observer;
    return Unsupported(name() + " backend cannot report hidden states");
  }
};

}  // namespace folio
