// networking, discovery, coordination, rbac, storage, scheduling, node and certificates kinds, and
// the default Name / Created At table of kinds without an upstream printer.
#include "table_test_util.h"

namespace minik::api {
namespace {

using testing::Cells;
using testing::ColumnNames;
using testing::Resource;

TEST_CASE("ingresses and ingress classes") {
  const ResourceInfo ing = Resource("networking.k8s.io", "Ingress");
  CHECK(ColumnNames(ing) == "Name|Class|Hosts|Address|Ports|Age");
  CHECK(Cells(ing, R"({"metadata": {"name": "web", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"ingressClassName": "traefik", "tls": [{"hosts": ["a.example.com"], "secretName": "tls"}],
             "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"},
                       {"host": "d.example.com"}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.6"}, {"ip": "192.168.1.5"}, {"ip": "192.168.1.5"}]}}})") ==
        R"j(["web","traefik","a.example.com,b.example.com,c.example.com + 2 more...","192.168.1.5,192.168.1.6","80, 443","60m"])j");
  CHECK(Cells(ing, R"({"metadata": {"name": "any", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}})") ==
        R"j(["any","<none>","*","","80","60m"])j");

  const ResourceInfo ic = Resource("networking.k8s.io", "IngressClass");
  CHECK(ColumnNames(ic) == "Name|Controller|Parameters|Age");
  CHECK(Cells(ic, R"({"metadata": {"name": "traefik", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"controller": "traefik.io/ingress-controller"}})") ==
        R"j(["traefik","traefik.io/ingress-controller","<none>","60m"])j");
  CHECK(Cells(ic, R"({"metadata": {"name": "nginx", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"controller": "k8s.io/ingress-nginx",
             "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}})") ==
        R"j(["nginx","k8s.io/ingress-nginx","IngressParameters.k8s.example.com/external-lb","60m"])j");
}

TEST_CASE("network policies and endpoint slices") {
  const ResourceInfo np = Resource("networking.k8s.io", "NetworkPolicy");
  CHECK(ColumnNames(np) == "Name|Pod-Selector|Age");
  CHECK(Cells(np, R"({"metadata": {"name": "deny-all", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})") == R"j(["deny-all","<none>","60m"])j");
  CHECK(Cells(np, R"({"metadata": {"name": "db", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"podSelector": {"matchLabels": {"role": "db"}}}})") == R"j(["db","role=db","60m"])j");

  const ResourceInfo eps = Resource("discovery.k8s.io", "EndpointSlice");
  CHECK(ColumnNames(eps) == "Name|AddressType|Ports|Endpoints|Age");
  CHECK(Cells(eps, R"({"metadata": {"name": "web-abc12", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "addressType": "IPv4",
    "endpoints": [{"addresses": ["10.42.0.5"], "conditions": {"ready": true}},
                  {"addresses": ["10.42.0.6", "10.42.0.7"]}, {"addresses": ["10.42.0.8"]}],
    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "named"}, {}]})") ==
        R"j(["web-abc12","IPv4","80,named,*","10.42.0.5,10.42.0.6,10.42.0.7 + 1 more...","60m"])j");
  CHECK(Cells(eps, R"({"metadata": {"name": "empty", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "addressType": "IPv6", "endpoints": [], "ports": null})") == R"j(["empty","IPv6","<unset>","<unset>","60m"])j");
}

TEST_CASE("leases") {
  const ResourceInfo lease = Resource("coordination.k8s.io", "Lease");
  CHECK(ColumnNames(lease) == "Name|Holder|Age");
  CHECK(Cells(lease, R"({"metadata": {"name": "edge-1", "namespace": "kube-node-lease", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"holderIdentity": "edge-1", "leaseDurationSeconds": 40, "renewTime": "2025-12-31T23:59:50.000000Z"}})") ==
        R"j(["edge-1","edge-1","60m"])j");
  CHECK(Cells(lease, R"({"metadata": {"name": "free", "creationTimestamp": "2025-12-31T23:00:00Z"}, "spec": {}})") ==
        R"j(["free","","60m"])j");
}

