// Profiling of the CUDA backend (bench --profile): ForwardChunk records a CUDA event on the
// stream before its first part and after each part (Mark); once the chunk has synchronised,
// the time between consecutive events goes to the part (and decoder layer) the later event
// names. Events only time the GPU's stream, so a part's time includes any gap in which the
// GPU waited for the host inside it; the parts together cover the chunk from its first
// event to its last, never more than the Forward call's wall time (total_ms).

#include <utility>

#include "engine/cuda_backend.h"
#include "engine/cuda_backend_impl.h"

namespace folio {

CudaProfiler::~CudaProfiler() {
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

Status CudaProfiler::Start(cudaStream_t stream) {
  stream_ = stream;
  spans_.clear();
  started_ = true;
  if (events_.empty()) {
    cudaEvent_t e = nullptr;
    FOLIO_RETURN_IF_ERROR(CudaStatus(cudaEventCreate(&e), "creating a profiling event"));
    events_.push_back(e);
  }
  return CudaStatus(cudaEventRecord(events_[0], stream_), "recording a profiling event");
}

Status CudaProfiler::Mark(ProfilePart part, int64_t layer) {
  if (!started_) return Status::Ok();  // a part outside a profiled chunk
  const size_t i = spans_.size() + 1;  // the event that ends this span
  if (i == events_.size()) {
    cudaEvent_t e = nullptr;
    FOLIO_RETURN_IF_ERROR(CudaStatus(cudaEventCreate(&e), "creating a profiling event"));
    events_.push_back(e);
  }
  spans_.push_back({part, layer});
  return CudaStatus(cudaEventRecord(events_[i], stream_), "recording a profiling event");
}

Status CudaProfiler::Resolve(ForwardProfile* into) {
  started_ = false;
  for (size_t i = 0; i < spans_.size(); ++i) {
    float ms = 0;
    FOLIO_RETURN_IF_ERROR(CudaStatus(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]),
                                     "reading a profiling event"));
    const Span& s = spans_[i];
    into->at(s.part) += ms;
    if (s.layer >= 0) {
      const size_t l = static_cast<size_t>(s.layer);
      if (into->layer_ms.size() <= l) into->layer_ms.resize(l + 1);
      into->layer_ms[l][static_cast<size_t>(s.part)] += ms;
    }
  }
  spans_.clear();
  return Status::Ok();
}

Status CudaBackend::SetProfiling(bool on) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!on) {
    impl_->profiler.reset();
  } else if (!impl_->profiler) {
    impl_->profiler = std::make_unique<CudaProfiler>();  // layer_ms grows as layers run
  }
  return Status::Ok();
}

ForwardProfile CudaBackend::TakeProfile() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->profiler) return {};
  ForwardProfile out;
  std::swap(out, impl_->profiler->profile);
  return out;
}

}  // namespace folio
