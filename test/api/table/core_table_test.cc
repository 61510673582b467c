// core/v1 kinds other than Pod, as `kubectl get -o wide` shows them (upstream printers.go, v1.32).
#include "table_test_util.h"

namespace minik::api {
namespace {

using testing::Cells;
using testing::ColumnNames;
using testing::Resource;

TEST_CASE("HumanDuration matches apimachinery's duration.HumanDuration") {
  using namespace std::chrono;
  CHECK(HumanDuration(seconds(0)) == "0s");
  CHECK(HumanDuration(milliseconds(-1500)) == "0s");
  CHECK(HumanDuration(seconds(-1)) == "0s");
  CHECK(HumanDuration(seconds(-2)) == "<invalid>");
  CHECK(HumanDuration(seconds(45)) == "45s");
  CHECK(HumanDuration(seconds(119)) == "119s");
  CHECK(HumanDuration(minutes(2)) == "2m");
  CHECK(HumanDuration(minutes(3) + seconds(12)) == "3m12s");
  CHECK(HumanDuration(minutes(9) + seconds(59)) == "9m59s");
  CHECK(HumanDuration(minutes(10) + seconds(59)) == "10m");
  CHECK(HumanDuration(minutes(179)) == "179m");
  CHECK(HumanDuration(hours(3)) == "3h");
  CHECK(HumanDuration(hours(5) + minutes(3)) == "5h3m");
  CHECK(HumanDuration(hours(7) + minutes(59) + seconds(59)) == "7h59m");
  CHECK(HumanDuration(hours(8) + minutes(30)) == "8h");
  CHECK(HumanDuration(hours(47)) == "47h");
  CHECK(HumanDuration(hours(48)) == "2d");
  CHECK(HumanDuration(hours(51)) == "2d3h");
  CHECK(HumanDuration(hours(24 * 8 - 1)) == "7d23h");
  CHECK(HumanDuration(hours(24 * 8)) == "8d");
  CHECK(HumanDuration(hours(24 * 729)) == "729d");
  CHECK(HumanDuration(hours(24 * 730)) == "2y");
  CHECK(HumanDuration(hours(24 * (3 * 365 + 45))) == "3y45d");
  CHECK(HumanDuration(hours(24 * 365 * 8)) == "8y");
  CHECK(HumanDuration(hours(24 * (365 * 9 + 100))) == "9y");
}

TEST_CASE("services: ClusterIP, NodePort, LoadBalancer, ExternalName, headless") {
  const ResourceInfo svc = Resource("", "Service");
  CHECK(ColumnNames(svc) == "Name|Type|Cluster-IP|External-IP|Port(s)|Age|Selector*");
  CHECK(Cells(svc, R"({"metadata": {"name": "kubernetes", "namespace": "default", "creationTimestamp": "2025-12-31T00:00:00Z",
      "labels": {"component": "apiserver", "provider": "kubernetes"}},
    "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"],
             "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})") ==
        R"j(["kubernetes","ClusterIP","10.43.0.1","<none>","443/TCP","24h","<none>"])j");
  CHECK(Cells(svc, R"({"metadata": {"name": "web", "creationTimestamp": "2025-12-31T23:55:00Z"},
    "spec": {"type": "NodePort", "clusterIP": "10.43.12.7", "selector": {"app": "web", "tier": "front"},
             "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP", "nodePort": 31053}]}})") ==
        R"j(["web","NodePort","10.43.12.7","<none>","80:30080/TCP,53:31053/UDP","5m","app=web,tier=front"])j");
  CHECK(Cells(svc, R"({"metadata": {"name": "lb", "creationTimestamp": "2025-12-31T23:55:00Z"},
    "spec": {"type": "LoadBalancer", "clusterIPs": ["10.43.5.5"], "ports": [{"port": 443, "protocol": "TCP", "nodePort": 31443}],
             "selector": {"app": "lb"}}, "status": {"loadBalancer": {}}})") ==
        R"j(["lb","LoadBalancer","10.43.5.5","<pending>","443:31443/TCP","5m","app=lb"])j");
  CHECK(Cells(svc, R"({"metadata": {"name": "lb", "creationTimestamp": "2025-12-31T23:55:00Z"},
    "spec": {"type": "LoadBalancer", "clusterIP": "10.43.5.5", "externalIPs": ["203.0.113.9"],
             "ports": [{"port": 443, "protocol": "TCP", "nodePort": 31443}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.20"}, {"hostname": "lb.example.com"}, {"ip": "192.168.1.10"}]}}})") ==
        R"j(["lb","LoadBalancer","10.43.5.5","192.168.1.10,192.168.1.20,lb.example.com,203.0.113.9","443:31443/TCP","5m","<none>"])j");
  CHECK(Cells(svc, R"({"metadata": {"name": "ext", "creationTimestamp": "2025-12-31T23:55:00Z"},
    "spec": {"type": "ExternalName", "externalName": "db.example.com"}})") ==
        R"j(["ext","ExternalName","<none>","db.example.com","<none>","5m","<none>"])j");
  CHECK(Cells(svc, R"({"metadata": {"name": "headless", "creationTimestamp": "2025-12-31T23:55:00Z"},
    "spec": {"type": "ClusterIP", "clusterIP": "None", "externalIPs": ["1.2.3.4", "5.6.7.8"], "selector": {"app": "db"},
             "ports": [{"port": 5432, "protocol": "TCP"}]}})") ==
        R"j(["headless","ClusterIP","None","1.2.3.4,5.6.7.8","5432/TCP","5m","app=db"])j");
}