TEST_CASE("role bindings and cluster role bindings; roles use the default table") {
  const ResourceInfo rb = Resource("rbac.authorization.k8s.io", "RoleBinding");
  CHECK(ColumnNames(rb) == "Name|Role|Age|Users*|Groups*|ServiceAccounts*");
  CHECK(TableColumns(rb)[3].description == "Users in the roleBinding");
  CHECK(Cells(rb, R"({"metadata": {"name": "read", "namespace": "dev", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
    "subjects": [{"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "ci", "namespace": "dev"},
                 {"kind": "Group", "name": "devs"}, {"kind": "User", "name": "bob"},
                 {"kind": "ServiceAccount", "name": "bot", "namespace": "ops"}]})") ==
        R"j(["read","Role/pod-reader","60m","jane, bob","devs","dev/ci, ops/bot"])j");

  const ResourceInfo crb = Resource("rbac.authorization.k8s.io", "ClusterRoleBinding");
  CHECK(TableColumns(crb)[3].description == "Users in the clusterRoleBinding");
  CHECK(Cells(crb, R"({"metadata": {"name": "cluster-admin", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]})") ==
        R"j(["cluster-admin","ClusterRole/cluster-admin","60m","","system:masters",""])j");

  for (const char* kind : {"Role", "ClusterRole"}) {
    const ResourceInfo r = Resource("rbac.authorization.k8s.io", kind);
    CHECK_FALSE(HasTablePrinter(r));
    CHECK(ColumnNames(r) == "Name|Created At");
    CHECK(Cells(r, R"({"metadata": {"name": "admin", "creationTimestamp": "2025-12-31T23:00:00+02:00"}, "rules": []})") ==
          R"j(["admin","2025-12-31T21:00:00Z"])j");
  }
}

TEST_CASE("the default table convertor: Name (format name) and Created At (date)") {
  for (const ResourceInfo& r : {Resource("", "LimitRange"), Resource("", "Binding"), Resource("example.com", "Widget")}) {
    const auto& cols = TableColumns(r);
    REQUIRE(cols.size() == 2);
    CHECK(cols[0].name == "Name");
    CHECK(cols[0].type == "string");
    CHECK(cols[0].format == "name");
    CHECK(cols[0].description.rfind("Name must be unique within a namespace.", 0) == 0);
    CHECK(cols[1].name == "Created At");
    CHECK(cols[1].type == "date");
    CHECK(cols[1].format.empty());
    CHECK(cols[1].description.rfind("CreationTimestamp is a timestamp", 0) == 0);
  }
  CHECK(Cells(Resource("", "LimitRange"), R"({"metadata": {"name": "limits", "creationTimestamp": "2025-12-31T23:00:00.5Z"}})") ==
        R"j(["limits","2025-12-31T23:00:00Z"])j");
  CHECK(Cells(Resource("", "LimitRange"), R"({"metadata": {"name": "no-ts"}})") == R"j(["no-ts","0001-01-01T00:00:00Z"])j");
}

TEST_CASE("storage classes mark the default one") {
  const ResourceInfo sc = Resource("storage.k8s.io", "StorageClass");
  CHECK(ColumnNames(sc) == "Name|Provisioner|ReclaimPolicy|VolumeBindingMode|AllowVolumeExpansion|Age");
  CHECK(Cells(sc, R"({"metadata": {"name": "local-path", "creationTimestamp": "2025-12-31T23:00:00Z",
      "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"})") ==
        R"j(["local-path (default)","rancher.io/local-path","Delete","WaitForFirstConsumer",false,"60m"])j");
  CHECK(Cells(sc, R"({"metadata": {"name": "fast", "creationTimestamp": "2025-12-31T23:00:00Z",
      "annotations": {"storageclass.kubernetes.io/is-default-class": "false"}},
    "provisioner": "csi.example.com", "reclaimPolicy": "Retain", "allowVolumeExpansion": true})") ==
        R"j(["fast","csi.example.com","Retain","Immediate",true,"60m"])j");
  CHECK(Cells(sc, R"({"metadata": {"name": "beta", "creationTimestamp": "2025-12-31T23:00:00Z",
      "annotations": {"storageclass.beta.kubernetes.io/is-default-class": "true"}}, "provisioner": "p"})") ==
        R"j(["beta (default)","p","Delete","Immediate",false,"60m"])j");
}

TEST_CASE("priority classes, runtime classes and CSRs") {
  const ResourceInfo pc = Resource("scheduling.k8s.io", "PriorityClass");
  CHECK(ColumnNames(pc) == "Name|Value|Global-Default|Age|PreemptionPolicy");
  CHECK(Cells(pc, R"({"metadata": {"name": "system-node-critical", "creationTimestamp": "2025-12-01T00:00:00Z"},
    "value": 2000001000, "description": "Used for system critical pods that must not be moved from their current node.",
    "preemptionPolicy": "PreemptLowerPriority"})") ==
        R"j(["system-node-critical",2000001000,false,"31d","PreemptLowerPriority"])j");
  CHECK(Cells(pc, R"({"metadata": {"name": "default", "creationTimestamp": "2025-12-01T00:00:00Z"},
    "value": 1000, "globalDefault": true})") == R"j(["default",1000,true,"31d",""])j");

  const ResourceInfo rtc = Resource("node.k8s.io", "RuntimeClass");
  CHECK(ColumnNames(rtc) == "Name|Handler|Age");
  CHECK(TableColumns(rtc)[1].description.empty());
  CHECK(Cells(rtc, R"({"metadata": {"name": "crun", "creationTimestamp": "2025-12-31T23:00:00Z"}, "handler": "crun"})") ==
        R"j(["crun","crun","60m"])j");

  const ResourceInfo csr = Resource("certificates.k8s.io", "CertificateSigningRequest");
  CHECK(ColumnNames(csr) == "Name|Age|SignerName|Requestor|RequestedDuration|Condition");
  CHECK(Cells(csr, R"({"metadata": {"name": "node-csr-x", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"request": "LS0t", "signerName": "kubernetes.io/kube-apiserver-client-kubelet", "expirationSeconds": 86400,
             "usages": ["client auth"], "username": "system:bootstrap:abcdef"},
    "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0tLS1C"}})") ==
        R"j(["node-csr-x","60m","kubernetes.io/kube-apiserver-client-kubelet","system:bootstrap:abcdef","24h","Approved,Issued"])j");
  CHECK(Cells(csr, R"({"metadata": {"name": "n", "creationTimestamp": "2025-12-31T23:00:00Z"},
    "spec": {"username": "u"},
    "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}})") ==
        R"j(["n","60m","<none>","u","<none>","Denied,Failed"])j");
  CHECK(Cells(csr, R"({"metadata": {"name": "p", "creationTimestamp": "2025-12-31T23:00:00Z"}, "spec": {}})") ==
        R"j(["p","60m","<none>","","<none>","Pending"])j");
}

