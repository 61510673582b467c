// Pod rows as `kubectl get pods -o wide` shows them on a real cluster (upstream printPod, v1.32).
#include "table_test_util.h"

namespace minik::api {
namespace {

using testing::Cells;
using testing::Resource;

const ResourceInfo kPods = Resource("", "Pod");

TEST_CASE("pod columns are upstream's, wide ones at priority 1") {
  CHECK(testing::ColumnNames(kPods) == "Name|Ready|Status|Restarts|Age|IP*|Node*|Nominated Node*|Readiness Gates*");
  const auto& cols = TableColumns(kPods);
  CHECK(cols[0].format == "name");
  CHECK(cols[0].type == "string");
  CHECK(cols[0].description.rfind("Name must be unique within a namespace.", 0) == 0);
  CHECK(cols[3].type == "string");
  CHECK(cols[3].description ==
        "The number of times the containers in this pod have been restarted and when the last container in this pod "
        "has restarted.");
  CHECK(cols[4].description.rfind("CreationTimestamp is a timestamp representing the server time", 0) == 0);
  CHECK(cols[5].description == "podIP address allocated to the pod. Routable at least within the cluster. Empty if "
                               "not yet allocated.");
}

TEST_CASE("a running pod with one ready container of two and a restart") {
  // web-0: app ready, sidecar restarted twice, last exit 3 minutes ago, then waiting to be ready.
  std::string pod = R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "default", "creationTimestamp": "2025-12-31T23:10:00Z"},
    "spec": {"nodeName": "edge-1", "containers": [{"name": "app", "image": "nginx:1.27"},
                                                  {"name": "sidecar", "image": "busybox"}]},
    "status": {
      "phase": "Running", "podIP": "10.42.0.7", "podIPs": [{"ip": "10.42.0.7"}],
      "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"}],
      "containerStatuses": [
        {"name": "app", "ready": true, "restartCount": 0, "started": true,
         "state": {"running": {"startedAt": "2025-12-31T23:10:05Z"}}},
        {"name": "sidecar", "ready": false, "restartCount": 2, "started": true,
         "state": {"running": {"startedAt": "2025-12-31T23:57:00Z"}},
         "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-12-31T23:57:00Z"}}}
      ]
    }
  })";
  CHECK(Cells(kPods, pod) == R"j(["web-0","1/2","Running","2 (3m ago)","50m","10.42.0.7","edge-1","<none>","<none>"])j");
}

TEST_CASE("a pending pod not yet scheduled") {
  std::string pod = R"({
    "metadata": {"name": "pending", "creationTimestamp": "2025-12-31T23:59:15Z"},
    "spec": {"containers": [{"name": "c", "image": "i"}]},
    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
  })";
  CHECK(Cells(kPods, pod) == R"j(["pending","0/1","Pending","0","45s","<none>","<none>","<none>","<none>"])j");
}

TEST_CASE("a pod with scheduling gates shows SchedulingGated") {
  std::string pod = R"({
    "metadata": {"name": "gated", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"containers": [{"name": "c"}], "schedulingGates": [{"name": "example.com/wait"}]},
    "status": {"phase": "Pending",
               "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
  })";
  CHECK(Cells(kPods, pod) == R"j(["gated","0/1","SchedulingGated","0","60m","<none>","<none>","<none>","<none>"])j");
}

TEST_CASE("CrashLoopBackOff comes from the container's waiting reason") {
  std::string pod = R"({
    "metadata": {"name": "crash", "creationTimestamp": "2025-12-31T22:00:00Z"},
    "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
    "status": {"phase": "Running", "podIP": "10.42.0.9",
      "conditions": [{"type": "Initialized", "status": "True"}],
      "containerStatuses": [{"name": "c", "ready": false, "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-12-31T23:58:30Z"}}}]}
  })";
  CHECK(Cells(kPods, pod) == R"j(["crash","0/1","CrashLoopBackOff","5 (90s ago)","120m","10.42.0.9","n1","<none>","<none>"])j");
}