TEST_CASE("endpoints list up to three addresses, then + N more...") {
  const ResourceInfo ep = Resource("", "Endpoints");
  CHECK(ColumnNames(ep) == "Name|Endpoints|Age");
  CHECK(Cells(ep, R"({"metadata": {"name": "empty", "creationTimestamp": "2025-12-31T23:00:00Z"}})") ==
        R"j(["empty","<none>","60m"])j");
  CHECK(Cells(ep, R"({"metadata": {"name": "kubernetes", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "subsets": [{"addresses": [{"ip": "192.168.1.5"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]})") ==
        R"j(["kubernetes","192.168.1.5:6443","60m"])j");
  CHECK(Cells(ep, R"({"metadata": {"name": "web", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "subsets": [{"addresses": [{"ip": "10.42.0.1"}, {"ip": "10.42.0.2"}],
                 "ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]},
                {"addresses": [{"ip": "10.42.1.1"}], "ports": [{"port": 80}]}]})") ==
        R"j(["web","10.42.0.1:80,10.42.0.2:80,10.42.0.1:9090 + 2 more...","60m"])j");
  CHECK(Cells(ep, R"({"metadata": {"name": "v6", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}, {"addresses": [{"ip": "10.0.0.9"}]}]})") ==
        R"j(["v6","[fd00::1]:80,10.0.0.9","60m"])j");
}