TEST_CASE("every printer fills one cell per column even for a bare object") {
  const char* bare = R"({"metadata": {"name": "x"}})";
  const std::pair<const char*, const char*> kinds[] = {
      {"", "Pod"},
      {"", "PodTemplate"},
      {"", "ReplicationController"},
      {"", "Service"},
      {"", "Endpoints"},
      {"", "Node"},
      {"", "Event"},
      {"", "Namespace"},
      {"", "Secret"},
      {"", "ConfigMap"},
      {"", "ServiceAccount"},
      {"", "PersistentVolume"},
      {"", "PersistentVolumeClaim"},
      {"", "ResourceQuota"},
      {"", "ComponentStatus"},
      {"", "LimitRange"},
      {"apps", "Deployment"},
      {"apps", "ReplicaSet"},
      {"apps", "DaemonSet"},
      {"apps", "StatefulSet"},
      {"apps", "ControllerRevision"},
      {"batch", "Job"},
      {"batch", "CronJob"},
      {"autoscaling", "HorizontalPodAutoscaler"},
      {"autoscaling", "Scale"},
      {"policy", "PodDisruptionBudget"},
      {"networking.k8s.io", "Ingress"},
      {"networking.k8s.io", "IngressClass"},
      {"networking.k8s.io", "NetworkPolicy"},
      {"discovery.k8s.io", "EndpointSlice"},
      {"coordination.k8s.io", "Lease"},
      {"events.k8s.io", "Event"},
      {"rbac.authorization.k8s.io", "Role"},
      {"rbac.authorization.k8s.io", "RoleBinding"},
      {"rbac.authorization.k8s.io", "ClusterRole"},
      {"rbac.authorization.k8s.io", "ClusterRoleBinding"},
      {"storage.k8s.io", "StorageClass"},
      {"scheduling.k8s.io", "PriorityClass"},
      {"node.k8s.io", "RuntimeClass"},
      {"certificates.k8s.io", "CertificateSigningRequest"},
  };
  for (const auto& [group, kind] : kinds) {
    INFO(group << "/" << kind);
    const ResourceInfo r = Resource(group, kind);
    std::string cells = Cells(r, bare);  // checks the cell count
    const auto& cols = TableColumns(r);
    // Upstream's name column ("Name", format "name") holds the object's name, wherever it is.
    bool found_name = false;
    for (const TableColumn& c : cols) found_name |= c.format == "name" && c.name == "Name";
    CHECK(found_name == (std::string(kind) != "Scale"));
    for (const TableColumn& c : cols) {
      CHECK((c.priority == 0 || c.priority == 1));
      CHECK((c.type == "string" || c.type == "integer" || c.type == "boolean" || c.type == "date"));
    }
  }
  // A same-named kind in another group does not pick up a printer.
  CHECK_FALSE(HasTablePrinter(Resource("example.com", "Pod")));
  CHECK(HasTablePrinter(Resource("", "Pod")));
}

TEST_CASE("TableCells appends to an existing array") {
  auto parsed = ParseJson(R"({"metadata": {"name": "a", "creationTimestamp": "2025-12-31T23:00:00Z"}, "status": {"phase": "Active"}})");
  REQUIRE(parsed.ok());
  JsonDoc cells;
  cells.SetArray();
  cells.PushBack("before", cells.GetAllocator());
  TableCells(Resource("", "Namespace"), *parsed, testing::Now(), cells, cells.GetAllocator());
  CHECK(ToJson(cells) == R"j(["before","a","Active","60m"])j");
}

}  // namespace
}  // namespace minik::api
