// The interface every compute backend implements (CPU now, CUDA later). A backend owns
// the model weights (bound from a Checkpoint) and runs the Jamba graph over a per-sequence
// CacheState that it allocates. Sessions (session.h) drive a backend; nothing above the
// session needs to know which backend runs.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

// Where the time of Forward calls went, for `bench --profile` (so the next optimisation is
// chosen from data). Parts:
//   kEmbedding  the embedding gather
//   kNorms      the layers' input/pre-FF RMSNorms and the final norm
//   kMamba      the Mamba mixer minus its projections: conv1d, inner norms, softplus, scan
//   kAttention  K/V append and the attention kernel (not the q/k/v/o projections)
//   kDenseGemm  every dense projection: Mamba in/x/dt/out_proj, q/k/v/o, the dense MLP
//               (with its SwiGLU)
//   kMoE        router, routing and the experts (with their SwiGLU and the combine)
//   kLmHead     the final projection to the vocabulary and the copy of the logits out
//   kSampling   choosing the next token (measured by the caller: backends never sample)
//   kOther      the rest (host work, synchronisation, conversions between parts)
enum class ProfilePart : uint8_t {
  kEmbedding, kNorms, kMamba, kAttention, kDenseGemm, kMoE, kLmHead, kSampling, kOther, kCount
};
constexpr size_t kProfileParts = static_cast<size_t>(ProfilePart::kCount);
// "embedding", "norms", "mamba", "attention", "dense_gemm", "moe", "lm_head", "sampling", "other".
const char* ProfilePartName(ProfilePart part);

struct ForwardProfile {
  std::array<double, kProfileParts> ms{};  // time per part over every profiled call
  // Per decoder layer, time per part (kNorms, kMamba, kAttention, kDenseGemm, kMoE).
  std::vector<std::array<double, kProfileParts>> layer_ms;
  int64_t forwards = 0;  // Forward calls profiled
  int64_t tokens = 0;    // tokens they ran
  double total_ms = 0;   // wall time of those calls (>= the sum of ms when parts overlap gaps)
  double& at(ProfilePart p) { return ms[static_cast<size_t>(p)]; }
  double at(ProfilePart p) const { return ms[static_cast<size_t>(p)]; }
  void Add(const ForwardProfile& other);  // sums (layer_ms grows to fit)
};

// Memory a backend holds for weights and caches, for `bench` and `info`.
struct BackendMemory {
  uint64_t weight_bytes = 0;     // as stored by the backend (int8 experts count 1 byte)
  uint64_t workspace_bytes = 0;  // activations planned for one chunk
  uint64_t cache_bytes_per_token = 0;  // K/V of every attention layer for one more token
  uint64_t cache_fixed_bytes = 0;      // Mamba conv + SSM state of one sequence
  uint64_t limit_bytes = 0;      // the budget the plan used (device free memory or --memory-limit)
  uint64_t in_use_bytes = 0;     // device memory in use now (total - free); 0 on the CPU
  int64_t max_context = 0;       // largest single-sequence context that fits the budget beside
                                 // weights and workspace (0: not known, e.g. the CPU)
};

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

  // Profiling: while on, Forward records where its time goes (with synchronisation
  // between parts, so profiled calls are slower; never on in normal use). TakeProfile
  // returns what was recorded since the last take and clears it.
  virtual Status SetProfiling(bool on) {
    (void)on;
    return Unsupported(name() + " backend cannot profile");
  }
  virtual ForwardProfile TakeProfile() { return {}; }

  // Memory held and planned (see BackendMemory).
  virtual BackendMemory Memory() const { return {}; }

  // Debug hook (tests): observe hidden states. Backends that cannot return Unsupported.
  virtual Status SetHiddenObserver(HiddenObserver observer) {
    (void)observer;
    return Unsupported(name() + " backend cannot report hidden states");
  }
};

}  // namespace folio