TEST_CASE("init containers: Init:x/y, Init:<reason>, Init:ExitCode, Init:Signal, PodInitializing") {
  auto pod = [](const std::string& init_statuses, const std::string& container_statuses) {
    return R"({"metadata": {"name": "p", "creationTimestamp": "2025-12-31T23:58:00Z"},
      "spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "init-a"}, {"name": "init-b"}]},
      "status": {"phase": "Pending", "conditions": [{"type": "Initialized", "status": "False"}],
                 "initContainerStatuses": )" +
           init_statuses + R"(, "containerStatuses": )" + container_statuses + "}}";
  };
  const std::string app_waiting =
      R"j([{"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}])j";
  // The first init container is running: Init:0/2.
  CHECK(Cells(kPods, pod(R"([
      {"name": "init-a", "ready": false, "restartCount": 0, "state": {"running": {"startedAt": "2025-12-31T23:59:00Z"}}},
      {"name": "init-b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}])",
                            app_waiting)) == R"j(["p","0/1","Init:0/2","0","2m","<none>","<none>","<none>","<none>"])j");
  // The first finished, the second runs: Init:1/2.
  CHECK(Cells(kPods, pod(R"([
      {"name": "init-a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
      {"name": "init-b", "ready": false, "restartCount": 0, "state": {"running": {}}}])",
                            app_waiting)) == R"j(["p","0/1","Init:1/2","0","2m","<none>","<none>","<none>","<none>"])j");
  // A crashing init container.
  CHECK(Cells(kPods, pod(R"([
      {"name": "init-a", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
       "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2025-12-31T23:59:50Z"}}},
      {"name": "init-b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}])",
                            app_waiting)) ==
        R"j(["p","0/1","Init:CrashLoopBackOff","3 (10s ago)","2m","<none>","<none>","<none>","<none>"])j");
  // Terminated init container: its reason, else the exit code or signal.
  CHECK(Cells(kPods, pod(R"j([{"name": "init-a", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}])j",
                         app_waiting)) == R"j(["p","0/1","Init:Error","0","2m","<none>","<none>","<none>","<none>"])j");
  CHECK(Cells(kPods, pod(R"j([{"name": "init-a", "state": {"terminated": {"exitCode": 2}}}])j", app_waiting)) ==
        R"j(["p","0/1","Init:ExitCode:2","0","2m","<none>","<none>","<none>","<none>"])j");
  CHECK(Cells(kPods, pod(R"j([{"name": "init-a", "state": {"terminated": {"exitCode": 137, "signal": 9}}}])j",
                         app_waiting)) == R"j(["p","0/1","Init:Signal:9","0","2m","<none>","<none>","<none>","<none>"])j");
  // All init containers done, the app container is still being created: PodInitializing.
  CHECK(Cells(kPods, pod(R"([
      {"name": "init-a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
      {"name": "init-b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}])",
                            app_waiting)) == R"j(["p","0/1","PodInitializing","0","2m","<none>","<none>","<none>","<none>"])j");
}

TEST_CASE("a sidecar (restartable init container) counts in READY and its restarts count") {
  std::string pod = R"({
    "metadata": {"name": "with-sidecar", "creationTimestamp": "2025-12-31T12:00:00Z"},
    "spec": {"nodeName": "n1",
             "initContainers": [{"name": "setup"}, {"name": "proxy", "restartPolicy": "Always"}],
             "containers": [{"name": "app"}]},
    "status": {"phase": "Running", "podIPs": [{"ip": "fd00::5"}],
      "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
      "initContainerStatuses": [
        {"name": "setup", "ready": false, "restartCount": 1, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
         "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-12-31T12:00:30Z"}}},
        {"name": "proxy", "ready": true, "started": true, "restartCount": 1,
         "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-12-31T20:00:00Z"}}}],
      "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
  })";
  // setup's restart is not counted once the pod is initialized; proxy's is.
  CHECK(Cells(kPods, pod) == R"j(["with-sidecar","2/2","Running","1 (4h ago)","12h","fd00::5","n1","<none>","<none>"])j");
}

TEST_CASE("terminated containers: reason, ExitCode, Signal, Completed") {
  auto pod = [](const std::string& phase, const std::string& state) {
    return R"({"metadata": {"name": "t", "creationTimestamp": "2025-12-29T00:00:00Z"},
      "spec": {"containers": [{"name": "c"}]},
      "status": {"phase": ")" +
           phase + R"(", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "state": )" + state +
           "}]}}";
  };
  CHECK(Cells(kPods, pod("Succeeded", R"({"terminated": {"exitCode": 0, "reason": "Completed"}})")) ==
        R"j(["t","0/1","Completed","0","3d","<none>","<none>","<none>","<none>"])j");
  CHECK(Cells(kPods, pod("Failed", R"({"terminated": {"exitCode": 1, "reason": "Error"}})")) ==
        R"j(["t","0/1","Error","0","3d","<none>","<none>","<none>","<none>"])j");
  CHECK(Cells(kPods, pod("Failed", R"({"terminated": {"exitCode": 3}})")) ==
        R"j(["t","0/1","ExitCode:3","0","3d","<none>","<none>","<none>","<none>"])j");
  CHECK(Cells(kPods, pod("Failed", R"({"terminated": {"exitCode": 0, "signal": 15}})")) ==
        R"j(["t","0/1","Signal:15","0","3d","<none>","<none>","<none>","<none>"])j");
  CHECK(Cells(kPods, pod("Failed", R"({"terminated": {"exitCode": 137, "reason": "OOMKilled"}})")) ==
        R"j(["t","0/1","OOMKilled","0","3d","<none>","<none>","<none>","<none>"])j");
}

