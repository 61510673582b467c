// The controller framework (DESIGN.md convention 6, client-go's sample-controller): informer
// event handlers only enqueue "namespace/name" keys; Reconcile(key) reads the informer caches,
// treats a missing object as done, moves the world toward the desired state through the API and
// writes status last. A failed Reconcile is retried with per-key exponential backoff; a key is
// never reconciled by two workers at once (the WorkQueue guarantees it).
//
// Every controller of minik derives from Controller, lives in its own file, and is tested by
// calling Reconcile(key) directly against a FakeApiClient and FakeTimers (convention 7).
//
// Threading: everything runs on the thread of the Context's ApiClient and Timers (the server's
// loop thread; the test's thread in tests). Reconcile is asynchronous because API calls are:
// it calls done exactly once, possibly from a later callback.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/api_client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "client/workqueue.h"
#include "common/status.h"
#include "server/controllers/events.h"

namespace minik::controllers {

// What every controller gets: the API client, the process's shared informers, time, and an
// event recorder.
struct Context {
  client::ApiClient& client;
  client::SharedInformerFactory& informers;
  client::Timers& timers;
  EventRecorder& events;
};

using Done = std::function<void(Status)>;

class Controller {
 public:
  // workers: how many keys may be reconciled at once.
  Controller(Context ctx, std::string name, size_t workers = 1);
  virtual ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  const std::string& name() const { return name_; }

  // Starts handing keys to Reconcile once every informer of the factory has synced. Before
  // that, keys are only queued.
  void Start();
  // Stops handing out keys (keys being reconciled finish).
  void Stop();

  // Moves the object named by key toward its desired state. done(OK) forgets the key's backoff;
  // done(error) requeues the key with backoff (a Conflict is retried the same way).
  virtual void Reconcile(const std::string& key, Done done) = 0;

  client::WorkQueue& queue() { return queue_; }

 protected:
  void Enqueue(const std::string& key) { queue_.Add(key); }
  void EnqueueAfter(const std::string& key, int64_t delay_ms) { queue_.AddAfter(key, delay_ms); }
  void EnqueueObject(const client::ObjectPtr& obj) { queue_.Add(client::ObjectKey(*obj)); }
  const Clock& clock() const { return ctx_.timers.clock(); }

  Context ctx_;

 private:
  void Work(const std::string& key);

  std::string name_;
  size_t workers_;
  client::WorkQueue queue_;
  bool started_ = false;
  std::shared_ptr<bool> alive_;
};
using ControllerPtr = std::unique_ptr<Controller>;

}  // namespace minik::controllers
