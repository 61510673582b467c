// The one wrapper around libuv (Envoy's Dispatcher is the model).
//
// Threading: a Loop is driven by the thread that calls Run(). Post() and Stop() may be called
// from any thread; everything else (timers, signal and file watches, servers bound to the
// loop) only from the loop thread, or before Run() from the thread that will run it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

typedef struct uv_loop_s uv_loop_t;

namespace minik::http {

class Handle {
 public:
  // Destroying a handle cancels it; its callback never runs after. A handle may be destroyed
  // from inside its own callback. Destroy handles (and servers, clients) before their Loop.
  virtual ~Handle() = default;
};
using HandlePtr = std::unique_ptr<Handle>;

class Loop {
 public:
  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Runs callbacks until Stop(); returns after closing every handle still open.
  void Run();
  // Thread-safe. Makes Run() return soon after the callbacks queued before it ran.
  void Stop();
  // Thread-safe. Runs fn on the loop thread, in posting order.
  void Post(std::function<void()> fn);
  bool IsLoopThread() const;

  // A timer firing after delay_ms, then every repeat_ms if repeat_ms > 0.
  HandlePtr AddTimer(uint64_t delay_ms, uint64_t repeat_ms, std::function<void()> fn);
  // Calls fn on the loop thread when the process receives signum.
  HandlePtr OnSignal(int signum, std::function<void()> fn);
  // inotify-backed watch of a directory (or file); fn(filename) for each change event.
  StatusOr<HandlePtr> WatchPath(const std::string& path, std::function<void(const std::string&)> fn);

  uv_loop_t* raw() { return loop_; }

  // For objects owning libuv handles on this loop (servers, clients, timers): Run() calls
  // CloseHandles() on every registered owner before it returns, so that no handle outlives
  // Run() and an owner destroyed later has nothing left to close. Loop thread only.
  class Owner {
   public:
    virtual void CloseHandles() = 0;

   protected:
    ~Owner() = default;
  };
  void Register(Owner* owner);
  void Unregister(Owner* owner);

 private:
  struct Impl;
  uv_loop_t* loop_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik::http