TEST_CASE("Completed with a container still running is Running or NotReady") {
  auto pod = [](const char* ready_condition) {
    return std::string(R"({"metadata": {"name": "m", "creationTimestamp": "2025-12-31T23:00:00Z"},
      "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
      "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ")") +
           ready_condition + R"("}],
      "containerStatuses": [
        {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
        {"name": "b", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})";
  };
  CHECK(Cells(kPods, pod("True")) == R"j(["m","1/2","Running","0","60m","<none>","<none>","<none>","<none>"])j");
  CHECK(Cells(kPods, pod("False")) == R"j(["m","1/2","NotReady","0","60m","<none>","<none>","<none>","<none>"])j");
}

TEST_CASE("deletionTimestamp gives Terminating, NodeLost gives Unknown, finished pods keep their status") {
  auto pod = [](const char* phase, const char* reason) {
    return std::string(R"({"metadata": {"name": "d", "creationTimestamp": "2025-12-31T23:00:00Z",
      "deletionTimestamp": "2026-01-01T00:00:30Z", "deletionGracePeriodSeconds": 30},
      "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
      "status": {"phase": ")") +
           phase + R"(", "reason": ")" + reason + R"(", "containerStatuses": [
        {"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]}})";
  };
  CHECK(Cells(kPods, pod("Running", "")) == R"j(["d","1/1","Terminating","0","60m","<none>","n1","<none>","<none>"])j");
  CHECK(Cells(kPods, pod("Running", "NodeLost")) == R"j(["d","1/1","Unknown","0","60m","<none>","n1","<none>","<none>"])j");
  // A NodeLost pod not being deleted shows the pod's status reason.
  std::string lost = R"({"metadata": {"name": "l", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Unknown", "reason": "NodeLost"}})";
  CHECK(Cells(kPods, lost) == R"j(["l","0/1","NodeLost","0","60m","<none>","<none>","<none>","<none>"])j");
  std::string done = R"({"metadata": {"name": "s", "creationTimestamp": "2025-12-31T23:00:00Z",
    "deletionTimestamp": "2026-01-01T00:00:30Z"}, "spec": {"containers": [{"name": "c"}]},
    "status": {"phase": "Succeeded", "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
      "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})";
  CHECK(Cells(kPods, done) == R"j(["s","0/1","Completed","0","60m","<none>","<none>","<none>","<none>"])j");
}

TEST_CASE("readiness gates, nominated node, podIP beats podIPs") {
  std::string pod = R"({
    "metadata": {"name": "g", "creationTimestamp": "2025-12-31T23:59:59Z"},
    "spec": {"containers": [{"name": "c"}], "readinessGates": [{"conditionType": "example.com/lb"},
                                                                {"conditionType": "example.com/dns"}]},
    "status": {"phase": "Pending", "nominatedNodeName": "n2", "podIP": "10.42.1.1", "podIPs": [{"ip": "10.42.9.9"}],
      "conditions": [{"type": "example.com/lb", "status": "True"}, {"type": "example.com/dns", "status": "False"}]}
  })";
  CHECK(Cells(kPods, pod) == R"j(["g","0/1","Pending","0","1s","10.42.1.1","<none>","n2","1/2"])j");
}

TEST_CASE("pod ages: missing timestamp, clock skew and the future") {
  std::string no_ts = R"({"metadata": {"name": "x"}, "spec": {"containers": []}, "status": {}})";
  CHECK(Cells(kPods, no_ts) == R"j(["x","0/0","","0","<unknown>","<none>","<none>","<none>","<none>"])j");
  std::string skew = R"({"metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:01Z"}})";
  CHECK(Cells(kPods, skew) == R"j(["x","0/0","","0","0s","<none>","<none>","<none>","<none>"])j");
  std::string future = R"({"metadata": {"name": "x", "creationTimestamp": "2026-01-01T00:00:02Z"}})";
  CHECK(Cells(kPods, future) == R"j(["x","0/0","","0","<invalid>","<none>","<none>","<none>","<none>"])j");
}

TEST_CASE("row conditions for finished pods") {
  auto conditions = [](const char* phase) {
    auto parsed = ParseJson(std::string(R"({"metadata":{"name":"p"},"status":{"phase":")") + phase + "\"}}");
    REQUIRE(parsed.ok());
    JsonDoc row;
    row.SetObject();
    row.AddMember("cells", JsonValue(rapidjson::kArrayType), row.GetAllocator());
    SetTableRowConditions(kPods, *parsed, row, row.GetAllocator());
    return ToJson(row);
  };
  CHECK(conditions("Succeeded") ==
        R"({"cells":[],"conditions":[{"type":"Completed","status":"True","reason":"Succeeded","message":"The pod has completed successfully."}]})");
  CHECK(conditions("Failed") ==
        R"({"cells":[],"conditions":[{"type":"Completed","status":"True","reason":"Failed","message":"The pod failed."}]})");
  CHECK(conditions("Running") == R"({"cells":[]})");
}

}  // namespace
}  // namespace minik::api
