// A small fixed pool of threads for blocking work (runc calls, image unpacking, file I/O) that
// must stay off an event loop (DESIGN.md convention 4). Results go back to the loop with
// Loop::Post from inside the submitted function.
//
// Threading: Submit() from any thread. The destructor waits for the running tasks and drops the
// queued ones that have not started.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace minik {

class WorkPool {
 public:
  explicit WorkPool(size_t threads);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  void Submit(std::function<void()> fn);
  // Tasks queued or running (for tests and logs).
  size_t pending() const;

 private:
  void Run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // GUARDED_BY(mu_)
  size_t running_ = 0;                       // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace minik
