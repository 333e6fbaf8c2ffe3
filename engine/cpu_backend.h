// The CPU backend: the Jamba graph of JAMBA.md in float32 over weights kept in their
// stored dtype, on the folio::cpu ops (or the folio::ref ops, for tests). This is the
// reference every faster path is checked against.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "engine/backend.h"
#include "engine/checkpoint.h"
#include "engine/model.h"
#include "engine/ops.h"
#include "engine/quant.h"

namespace folio {

struct CpuBackendOptions {
  int threads = 0;             // worker threads for the cpu ops; 0 = all cores
  bool reference_ops = false;  // run on folio::ref (slow; tests compare the two)
  // Quantise the MoE experts to int8 with one scale per output row at load (engine/quant.h),
  // as the CUDA backend's --experts-int8 does; the rest stays as stored.
  bool experts_int8 = false;
};

class CpuBackend : public Backend {
 public:
  // Binds the weights of an opened checkpoint (shared: the views point into its maps).
  static Result<std::unique_ptr<CpuBackend>> Create(std::shared_ptr<const Checkpoint> checkpoint,
                                                    const CpuBackendOptions& options = {});
  // Opens DIR (config.json + safetensors) and binds it.
  static Result<std::unique_ptr<CpuBackend>> Open(const std::string& dir,
                                                  const CpuBackendOptions& options = {});

  std::string name() const override { return ops_->name == RefOps().name ? "cpu-ref" : "cpu"; }
  const ModelConfig& config() const override { return checkpoint_->config(); }
  Result<std::unique_ptr<CacheState>> NewCache(int64_t max_context) override;
  // Serialised: one Forward at a time per process (the cpu ops share one thread pool).
  Status Forward(const int64_t* ids, int64_t T, CacheState& cache,
                 const ForwardOutputs& out) override;
  Result<std::unique_ptr<CacheState>> Snapshot(const CacheState& cache) override;
  Status Restore(const CacheState& snapshot, CacheState& cache) override;
  Result<std::string> SerializeCache(const CacheState& cache) override;
  Result<std::unique_ptr<CacheState>> DeserializeCache(std::string_view bytes,
                                                       int64_t max_context) override;
  Status SetHiddenObserver(HiddenObserver observer) override;
  // Host time per part (backend.h), exclusive: projections inside the Mamba mixer count as
  // dense GEMMs, experts' projections as MoE.
  Status SetProfiling(bool on) override;
  ForwardProfile TakeProfile() override;
  // Weights as held (int8 experts at 1 byte + 4 per row), K/V per token, Mamba state.
  BackendMemory Memory() const override;

  const JambaWeights& weights() const { return weights_; }
  const Checkpoint& checkpoint() const { return *checkpoint_; }

 private:
  CpuBackend(std::shared_ptr<const Checkpoint> checkpoint, JambaWeights weights,
             const OpTable& ops);

  std::shared_ptr<const Checkpoint> checkpoint_;
  JambaWeights weights_;
  const OpTable* ops_;
  HiddenObserver observer_;
  bool profiling_ = false;   // guarded by the forward lock
  ForwardProfile profile_;   // recorded since the last TakeProfile
  // With experts_int8: the quantised experts weights_ points into (their heap buffers
  // stay put when this vector is moved in).
  std::vector<Int8Matrix> int8_experts_;
};

}  // namespace folio
