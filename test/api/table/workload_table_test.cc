// apps, batch, autoscaling and policy kinds as `kubectl get -o wide` shows them (printers.go, v1.32).
#include "table_test_util.h"

namespace minik::api {
namespace {

using testing::Cells;
using testing::ColumnNames;
using testing::Resource;

TEST_CASE("deployments: READY UP-TO-DATE AVAILABLE AGE, wide CONTAINERS IMAGES SELECTOR") {
  const ResourceInfo deploy = Resource("apps", "Deployment");
  CHECK(ColumnNames(deploy) == "Name|Ready|Up-to-date|Available|Age|Containers*|Images*|Selector*");
  CHECK(TableColumns(deploy)[2].description ==
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.");
  CHECK(Cells(deploy, R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "coredns", "namespace": "kube-system", "creationTimestamp": "2025-12-31T23:00:00Z", "generation": 1},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
             "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                          "spec": {"containers": [{"name": "coredns", "image": "rancher/mirrored-coredns-coredns:1.12.0"}]}}},
    "status": {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 1, "availableReplicas": 1}})") ==
        R"j(["coredns","1/2",2,1,"60m","coredns","rancher/mirrored-coredns-coredns:1.12.0","k8s-app=kube-dns"])j");
  // A fresh deployment has no status yet; selector with expressions, sorted by key.
  CHECK(Cells(deploy, R"({"metadata": {"name": "web", "creationTimestamp": "2025-12-31T23:59:58Z"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
             "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "api"]},
                                  {"key": "canary", "operator": "DoesNotExist"},
                                  {"key": "env", "operator": "NotIn", "values": ["dev"]},
                                  {"key": "zone", "operator": "Exists"}]},
             "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}}}})") ==
        R"j(["web","0/3",0,0,"2s","a,b","a:1,b:2","app=web,!canary,env notin (dev),tier in (api,front),zone"])j");
  CHECK(Cells(deploy, R"({"metadata": {"name": "bad", "creationTimestamp": "2025-12-31T23:59:58Z"},
    "spec": {"replicas": 1, "selector": {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}}})") ==
        R"j(["bad","0/1",0,0,"2s","","","<invalid>"])j");
}

TEST_CASE("replica sets, daemon sets and stateful sets") {
  const ResourceInfo rs = Resource("apps", "ReplicaSet");
  CHECK(ColumnNames(rs) == "Name|Desired|Current|Ready|Age|Containers*|Images*|Selector*");
  CHECK(Cells(rs, R"({"metadata": {"name": "coredns-7d8f4c", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns", "pod-template-hash": "7d8f4c"}},
             "template": {"spec": {"containers": [{"name": "coredns", "image": "coredns:1.12.0"}]}}},
    "status": {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}})") ==
        R"j(["coredns-7d8f4c",2,2,2,"60m","coredns","coredns:1.12.0","k8s-app=kube-dns,pod-template-hash=7d8f4c"])j");
  CHECK(Cells(rs, R"({"metadata": {"name": "old", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"replicas": 0, "selector": {}, "template": {"spec": {"containers": []}}}, "status": {"replicas": 0}})") ==
        R"j(["old",0,0,0,"60m","","","<none>"])j");

  const ResourceInfo ds = Resource("apps", "DaemonSet");
  CHECK(ColumnNames(ds) ==
        "Name|Desired|Current|Ready|Up-to-date|Available|Node Selector|Age|Containers*|Images*|Selector*");
  CHECK(Cells(ds, R"({"metadata": {"name": "svclb", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"selector": {"matchLabels": {"app": "svclb"}},
             "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                   "containers": [{"name": "lb-tcp-80", "image": "klipper-lb:v0.4.9"}]}}},
    "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
               "updatedNumberScheduled": 3, "numberAvailable": 2, "numberMisscheduled": 0}})") ==
        R"j(["svclb",3,3,2,3,2,"kubernetes.io/os=linux","60m","lb-tcp-80","klipper-lb:v0.4.9","app=svclb"])j");

  const ResourceInfo sts = Resource("apps", "StatefulSet");
  CHECK(ColumnNames(sts) == "Name|Ready|Age|Containers*|Images*");
  CHECK(Cells(sts, R"({"metadata": {"name": "db", "creationTimestamp": "2025-12-30T00:00:00Z"},
    "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
             "template": {"spec": {"containers": [{"name": "postgres", "image": "postgres:17"}]}}},
    "status": {"replicas": 3, "readyReplicas": 1}})") == R"j(["db","1/3","2d","postgres","postgres:17"])j");
}

