// Server-side printing: column definitions per kind and the dispatch to the per-kind cell
// printers (table_core.cc, table_workloads.cc, table_other.cc). Column names, types, formats,
// priorities and descriptions are upstream's (pkg/printers/internalversion/printers.go, v1.32);
// kinds without a printer get the default table convertor's columns
// (k8s.io/apiserver/pkg/registry/rest/table.go).
#include "api/table.h"

#include <array>

#include "api/table_docs.h"
#include "api/table_internal.h"

namespace minik::api {
namespace {

using table::Row;
namespace doc = table::doc;

enum Printer : int {
  kDefault,
  kPod,
  kPodTemplate,
  kPodDisruptionBudget,
  kReplicationController,
  kReplicaSet,
  kDaemonSet,
  kJob,
  kCronJob,
  kService,
  kIngress,
  kIngressClass,
  kStatefulSet,
  kEndpoints,
  kNode,
  kEvent,
  kEventsV1,
  kNamespace,
  kSecret,
  kServiceAccount,
  kPersistentVolume,
  kPersistentVolumeClaim,
  kComponentStatus,
  kDeployment,
  kHorizontalPodAutoscaler,
  kConfigMap,
  kNetworkPolicy,
  kRoleBinding,
  kClusterRoleBinding,
  kCertificateSigningRequest,
  kLease,
  kStorageClass,
  kControllerRevision,
  kResourceQuota,
  kPriorityClass,
  kRuntimeClass,
  kEndpointSlice,
  kScale,
  kPrinterCount,
};

using PrintFn = void (*)(Row&, const JsonValue&);

struct Entry {
  std::string_view group;
  std::string_view kind;
  Printer printer;
  PrintFn fn;
};

constexpr Entry kEntries[] = {
    {"", "Pod", kPod, table::PrintPod},
    {"", "PodTemplate", kPodTemplate, table::PrintPodTemplate},
    {"", "ReplicationController", kReplicationController, table::PrintReplicationController},
    {"", "Service", kService, table::PrintService},
    {"", "Endpoints", kEndpoints, table::PrintEndpoints},
    {"", "Node", kNode, table::PrintNode},
    {"", "Event", kEvent, table::PrintEvent},
    {"", "Namespace", kNamespace, table::PrintNamespace},
    {"", "Secret", kSecret, table::PrintSecret},
    {"", "ConfigMap", kConfigMap, table::PrintConfigMap},
    {"", "ServiceAccount", kServiceAccount, table::PrintServiceAccount},
    {"", "PersistentVolume", kPersistentVolume, table::PrintPersistentVolume},
    {"", "PersistentVolumeClaim", kPersistentVolumeClaim, table::PrintPersistentVolumeClaim},
    {"", "ResourceQuota", kResourceQuota, table::PrintResourceQuota},
    {"", "ComponentStatus", kComponentStatus, table::PrintComponentStatus},
    {"apps", "Deployment", kDeployment, table::PrintDeployment},
    {"apps", "ReplicaSet", kReplicaSet, table::PrintReplicaSet},
    {"apps", "DaemonSet", kDaemonSet, table::PrintDaemonSet},
    {"apps", "StatefulSet", kStatefulSet, table::PrintStatefulSet},
    {"apps", "ControllerRevision", kControllerRevision, table::PrintControllerRevision},
    {"batch", "Job", kJob, table::PrintJob},
    {"batch", "CronJob", kCronJob, table::PrintCronJob},
    {"autoscaling", "HorizontalPodAutoscaler", kHorizontalPodAutoscaler, table::PrintHorizontalPodAutoscaler},
    {"autoscaling", "Scale", kScale, table::PrintScale},
    {"policy", "PodDisruptionBudget", kPodDisruptionBudget, table::PrintPodDisruptionBudget},
    {"networking.k8s.io", "Ingress", kIngress, table::PrintIngress},
    {"networking.k8s.io", "IngressClass", kIngressClass, table::PrintIngressClass},
    {"networking.k8s.io", "NetworkPolicy", kNetworkPolicy, table::PrintNetworkPolicy},
    {"discovery.k8s.io", "EndpointSlice", kEndpointSlice, table::PrintEndpointSlice},
    {"coordination.k8s.io", "Lease", kLease, table::PrintLease},
    {"events.k8s.io", "Event", kEventsV1, table::PrintEventsV1},
    {"rbac.authorization.k8s.io", "RoleBinding", kRoleBinding, table::PrintRoleBinding},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding", kClusterRoleBinding, table::PrintRoleBinding},
    {"storage.k8s.io", "StorageClass", kStorageClass, table::PrintStorageClass},
    {"scheduling.k8s.io", "PriorityClass", kPriorityClass, table::PrintPriorityClass},
    {"node.k8s.io", "RuntimeClass", kRuntimeClass, table::PrintRuntimeClass},
    {"certificates.k8s.io", "CertificateSigningRequest", kCertificateSigningRequest,
     table::PrintCertificateSigningRequest},
};

const Entry* FindEntry(const ResourceInfo& resource) {
  std::string_view kind = resource.kind;
  for (const Entry& e : kEntries) {
    if (e.kind.size() == kind.size() && e.kind == kind && e.group == resource.group) return &e;
  }
  return nullptr;
}

TableColumn Col(const char* name, const char* type, const char* description, int priority = 0) {
  return TableColumn{name, type, "", description, priority};
}
TableColumn NameCol(int priority = 0) { return TableColumn{"Name", "string", "name", doc::kMetaName, priority}; }
TableColumn AgeCol() { return Col("Age", "string", doc::kMetaCreation); }

constexpr char kContainersDesc[] = "Names of each container in the template.";
constexpr char kImagesDesc[] = "Images referenced by each container in the template.";

using Columns = std::vector<TableColumn>;

std::array<Columns, kPrinterCount> BuildColumns() {
  std::array<Columns, kPrinterCount> c;
  c[kDefault] = {NameCol(), Col("Created At", "date", doc::kMetaCreation)};
  c[kPod] = {
      NameCol(),
      Col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
      Col("Status", "string", "The aggregate status of the containers in this pod."),
      Col("Restarts", "string",
          "The number of times the containers in this pod have been restarted and when the last container in this "
          "pod has restarted."),
      AgeCol(),
      Col("IP", "string", doc::kPodPodip, 1),
      Col("Node", "string", doc::kPodNodename, 1),
      Col("Nominated Node", "string", doc::kPodNominated, 1),
      Col("Readiness Gates", "string", doc::kPodReadinessgates, 1),
  };
  c[kPodTemplate] = {
      NameCol(),
      Col("Containers", "string", kContainersDesc),
      Col("Images", "string", kImagesDesc),
      Col("Pod Labels", "string", "The labels for the pod template."),
  };
  c[kPodDisruptionBudget] = {
      NameCol(),
      Col("Min Available", "string", "The minimum number of pods that must be available."),
      Col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
      Col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
      AgeCol(),
  };
  c[kReplicationController] = {
      NameCol(),
      Col("Desired", "integer", doc::kRcSpecReplicas),
      Col("Current", "integer", doc::kRcStatusReplicas),
      Col("Ready", "integer", doc::kRcStatusReady),
      AgeCol(),
      Col("Containers", "string", kContainersDesc, 1),
      Col("Images", "string", kImagesDesc, 1),
      Col("Selector", "string", doc::kRcSpecSelector, 1),
  };
  c[kReplicaSet] = {
      NameCol(),
      Col("Desired", "integer", doc::kRsSpecReplicas),
      Col("Current", "integer", doc::kRsStatusReplicas),
      Col("Ready", "integer", doc::kRsStatusReady),
      AgeCol(),
      Col("Containers", "string", kContainersDesc, 1),
      Col("Images", "string", kImagesDesc, 1),
      Col("Selector", "string", doc::kRsSpecSelector, 1),
  };
  c[kDaemonSet] = {
      NameCol(),
      Col("Desired", "integer", doc::kDsDesired),
      Col("Current", "integer", doc::kDsCurrent),
      Col("Ready", "integer", doc::kDsReady),
      Col("Up-to-date", "integer", doc::kDsUpdated),
      Col("Available", "integer", doc::kDsAvailable),
      Col("Node Selector", "string", doc::kPodNodeselector),
      AgeCol(),
      Col("Containers", "string", kContainersDesc, 1),
      Col("Images", "string", kImagesDesc, 1),
      Col("Selector", "string", doc::kDsSelector, 1),
  };
  c[kJob] = {
      NameCol(),
      Col("Status", "string", "Status of the job."),
      Col("Completions", "string", doc::kJobSucceeded),
      Col("Duration", "string", "Time required to complete the job."),
      AgeCol(),
      Col("Containers", "string", kContainersDesc, 1),
      Col("Images", "string", kImagesDesc, 1),
      Col("Selector", "string", doc::kJobSelector, 1),
  };
  c[kCronJob] = {
      NameCol(),
      Col("Schedule", "string", doc::kCjSchedule),
      Col("Timezone", "string", doc::kCjTimezone),
      Col("Suspend", "boolean", doc::kCjSuspend),
      Col("Active", "integer", doc::kCjActive),
      Col("Last Schedule", "string", doc::kCjLast),
      AgeCol(),
      Col("Containers", "string", kContainersDesc, 1),
      Col("Images", "string", kImagesDesc, 1),
      Col("Selector", "string", doc::kJobSelector, 1),
  };
  c[kService] = {
      NameCol(),
      Col("Type", "string", doc::kSvcType),
      Col("Cluster-IP", "string", doc::kSvcClusterip),
      Col("External-IP", "string", doc::kSvcExternalips),
      Col("Port(s)", "string", doc::kSvcPorts),
      AgeCol(),
      Col("Selector", "string", doc::kSvcSelector, 1),
  };
  c[kIngress] = {
      NameCol(),
      Col("Class", "string",
          "The name of the IngressClass resource that should be used for additional configuration"),
      Col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
      Col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
      Col("Ports", "string", "Ports of TLS configurations that open"),
      AgeCol(),
  };
  c[kIngressClass] = {
      NameCol(),
      Col("Controller", "string", "Controller that is responsible for handling this class"),
      Col("Parameters", "string", "A reference to a resource with additional parameters"),
      AgeCol(),
  };
  c[kStatefulSet] = {
      NameCol(),
      Col("Ready", "string", "Number of the pod with ready state"),
      AgeCol(),
      Col("Containers", "string", kContainersDesc, 1),
      Col("Images", "string", kImagesDesc, 1),
  };
  c[kEndpoints] = {NameCol(), Col("Endpoints", "string", doc::kEpSubsets), AgeCol()};
  c[kNode] = {
      NameCol(),
      Col("Status", "string", "The status of the node"),
      Col("Roles", "string", "The roles of the node"),
      AgeCol(),
      Col("Version", "string", doc::kNodeKubelet),
      Col("Internal-IP", "string", doc::kNodeAddresses, 1),
      Col("External-IP", "string", doc::kNodeAddresses, 1),
      Col("OS-Image", "string", doc::kNodeOs, 1),
      Col("Kernel-Version", "string", doc::kNodeKernel, 1),
      Col("Container-Runtime", "string", doc::kNodeCr, 1),
  };
  c[kEvent] = {
      Col("Last Seen", "string", doc::kEvLast),
      Col("Type", "string", doc::kEvType),
      Col("Reason", "string", doc::kEvReason),
      Col("Object", "string", doc::kEvInvolved),
      Col("Subobject", "string", doc::kEvFieldpath, 1),
      Col("Source", "string", doc::kEvSource, 1),
      Col("Message", "string", doc::kEvMessage),
      Col("First Seen", "string", doc::kEvFirst, 1),
      Col("Count", "string", doc::kEvCount, 1),
      NameCol(1),
  };
  c[kEventsV1] = c[kEvent];
  c[kNamespace] = {NameCol(), Col("Status", "string", "The status of the namespace"), AgeCol()};
  c[kSecret] = {NameCol(), Col("Type", "string", doc::kSecretType), Col("Data", "string", doc::kSecretData),
                AgeCol()};
  c[kServiceAccount] = {NameCol(), Col("Secrets", "string", doc::kSaSecrets), AgeCol()};
  c[kPersistentVolume] = {
      NameCol(),
      Col("Capacity", "string", doc::kPvCapacity),
      Col("Access Modes", "string", doc::kPvAccess),
      Col("Reclaim Policy", "string", doc::kPvReclaim),
      Col("Status", "string", doc::kPvPhase),
      Col("Claim", "string", doc::kPvClaim),
      Col("StorageClass", "string", "StorageClass of the pv"),
      Col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
      Col("Reason", "string", doc::kPvReason),
      AgeCol(),
      Col("VolumeMode", "string", doc::kPvVolumemode, 1),
  };
  c[kPersistentVolumeClaim] = {
      NameCol(),
      Col("Status", "string", doc::kPvcPhase),
      Col("Volume", "string", doc::kPvcVolumename),
      Col("Capacity", "string", doc::kPvcCapacity),
      Col("Access Modes", "string", doc::kPvcAccess),
      Col("StorageClass", "string", "StorageClass of the pvc"),
      Col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
      AgeCol(),
      Col("VolumeMode", "string", doc::kPvcVolumemode, 1),
  };
  c[kComponentStatus] = {
      NameCol(),
      Col("Status", "string", "Status of the component conditions"),
      Col("Message", "string", "Message of the component conditions"),
      Col("Error", "string", "Error of the component conditions"),
  };
  c[kDeployment] = {
      NameCol(),
      Col("Ready", "string", "Number of the pod with ready state"),
      Col("Up-to-date", "string", doc::kDepUpdated),
      Col("Available", "string", doc::kDepAvailable),
      AgeCol(),
      Col("Containers", "string", kContainersDesc, 1),
      Col("Images", "string", kImagesDesc, 1),
      Col("Selector", "string", doc::kDepSelector, 1),
  };
  c[kHorizontalPodAutoscaler] = {
      NameCol(),
      Col("Reference", "string", doc::kHpaRef),
      Col("Targets", "string", doc::kHpaMetrics),
      Col("MinPods", "string", doc::kHpaMin),
      Col("MaxPods", "string", doc::kHpaMax),
      Col("Replicas", "string", doc::kHpaCurrent),
      AgeCol(),
  };
  c[kConfigMap] = {NameCol(), Col("Data", "string", doc::kCmData), AgeCol()};
  c[kNetworkPolicy] = {NameCol(), Col("Pod-Selector", "string", doc::kNpPodselector), AgeCol()};
  c[kRoleBinding] = {
      NameCol(),
      Col("Role", "string", doc::kRbRoleref),
      AgeCol(),
      Col("Users", "string", "Users in the roleBinding", 1),
      Col("Groups", "string", "Groups in the roleBinding", 1),
      Col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", 1),
  };
  c[kClusterRoleBinding] = {
      NameCol(),
      Col("Role", "string", doc::kCrbRoleref),
      AgeCol(),
      Col("Users", "string", "Users in the clusterRoleBinding", 1),
      Col("Groups", "string", "Groups in the clusterRoleBinding", 1),
      Col("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding", 1),
  };
  c[kCertificateSigningRequest] = {
      NameCol(),
      AgeCol(),
      Col("SignerName", "string", doc::kCsrSigner),
      Col("Requestor", "string", doc::kCsrRequest),
      Col("RequestedDuration", "string", doc::kCsrExpiration),
      Col("Condition", "string", doc::kCsrConditions),
  };
  c[kLease] = {NameCol(), Col("Holder", "string", doc::kLeaseHolder), AgeCol()};
  c[kStorageClass] = {
      NameCol(),
      Col("Provisioner", "string", doc::kScProvisioner),
      Col("ReclaimPolicy", "string", doc::kScReclaim),
      Col("VolumeBindingMode", "string", doc::kScBinding),
      Col("AllowVolumeExpansion", "string", doc::kScExpansion),
      AgeCol(),
  };
  c[kControllerRevision] = {
      NameCol(),
      Col("Controller", "string", "Controller of the object"),
      Col("Revision", "string", doc::kCrRevision),
      AgeCol(),
  };
  // v1.32 order (Age moved last only in v1.33).
  c[kResourceQuota] = {
      NameCol(),
      AgeCol(),
      Col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
      Col("Limit", "string",
          "Limits control the maximum amount of cpu/memory that a container may use independent of contention on "
          "the node."),
  };
  c[kPriorityClass] = {
      NameCol(),
      Col("Value", "integer", doc::kPcValue),
      Col("Global-Default", "boolean", doc::kPcGlobal),
      AgeCol(),
      Col("PreemptionPolicy", "string", doc::kPcPreemption),
  };
  // Upstream describes this column with ObjectMeta's (absent) "handler" doc: an empty string.
  c[kRuntimeClass] = {NameCol(), Col("Handler", "string", doc::kRtcHandler), AgeCol()};
  c[kEndpointSlice] = {
      NameCol(),
      Col("AddressType", "string", doc::kEpsAddresstype),
      Col("Ports", "string", doc::kEpsPorts),
      Col("Endpoints", "string", doc::kEpsEndpoints),
      AgeCol(),
  };
  // Upstream's Scale name column carries no "name" format.
  c[kScale] = {
      Col("Name", "string", doc::kMetaName),
      Col("Desired", "integer", doc::kScaleSpecReplicas),
      Col("Available", "integer", doc::kScaleStatusReplicas),
      AgeCol(),
  };
  return c;
}

const std::array<Columns, kPrinterCount>& AllColumns() {
  static const std::array<Columns, kPrinterCount> columns = BuildColumns();
  return columns;
}

// The default table convertor's row: name and creationTimestamp.UTC().Format(time.RFC3339).
void PrintDefault(Row& r, const JsonValue& o) {
  r.Name(o);
  TimePoint t;
  if (table::Time(table::Get(o, "metadata"), "creationTimestamp", &t)) {
    table::Buf b;
    table::AppendRFC3339(b, t);
    r.Str(b);
  } else {
    r.Str("0001-01-01T00:00:00Z");  // Go's zero time
  }
}

}  // namespace

const std::vector<TableColumn>& TableColumns(const ResourceInfo& resource) {
  const Entry* e = FindEntry(resource);
  return AllColumns()[e ? e->printer : kDefault];
}

bool HasTablePrinter(const ResourceInfo& resource) { return FindEntry(resource) != nullptr; }

void TableCells(const ResourceInfo& resource, const JsonValue& obj, TimePoint now, JsonValue& cells,
                JsonAlloc& alloc) {
  const Entry* e = FindEntry(resource);
  if (!cells.IsArray()) cells.SetArray();
  cells.Reserve(static_cast<rapidjson::SizeType>(cells.Size() + AllColumns()[e ? e->printer : kDefault].size()),
                alloc);
  Row row(cells, alloc, now);
  if (e) {
    e->fn(row, obj);
  } else {
    PrintDefault(row, obj);
  }
}

void SetTableRowConditions(const ResourceInfo& resource, const JsonValue& obj, JsonValue& row, JsonAlloc& alloc) {
  if (!resource.group.empty() || resource.kind != "Pod") return;
  std::string_view phase = table::Str(table::Get(obj, "status"), "phase");
  const char* message;
  if (phase == "Succeeded") {
    message = "The pod has completed successfully.";
  } else if (phase == "Failed") {
    message = "The pod failed.";
  } else {
    return;
  }
  JsonValue cond(rapidjson::kObjectType);
  cond.AddMember("type", "Completed", alloc);
  cond.AddMember("status", "True", alloc);
  cond.AddMember("reason", MakeString(phase, alloc), alloc);
  cond.AddMember("message", rapidjson::StringRef(message), alloc);
  JsonValue conditions(rapidjson::kArrayType);
  conditions.PushBack(std::move(cond), alloc);
  SetMember(row, "conditions", std::move(conditions), alloc);
}

std::string HumanDuration(std::chrono::nanoseconds d) {
  table::Buf b;
  table::AppendHumanDuration(b, d);
  return std::string(b.view());
}

}  // namespace minik::api
