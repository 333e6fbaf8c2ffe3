// A small pool of persistent worker threads for the CPU backend's data-parallel loops.
// One job at a time: ParallelFor splits [0, n) into contiguous ranges, runs them on the
// workers and the calling thread, and returns when all are done. Not re-entrant: a task
// must not call ParallelFor on the same pool.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace folio {

class ThreadPool {
 public:
  // `threads` counts the caller too: ThreadPool(1) runs everything inline.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n); ranges hold at least
  // `min_chunk` items so tiny loops stay on one thread. Ranges are handed out
  // dynamically (about 4 per thread) so uneven work still balances.
  void ParallelFor(int64_t n, int64_t min_chunk,
                   const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void WorkerLoop();
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The current job (guarded by mu_ except the atomic-like counters below).
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 1;
  int64_t next_ = 0;       // next unclaimed item
  int busy_ = 0;           // workers still inside the current job
  uint64_t generation_ = 0;  // bumps per job so workers see each job once
  bool stop_ = false;
};

}  // namespace folio