TEST_CASE("controller revisions name their controller") {
  const ResourceInfo cr = Resource("apps", "ControllerRevision");
  CHECK(ColumnNames(cr) == "Name|Controller|Revision|Age");
  CHECK(Cells(cr, R"({"metadata": {"name": "svclb-6b7d9", "creationTimestamp": "2025-12-31T23:00:00Z",
      "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "svclb", "uid": "u", "controller": true,
                           "blockOwnerDeletion": true}]},
    "data": {}, "revision": 2})") == R"j(["svclb-6b7d9","daemonset.apps/svclb",2,"60m"])j");
  CHECK(Cells(cr, R"({"metadata": {"name": "orphan", "creationTimestamp": "2025-12-31T23:00:00Z"}, "revision": 1})") ==
        R"j(["orphan","<none>",1,"60m"])j");
}

TEST_CASE("jobs: STATUS COMPLETIONS DURATION AGE") {
  const ResourceInfo job = Resource("batch", "Job");
  CHECK(ColumnNames(job) == "Name|Status|Completions|Duration|Age|Containers*|Images*|Selector*");
  CHECK(Cells(job, R"({"metadata": {"name": "pi", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6,
             "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "c0ffee"}},
             "template": {"spec": {"containers": [{"name": "pi", "image": "perl:5.34"}], "restartPolicy": "Never"}}},
    "status": {"startTime": "2025-12-31T23:00:01Z", "completionTime": "2025-12-31T23:00:48Z", "succeeded": 1,
               "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}})") ==
        R"j(["pi","Complete","1/1","47s","60m","pi","perl:5.34","batch.kubernetes.io/controller-uid=c0ffee"])j");
  CHECK(Cells(job, R"({"metadata": {"name": "work", "creationTimestamp": "2025-12-31T23:50:00Z"},
    "spec": {"completions": 5, "parallelism": 2, "template": {"spec": {"containers": []}}},
    "status": {"startTime": "2025-12-31T23:50:00Z", "succeeded": 2, "active": 2}})") ==
        R"j(["work","Running","2/5","10m","10m","","","<none>"])j");
  CHECK(Cells(job, R"({"metadata": {"name": "queue", "creationTimestamp": "2025-12-31T23:50:00Z"},
    "spec": {"parallelism": 4, "suspend": true},
    "status": {"conditions": [{"type": "Suspended", "status": "True"}]}})") ==
        R"j(["queue","Suspended","0/1 of 4","","10m","","","<none>"])j");
  CHECK(Cells(job, R"({"metadata": {"name": "f", "creationTimestamp": "2025-12-31T23:50:00Z"},
    "spec": {"completions": null, "parallelism": 1},
    "status": {"failed": 7, "startTime": "2025-12-31T23:50:00Z", "conditions": [
      {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}})") ==
        R"j(["f","Failed","0/1","10m","10m","","","<none>"])j");
  CHECK(Cells(job, R"({"metadata": {"name": "t", "creationTimestamp": "2025-12-31T23:50:00Z", "deletionTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"completions": 1}, "status": {"conditions": [{"type": "FailureTarget", "status": "True"}]}})") ==
        R"j(["t","Terminating","0/1","","10m","","","<none>"])j");
  CHECK(Cells(job, R"({"metadata": {"name": "ft", "creationTimestamp": "2025-12-31T23:50:00Z"},
    "spec": {"completions": 1}, "status": {"conditions": [{"type": "FailureTarget", "status": "True"}]}})") ==
        R"j(["ft","FailureTarget","0/1","","10m","","","<none>"])j");
}