TEST_CASE("nodes: status, roles, versions and wide columns") {
  const ResourceInfo nodes = Resource("", "Node");
  CHECK(ColumnNames(nodes) ==
        "Name|Status|Roles|Age|Version|Internal-IP*|External-IP*|OS-Image*|Kernel-Version*|Container-Runtime*");
  CHECK(Cells(nodes, R"j({"metadata": {"name": "edge-1", "creationTimestamp": "2025-12-29T21:00:00Z",
      "labels": {"kubernetes.io/hostname": "edge-1", "node-role.kubernetes.io/control-plane": "true",
                 "node-role.kubernetes.io/master": "true", "node-role.kubernetes.io/etcd": ""}},
    "spec": {"podCIDR": "10.42.0.0/24"},
    "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
      "addresses": [{"type": "InternalIP", "address": "192.168.1.5"}, {"type": "Hostname", "address": "edge-1"}],
      "nodeInfo": {"kubeletVersion": "v1.32.3+minik", "osImage": "Debian GNU/Linux 12 (bookworm)",
                   "kernelVersion": "6.1.0-28-amd64", "containerRuntimeVersion": "minik://0.1.0"}}})j") ==
        R"j(["edge-1","Ready","control-plane,etcd,master","2d3h","v1.32.3+minik","192.168.1.5","<none>","Debian GNU/Linux 12 (bookworm)","6.1.0-28-amd64","minik://0.1.0"])j");
  CHECK(Cells(nodes, R"({"metadata": {"name": "w", "creationTimestamp": "2025-12-31T23:00:00Z",
      "labels": {"kubernetes.io/role": "worker"}},
    "spec": {"unschedulable": true},
    "status": {"conditions": [{"type": "Ready", "status": "True"}],
      "addresses": [{"type": "ExternalIP", "address": "203.0.113.4"}, {"type": "InternalIP", "address": "10.0.0.4"}],
      "nodeInfo": {"kubeletVersion": "v1.32.3"}}})") ==
        R"j(["w","Ready,SchedulingDisabled","worker","60m","v1.32.3","10.0.0.4","203.0.113.4","<unknown>","<unknown>","<unknown>"])j");
  CHECK(Cells(nodes, R"({"metadata": {"name": "down", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})") ==
        R"j(["down","NotReady","<none>","60m","","<none>","<none>","<unknown>","<unknown>","<unknown>"])j");
  CHECK(Cells(nodes, R"({"metadata": {"name": "new", "creationTimestamp": "2025-12-31T23:00:00Z"}})") ==
        R"j(["new","Unknown","<none>","60m","","<none>","<none>","<unknown>","<unknown>","<unknown>"])j");
}

TEST_CASE("core/v1 events: LAST SEEN TYPE REASON OBJECT MESSAGE, wide SUBOBJECT SOURCE FIRST SEEN COUNT NAME") {
  const ResourceInfo ev = Resource("", "Event");
  CHECK(ColumnNames(ev) == "Last Seen|Type|Reason|Object|Subobject*|Source*|Message|First Seen*|Count*|Name*");
  CHECK(TableColumns(ev)[9].format == "name");
  CHECK(TableColumns(ev)[8].type == "string");
  CHECK(Cells(ev, R"({"metadata": {"name": "web-0.17f3a", "namespace": "default", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0", "fieldPath": "spec.containers{app}"},
    "reason": "BackOff", "message": "Back-off restarting failed container app in pod web-0\n", "type": "Warning",
    "source": {"component": "kubelet", "host": "edge-1"},
    "firstTimestamp": "2025-12-31T23:00:00Z", "lastTimestamp": "2025-12-31T23:58:00Z", "count": 14,
    "eventTime": null, "reportingComponent": "kubelet", "reportingInstance": "edge-1"})") ==
        R"j(["2m","Warning","BackOff","pod/web-0","spec.containers{app}","kubelet, edge-1","Back-off restarting failed container app in pod web-0","60m",14,"web-0.17f3a"])j");
  // New-style event recorded through core/v1: eventTime, series, reporting controller, no count.
  CHECK(Cells(ev, R"({"metadata": {"name": "e2", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "involvedObject": {"kind": "Node", "name": "edge-1"}, "reason": "Starting", "message": "", "type": "Normal",
    "source": {}, "firstTimestamp": null, "lastTimestamp": null,
    "eventTime": "2025-12-31T23:29:59.500000Z", "reportingComponent": "kube-proxy", "reportingInstance": "kube-proxy-edge-1"})") ==
        R"j(["30m","Normal","Starting","node/edge-1","","kube-proxy, kube-proxy-edge-1","","30m",1,"e2"])j");
  CHECK(Cells(ev, R"({"metadata": {"name": "e3"}, "involvedObject": {"kind": "Namespace"}, "type": "Normal",
    "eventTime": "2025-12-31T23:00:00.000000Z", "series": {"count": 4, "lastObservedTime": "2025-12-31T23:59:00.000000Z"},
    "reportingComponent": "c"})") == R"j(["60s","Normal","","namespace","","c","","60m",4,"e3"])j");
  CHECK(Cells(ev, R"({"metadata": {"name": "e4"}})") ==
        R"j(["<unknown>","","","","","","","<unknown>",1,"e4"])j");
}

