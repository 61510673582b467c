#include "http/loop.h"

#include <uv.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "http/uv_util.h"

namespace minik::http {

using internal::CloseAndDelete;

struct Loop::Impl {
  uv_async_t* async = nullptr;
  std::mutex mu;
  // Posted callbacks; an empty function is a Stop() marker.
  std::deque<std::function<void()>> queue;  // GUARDED_BY(mu)
  std::atomic<std::thread::id> thread_id{std::this_thread::get_id()};
  std::unordered_set<Owner*> owners;
  bool running = false;
};

namespace {

// The common part of the handles returned by AddTimer/OnSignal/WatchPath: it owns one uv handle
// and a callback. The callback is held by shared_ptr so that destroying the Handle from inside
// its own callback leaves the running function intact until it returns.
template <typename UvT, typename Fn>
class UvHandle : public Handle, public Loop::Owner {
 public:
  UvHandle(Loop& loop, Fn fn) : loop_(loop), fn_(std::make_shared<Fn>(std::move(fn))) {
    handle_ = new UvT;
    handle_->data = this;
    loop_.Register(this);
  }
  ~UvHandle() override {
    CloseHandles();
    loop_.Unregister(this);
  }
  void CloseHandles() override {
    CloseAndDelete(handle_);
    handle_ = nullptr;
  }
  UvT* handle() { return handle_; }
  static UvHandle* From(UvT* h) { return static_cast<UvHandle*>(h->data); }
  template <typename... Args>
  void Call(Args&&... args) {
    std::shared_ptr<Fn> keep = fn_;
    (*keep)(std::forward<Args>(args)...);
  }

 private:
  Loop& loop_;
  UvT* handle_;
  std::shared_ptr<Fn> fn_;
};

using TimerHandle = UvHandle<uv_timer_t, std::function<void()>>;
using SignalHandle = UvHandle<uv_signal_t, std::function<void()>>;
using FsHandle = UvHandle<uv_fs_event_t, std::function<void(const std::string&)>>;

}  // namespace

Loop::Loop() : loop_(new uv_loop_t), impl_(std::make_unique<Impl>()) {
  int rc = uv_loop_init(loop_);
  if (rc != 0) {
    MINIK_LOG(Error) << "uv_loop_init: " << uv_strerror(rc);
    std::abort();
  }
  loop_->data = this;
  impl_->async = new uv_async_t;
  uv_async_init(loop_, impl_->async, [](uv_async_t* a) {
    auto* self = static_cast<Loop*>(a->data);
    if (self == nullptr) return;
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(self->impl_->mu);
      batch.swap(self->impl_->queue);
    }
    while (!batch.empty()) {
      std::function<void()> fn = std::move(batch.front());
      batch.pop_front();
      if (!fn) {
        // Stop marker: what was posted after it waits for the next Run().
        uv_stop(self->loop_);
        if (!batch.empty()) {
          std::lock_guard<std::mutex> lock(self->impl_->mu);
          for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
            self->impl_->queue.push_front(std::move(*it));
          }
        }
        return;
      }
      fn();
    }
  });
  impl_->async->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(impl_->async));
}

Loop::~Loop() {
  // Close what is still registered, then the async handle, and let libuv finish the closes.
  std::vector<Owner*> owners(impl_->owners.begin(), impl_->owners.end());
  for (Owner* o : owners) {
    if (impl_->owners.count(o)) o->CloseHandles();
  }
  CloseAndDelete(impl_->async);
  impl_->async = nullptr;
  uv_run(loop_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(loop_);
  if (rc != 0) {
    MINIK_LOG(Warning) << "event loop closed with handles still open: " << uv_strerror(rc);
  } else {
    delete loop_;
  }
}

void Loop::Run() {
  impl_->thread_id.store(std::this_thread::get_id());
  impl_->running = true;
  uv_ref(reinterpret_cast<uv_handle_t*>(impl_->async));
  {
    // Callbacks posted before Run() (and a Stop() issued before Run()) are honoured.
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->queue.empty()) uv_async_send(impl_->async);
  }
  uv_run(loop_, UV_RUN_DEFAULT);

  // Close every handle still open, then run the loop until their close callbacks have run.
  uv_unref(reinterpret_cast<uv_handle_t*>(impl_->async));
  std::unordered_set<Owner*> done;
  for (;;) {
    std::vector<Owner*> pending;
    for (Owner* o : impl_->owners) {
      if (!done.count(o)) pending.push_back(o);
    }
    if (pending.empty()) break;
    for (Owner* o : pending) {
      if (!impl_->owners.count(o)) continue;  // went away while closing another
      done.insert(o);
      o->CloseHandles();
    }
  }
  // Handles not registered by an owner (created through raw()) are closed too; their memory
  // stays with whoever allocated them.
  struct WalkArg {
    uv_handle_t* async;
    int foreign = 0;
  } arg{reinterpret_cast<uv_handle_t*>(impl_->async)};
  uv_walk(
      loop_,
      [](uv_handle_t* h, void* p) {
        auto* a = static_cast<WalkArg*>(p);
        if (uv_is_closing(h) || h == a->async) return;
        ++a->foreign;
        uv_close(h, nullptr);
      },
      &arg);
  if (arg.foreign > 0) {
    MINIK_LOG(Warning) << "closed " << arg.foreign << " unowned libuv handles";
  }
  uv_run(loop_, UV_RUN_DEFAULT);
  impl_->running = false;
}

void Loop::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->queue.push_back(nullptr);
  }
  uv_async_send(impl_->async);
}

void Loop::Post(std::function<void()> fn) {
  if (!fn) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->queue.push_back(std::move(fn));
  }
  uv_async_send(impl_->async);
}

bool Loop::IsLoopThread() const { return impl_->thread_id.load() == std::this_thread::get_id(); }

void Loop::Register(Owner* owner) { impl_->owners.insert(owner); }
void Loop::Unregister(Owner* owner) { impl_->owners.erase(owner); }

HandlePtr Loop::AddTimer(uint64_t delay_ms, uint64_t repeat_ms, std::function<void()> fn) {
  auto h = std::make_unique<TimerHandle>(*this, std::move(fn));
  uv_timer_init(loop_, h->handle());
  uv_timer_start(
      h->handle(),
      [](uv_timer_t* t) {
        if (auto* self = TimerHandle::From(t)) self->Call();
      },
      delay_ms, repeat_ms);
  return h;
}

HandlePtr Loop::OnSignal(int signum, std::function<void()> fn) {
  auto h = std::make_unique<SignalHandle>(*this, std::move(fn));
  uv_signal_init(loop_, h->handle());
  uv_signal_start(
      h->handle(),
      [](uv_signal_t* s, int) {
        if (auto* self = SignalHandle::From(s)) self->Call();
      },
      signum);
  return h;
}

StatusOr<HandlePtr> Loop::WatchPath(const std::string& path, std::function<void(const std::string&)> fn) {
  auto h = std::make_unique<FsHandle>(*this, std::move(fn));
  uv_fs_event_init(loop_, h->handle());
  int rc = uv_fs_event_start(
      h->handle(),
      [](uv_fs_event_t* e, const char* filename, int, int status) {
        auto* self = FsHandle::From(e);
        if (self == nullptr) return;
        if (status < 0) {
          MINIK_LOG(Warning) << "watch error: " << uv_strerror(status);
          return;
        }
        self->Call(std::string(filename ? filename : ""));
      },
      path.c_str(), 0);
  if (rc != 0) return internal::UvError(rc, "watch " + path);
  return HandlePtr(std::move(h));
}

}  // namespace minik::http