TEST_CASE("cron jobs") {
  const ResourceInfo cj = Resource("batch", "CronJob");
  CHECK(ColumnNames(cj) ==
        "Name|Schedule|Timezone|Suspend|Active|Last Schedule|Age|Containers*|Images*|Selector*");
  CHECK(TableColumns(cj)[3].type == "boolean");
  CHECK(Cells(cj, R"({"metadata": {"name": "hello", "creationTimestamp": "2025-12-31T20:00:00Z"},
    "spec": {"schedule": "*/5 * * * *", "suspend": false, "concurrencyPolicy": "Allow",
             "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox:1.28"}]}}}}},
    "status": {"lastScheduleTime": "2025-12-31T23:55:00Z", "active": [{"kind": "Job", "name": "hello-29"}]}})") ==
        R"j(["hello","*/5 * * * *","<none>","False",1,"5m","4h","hello","busybox:1.28","<none>"])j");
  CHECK(Cells(cj, R"({"metadata": {"name": "nightly", "creationTimestamp": "2025-12-31T20:00:00Z"},
    "spec": {"schedule": "0 2 * * *", "timeZone": "Europe/Paris", "suspend": true}, "status": {}})") ==
        R"j(["nightly","0 2 * * *","Europe/Paris","True",0,"<none>","4h","","","<none>"])j");
  CHECK(Cells(cj, R"({"metadata": {"name": "raw", "creationTimestamp": "2025-12-31T20:00:00Z"}, "spec": {"schedule": "@daily"}})") ==
        R"j(["raw","@daily","<none>","<unset>",0,"<none>","4h","","","<none>"])j");
}

TEST_CASE("horizontal pod autoscalers (autoscaling/v2)") {
  const ResourceInfo hpa = Resource("autoscaling", "HorizontalPodAutoscaler", "v2");
  CHECK(ColumnNames(hpa) == "Name|Reference|Targets|MinPods|MaxPods|Replicas|Age");
  CHECK(Cells(hpa, R"({"metadata": {"name": "web", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
             "minReplicas": 1, "maxReplicas": 10,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
    "status": {"currentReplicas": 0, "desiredReplicas": 0}})") ==
        R"j(["web","Deployment/web","cpu: <unknown>/80%","1",10,0,"60m"])j");
  CHECK(Cells(hpa, R"({"metadata": {"name": "multi", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "db"}, "maxReplicas": 5,
             "metrics": [
               {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
               {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
               {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}}]},
    "status": {"currentReplicas": 2, "currentMetrics": [
      {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "210Mi"}}},
      {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "250"}}}]}})") ==
        R"j(["multi","StatefulSet/db","memory: 210Mi/500Mi, 250/1k + 1 more...","<unset>",5,2,"60m"])j");
  CHECK(Cells(hpa, R"({"metadata": {"name": "m", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "minReplicas": 2, "maxReplicas": 4,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                         {"type": "Object", "object": {"target": {"type": "AverageValue", "averageValue": "2"}}}]},
    "status": {"currentReplicas": 2, "currentMetrics": [
      {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 41, "averageValue": "205m"}}},
      {"type": "Object", "object": {"current": {"value": "3"}}}]}})") ==
        R"j(["m","Deployment/x","cpu: 41%/60%, <unknown>/2 (avg)","2",4,2,"60m"])j");
  CHECK(Cells(hpa, R"({"metadata": {"name": "none", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 3}})") ==
        R"j(["none","Deployment/x","<none>","<unset>",3,0,"60m"])j");
}

TEST_CASE("pod disruption budgets and scale") {
  const ResourceInfo pdb = Resource("policy", "PodDisruptionBudget");
  CHECK(ColumnNames(pdb) == "Name|Min Available|Max Unavailable|Allowed Disruptions|Age");
  CHECK(Cells(pdb, R"({"metadata": {"name": "web", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}})") ==
        R"j(["web","2","N/A",1,"60m"])j");
  CHECK(Cells(pdb, R"({"metadata": {"name": "pct", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"maxUnavailable": "25%"}})") == R"j(["pct","N/A","25%",0,"60m"])j");

  const ResourceInfo scale = Resource("autoscaling", "Scale");
  CHECK(ColumnNames(scale) == "Name|Desired|Available|Age");
  CHECK(TableColumns(scale)[0].format.empty());
  CHECK(Cells(scale, R"({"metadata": {"name": "web", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"}})") == R"j(["web",3,2,"60m"])j");
}

}  // namespace
}  // namespace minik::api