TEST_CASE("events.k8s.io/v1 events print like core events") {
  const ResourceInfo ev = Resource("events.k8s.io", "Event");
  CHECK(ColumnNames(ev) == "Last Seen|Type|Reason|Object|Subobject*|Source*|Message|First Seen*|Count*|Name*");
  CHECK(Cells(ev, R"({"apiVersion": "events.k8s.io/v1", "kind": "Event",
    "metadata": {"name": "web.1", "namespace": "default", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "eventTime": "2025-12-31T23:40:00.000000Z", "reportingController": "deployment-controller",
    "reportingInstance": "", "action": "ScalingReplicaSet", "reason": "ScalingReplicaSet",
    "regarding": {"kind": "Deployment", "namespace": "default", "name": "web", "apiVersion": "apps/v1"},
    "note": "Scaled up replica set web-5d4 to 3", "type": "Normal",
    "deprecatedSource": {"component": "deployment-controller"},
    "deprecatedFirstTimestamp": "2025-12-31T23:40:00Z", "deprecatedLastTimestamp": "2025-12-31T23:50:00Z",
    "deprecatedCount": 2})") ==
        R"j(["10m","Normal","ScalingReplicaSet","deployment/web","","deployment-controller","Scaled up replica set web-5d4 to 3","20m",2,"web.1"])j");
}

TEST_CASE("namespaces, configmaps, secrets, serviceaccounts") {
  CHECK(ColumnNames(Resource("", "Namespace")) == "Name|Status|Age");
  CHECK(Cells(Resource("", "Namespace"), R"({"metadata": {"name": "kube-system", "creationTimestamp": "2025-12-30T00:00:00Z"},
    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})") == R"j(["kube-system","Active","2d"])j");
  CHECK(Cells(Resource("", "Namespace"), R"({"metadata": {"name": "old", "creationTimestamp": "2025-12-30T00:00:00Z",
    "deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Terminating"}})") == R"j(["old","Terminating","2d"])j");

  CHECK(ColumnNames(Resource("", "ConfigMap")) == "Name|Data|Age");
  CHECK(TableColumns(Resource("", "ConfigMap"))[1].type == "string");
  CHECK(Cells(Resource("", "ConfigMap"), R"({"metadata": {"name": "kube-root-ca.crt", "creationTimestamp": "2025-12-31T23:59:00Z"},
    "data": {"ca.crt": "-----BEGIN CERTIFICATE-----"}, "binaryData": {"blob": "AAEC"}})") == R"j(["kube-root-ca.crt",2,"60s"])j");
  CHECK(Cells(Resource("", "ConfigMap"), R"({"metadata": {"name": "empty", "creationTimestamp": "2025-12-31T23:59:00Z"}})") ==
        R"j(["empty",0,"60s"])j");

  CHECK(ColumnNames(Resource("", "Secret")) == "Name|Type|Data|Age");
  CHECK(Cells(Resource("", "Secret"), R"({"metadata": {"name": "tls", "creationTimestamp": "2025-12-31T20:00:00Z"},
    "type": "kubernetes.io/tls", "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}})") == R"j(["tls","kubernetes.io/tls",2,"4h"])j");

  CHECK(ColumnNames(Resource("", "ServiceAccount")) == "Name|Secrets|Age");
  CHECK(Cells(Resource("", "ServiceAccount"), R"({"metadata": {"name": "default", "creationTimestamp": "2025-12-31T20:00:00Z"}})") ==
        R"j(["default",0,"4h"])j");
}

