// The one-token decode step as a CUDA graph: captured once per cache layout, then replayed,
// so a step is one launch instead of ~20 kernels per layer with host gaps between them.
// What changes between steps lives in device memory, written before each launch:
//   work.step[0]  the token id   (the embedding gather reads it)
//   work.step[1]  the position   (K/V rows are appended there, attention reads it as past)
// Everything else the step touches (weights, workspace, the cache's buffers) stays put, so
// a graph is valid for one cache object at one arena base with one max_ctx and one set of
// forced paths (DecodeGraphKey); a few are kept, so two sessions alternating do not
// re-capture every step. The captured step always uses split-K attention (splits fixed for
// max_ctx) and the GEMV MoE path (which picks experts on the device: no host sync).
#include <cstdio>
#include <cstring>

#include "engine/cuda_backend.h"
#include "engine/cuda_backend_impl.h"

namespace folio {
namespace {

constexpr size_t kMaxGraphs = 4;

Status Cuda(cudaError_t e, const std::string& what) {
  return CudaStatus(e, what);
}

}  // namespace

int64_t CudaBackend::graph_replays() const {
  return impl_->graph_replays;
}

void CudaBackendImpl::DropGraphs() {
  for (auto& [key, exec] : graphs) cudaGraphExecDestroy(exec);
  graphs.clear();
}

Status CudaBackendImpl::DecodeWithGraph(int64_t id, CudaCache& cache, float* logits, bool* ran) {
  *ran = false;
  // The first step runs eagerly: it loads the step's kernels (lazy module loading) and
  // lets cuBLAS settle its choices for M = 1 before anything is captured.
  if (!step_warmed) {
    step_warmed = true;
    return Status::Ok();
  }
  const int64_t V = config->vocab_size;
  // Each checked on its own: a failed logits allocation must not leave h_step set and
  // h_logits null for the next step to copy into.
  if (!h_step)
    FOLIO_RETURN_IF_ERROR(Cuda(cudaMallocHost(&h_step, 2 * sizeof(int32_t)), "pinned memory"));
  if (!h_logits)
    FOLIO_RETURN_IF_ERROR(Cuda(cudaMallocHost(&h_logits, static_cast<size_t>(V) * 4),
                               "pinned memory for the logits"));
  const DecodeGraphKey key{&cache, cache.arena.size() ? cache.arena.At(0) : nullptr, cache.max_ctx,
                           force_moe, force_attention};
  auto it = graphs.find(key);
  if (it == graphs.end()) {
    if (graphs.size() >= kMaxGraphs) {
      cudaGraphExecDestroy(graphs.begin()->second);
      graphs.erase(graphs.begin());
    }
    // Capture: nothing runs, so a failed capture leaves the cache as it was. Thread-local
    // mode: only this thread's unsafe calls (cudaMalloc...) would break the capture.
    FOLIO_RETURN_IF_ERROR(Cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
                               "starting a CUDA graph capture"));
    Status st = RunLayers(work.step, 1, cache, work.step + 1);
    if (st.ok()) st = LastLogits(1);
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    cudaGraphExec_t exec = nullptr;
    cudaError_t inst = cudaErrorUnknown;
    if (st.ok() && end == cudaSuccess && graph) inst = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) cudaGraphDestroy(graph);
    if (!st.ok() || end != cudaSuccess || inst != cudaSuccess) {
      const std::string why = !st.ok()             ? st.message()
                              : end != cudaSuccess ? cudaGetErrorString(end)
                                                   : cudaGetErrorString(inst);
      cudaGetLastError();  // the failed capture's error is not the next call's
      graphs_failed = true;
      std::fprintf(stderr, "folio: CUDA graph capture failed (%s); decoding without graphs\n",
                   why.c_str());
      return Status::Ok();  // *ran stays false: the caller runs the step eagerly
    }
    it = graphs.emplace(key, exec).first;
  }
  h_step[0] = static_cast<int32_t>(id);
  h_step[1] = static_cast<int32_t>(cache.pos);
  FOLIO_RETURN_IF_ERROR(
      Cuda(cudaMemcpyAsync(work.step, h_step, 2 * sizeof(int32_t), cudaMemcpyHostToDevice, stream),
           "uploading the decode step"));
  FOLIO_RETURN_IF_ERROR(Cuda(cudaGraphLaunch(it->second, stream), "launching the decode graph"));
  if (logits)
    FOLIO_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(h_logits, work.logits, static_cast<size_t>(V) * 4,
                                               cudaMemcpyDeviceToHost, stream),
                               "reading logits"));
  FOLIO_RETURN_IF_ERROR(Cuda(cudaStreamSynchronize(stream), "running the decode graph"));
  if (logits) std::memcpy(logits, h_logits, static_cast<size_t>(V) * 4);
  cache.pos += 1;
  ++graph_replays;
  *ran = true;
  return Status::Ok();
}

}  // namespace folio
