// Container probes and lifecycle hooks, as the kubelet runs them: what a probe or hook spec says
// (parsed from the container's JSON), and how results move a probe's state across its
// success/failure thresholds. Running them is the kubelet's job (exec through the Runtime,
// httpGet and tcpSocket through the PodHost, in the pod's network namespace).
//
// Threading: plain values; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"

namespace minik::agent::kubelet {

// One handler: exec, httpGet, tcpSocket (probes and hooks), or sleep (hooks).
struct Handler {
  enum class Kind { kNone, kExec, kHttpGet, kTcpSocket, kSleep };
  Kind kind = Kind::kNone;
  std::vector<std::string> command;                          // exec
  std::string scheme = "HTTP";                               // httpGet
  std::string host;                                          // httpGet/tcpSocket ("" = the pod's IP)
  std::string port;                                          // number or container port name
  std::string path = "/";                                    // httpGet
  std::vector<std::pair<std::string, std::string>> headers;  // httpGet
  int64_t sleep_seconds = 0;                                 // sleep
};

struct ProbeSpec {
  Handler handler;
  int64_t initial_delay_s = 0;
  int64_t timeout_s = 1;
  int64_t period_s = 10;
  int64_t success_threshold = 1;
  int64_t failure_threshold = 3;
  std::optional<int64_t> termination_grace_s;  // probe-level terminationGracePeriodSeconds
};

// Parses a Handler (a probe's or a lifecycle hook's); Kind::kNone when it has none.
Handler ParseHandler(const JsonValue& v);
// The container's livenessProbe / readinessProbe / startupProbe; nullopt when absent.
std::optional<ProbeSpec> ParseProbe(const JsonValue& container, const char* field);
// The port of an httpGet/tcpSocket handler: a number, or the named containerPort. 0 when unknown.
int ResolvePort(const Handler& h, const JsonValue& container);

// The results of one probe of one container instance.
class ProbeTracker {
 public:
  // initial: the result before any probe ran (readiness and startup: false; liveness: true).
  explicit ProbeTracker(bool initial) : result_(initial) {}
  // Records one attempt; true when the result changed.
  bool Record(bool success, const ProbeSpec& spec);
  bool result() const { return result_; }
  int64_t consecutive_failures() const { return failures_; }

 private:
  bool result_;
  int64_t successes_ = 0;
  int64_t failures_ = 0;
};

// The kubelet's probe failure messages (pkg/probe): "HTTP probe failed with statuscode: 500",
// and the dial errors Go prints ("dial tcp 127.0.0.1:8080: connect: connection refused").
std::string HttpStatusFailure(int status);
std::string DialFailure(const std::string& host, int port, const std::string& reason);

}  // namespace minik::agent::kubelet