TEST_CASE("persistent volumes and claims") {
  const ResourceInfo pv = Resource("", "PersistentVolume");
  CHECK(ColumnNames(pv) ==
        "Name|Capacity|Access Modes|Reclaim Policy|Status|Claim|StorageClass|VolumeAttributesClass|Reason|Age|VolumeMode*");
  CHECK(Cells(pv, R"({"metadata": {"name": "pvc-1c2d", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
             "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "local-path", "volumeMode": "Filesystem",
             "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data"}},
    "status": {"phase": "Bound"}})") ==
        R"j(["pvc-1c2d","2Gi","RWO,RWX","Delete","Bound","default/data","local-path","<unset>","","60m","Filesystem"])j");
  CHECK(Cells(pv, R"({"metadata": {"name": "old", "creationTimestamp": "2025-12-31T23:00:00Z", "deletionTimestamp": "2026-01-01T00:00:00Z",
      "annotations": {"volume.beta.kubernetes.io/storage-class": "beta"}},
    "spec": {"storageClassName": "ignored", "volumeAttributesClassName": "gold"},
    "status": {"phase": "Released", "reason": "Reclaiming"}})") ==
        R"j(["old","0","","","Terminating","","beta","gold","Reclaiming","60m","<unset>"])j");

  const ResourceInfo pvc = Resource("", "PersistentVolumeClaim");
  CHECK(ColumnNames(pvc) == "Name|Status|Volume|Capacity|Access Modes|StorageClass|VolumeAttributesClass|Age|VolumeMode*");
  CHECK(Cells(pvc, R"({"metadata": {"name": "data", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
             "storageClassName": "local-path", "volumeMode": "Filesystem", "volumeName": "pvc-1c2d"},
    "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}}})") ==
        R"j(["data","Bound","pvc-1c2d","2Gi","RWO","local-path","<unset>","60m","Filesystem"])j");
  CHECK(Cells(pvc, R"({"metadata": {"name": "wait", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"accessModes": ["ReadWriteOncePod"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Block"},
    "status": {"phase": "Pending"}})") == R"j(["wait","Pending","","","","","<unset>","60m","Block"])j");
}

TEST_CASE("resource quotas list requests and limits (v1.32 order: Age second)") {
  const ResourceInfo rq = Resource("", "ResourceQuota");
  CHECK(ColumnNames(rq) == "Name|Age|Request|Limit");
  CHECK(Cells(rq, R"({"metadata": {"name": "compute", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2"}},
    "status": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2"},
               "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}}})") ==
        R"j(["compute","60m","pods: 3/10, requests.cpu: 500m/1","limits.cpu: 1/2, limits.memory: 0/2Gi"])j");
  CHECK(Cells(rq, R"({"metadata": {"name": "new", "creationTimestamp": "2025-12-31T23:00:00Z"}, "spec": {"hard": {"pods": "1"}}})") ==
        R"j(["new","60m","",""])j");
}

TEST_CASE("replication controllers and pod templates") {
  const ResourceInfo rc = Resource("", "ReplicationController");
  CHECK(ColumnNames(rc) == "Name|Desired|Current|Ready|Age|Containers*|Images*|Selector*");
  CHECK(Cells(rc, R"({"metadata": {"name": "nginx", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"replicas": 3, "selector": {"app": "nginx"},
             "template": {"metadata": {"labels": {"app": "nginx"}},
                          "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit"}]}}},
    "status": {"replicas": 3, "readyReplicas": 2}})") ==
        R"j(["nginx",3,3,2,"60m","nginx,log","nginx:1.27,fluent-bit","app=nginx"])j");

  const ResourceInfo pt = Resource("", "PodTemplate");
  CHECK(ColumnNames(pt) == "Name|Containers|Images|Pod Labels");
  CHECK(Cells(pt, R"({"metadata": {"name": "tpl", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "template": {"metadata": {"labels": {"z": "1", "a.b": "2", "a": "3"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}})") ==
        R"j(["tpl","c","busybox","a.b=2,a=3,z=1"])j");
}

TEST_CASE("component statuses") {
  const ResourceInfo cs = Resource("", "ComponentStatus");
  CHECK(ColumnNames(cs) == "Name|Status|Message|Error");
  CHECK(Cells(cs, R"({"metadata": {"name": "etcd-0"}, "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}]})") ==
        R"j(["etcd-0","Healthy","ok",""])j");
  CHECK(Cells(cs, R"({"metadata": {"name": "scheduler"}, "conditions": [{"type": "Healthy", "status": "False", "error": "connection refused"}]})") ==
        R"j(["scheduler","Unhealthy","","connection refused"])j");
  CHECK(Cells(cs, R"({"metadata": {"name": "x"}})") == R"j(["x","Unknown","",""])j");
}

}  // namespace
}  // namespace minik::api
