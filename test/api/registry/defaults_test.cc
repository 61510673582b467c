#include <catch2/catch.hpp>

#include <string>

#include "api/defaults.h"
#include "api/registry.h"

using minik::JsonDoc;
using minik::ParseJson;
using minik::ToPrettyJson;
using minik::api::ApplyDefaults;
using minik::api::Registry;

namespace {

JsonDoc Parse(const std::string& text) {
  auto doc = ParseJson(text);
  REQUIRE(doc.ok());
  return std::move(doc).value();
}

// Defaults obj (of apiVersion/kind) and compares with want, member order aside.
void ExpectDefaults(const std::string& in, const std::string& want) {
  JsonDoc obj = Parse(in);
  const auto* r = Registry::Builtin().FindByKind(obj["apiVersion"].GetString(), obj["kind"].GetString());
  REQUIRE(r != nullptr);
  ApplyDefaults(*r, obj, obj.GetAllocator());
  JsonDoc expected = Parse(want);
  INFO("got:\n" << ToPrettyJson(obj) << "\nwant:\n" << ToPrettyJson(expected));
  CHECK(obj == expected);
  // Defaulting twice changes nothing.
  JsonDoc again;
  again.CopyFrom(obj, again.GetAllocator());
  ApplyDefaults(*r, again, again.GetAllocator());
  CHECK(again == obj);
}

}  // namespace

TEST_CASE("a bare Pod gets what kubectl get -o yaml shows") {
  ExpectDefaults(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"nginx","namespace":"default"},
    "spec":{"containers":[{"name":"nginx","image":"nginx"}]}})",
                 R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"nginx","namespace":"default"},
    "spec":{"containers":[{"name":"nginx","image":"nginx","imagePullPolicy":"Always","resources":{},
        "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
      "dnsPolicy":"ClusterFirst","enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority",
      "priority":0,"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},
      "serviceAccount":"default","serviceAccountName":"default","terminationGracePeriodSeconds":30,
      "tolerations":[
        {"effect":"NoExecute","key":"node.kubernetes.io/not-ready","operator":"Exists","tolerationSeconds":300},
        {"effect":"NoExecute","key":"node.kubernetes.io/unreachable","operator":"Exists","tolerationSeconds":300}]},
    "status":{"phase":"Pending","qosClass":"BestEffort"}})");
}

TEST_CASE("pod details: pull policy by tag, ports, probes, volumes, requests from limits, QoS") {
  ExpectDefaults(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
    "spec":{"containers":[
      {"name":"a","image":"nginx:1.25","ports":[{"containerPort":80}],
       "resources":{"limits":{"cpu":"500m","memory":"128Mi"}},
       "readinessProbe":{"httpGet":{"port":80}},
       "env":[{"name":"N","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
       "volumeMounts":[{"name":"cfg","mountPath":"/c"}]},
      {"name":"b","image":"registry.local:5000/app:latest"},
      {"name":"c","image":"registry.local:5000/app"},
      {"name":"d","image":"busybox@sha256:abcd","imagePullPolicy":"Never"}],
     "volumes":[{"name":"cfg","configMap":{"name":"x"}},{"name":"tmp"},{"name":"h","hostPath":{"path":"/h"}}],
     "tolerations":[{"operator":"Exists"}]}})",
                 R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
    "spec":{"containers":[
      {"name":"a","image":"nginx:1.25","imagePullPolicy":"IfNotPresent",
       "ports":[{"containerPort":80,"protocol":"TCP"}],
       "resources":{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"500m","memory":"128Mi"}},
       "readinessProbe":{"httpGet":{"port":80,"path":"/","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,
                         "successThreshold":1,"failureThreshold":3},
       "env":[{"name":"N","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],
       "volumeMounts":[{"name":"cfg","mountPath":"/c"}],
       "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"},
      {"name":"b","image":"registry.local:5000/app:latest","imagePullPolicy":"Always","resources":{},
       "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"},
      {"name":"c","image":"registry.local:5000/app","imagePullPolicy":"Always","resources":{},
       "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"},
      {"name":"d","image":"busybox@sha256:abcd","imagePullPolicy":"Never","resources":{},
       "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
     "volumes":[{"name":"cfg","configMap":{"name":"x","defaultMode":420}},{"name":"tmp","emptyDir":{}},
                {"name":"h","hostPath":{"path":"/h","type":""}}],
     "tolerations":[{"operator":"Exists"}],
     "dnsPolicy":"ClusterFirst","enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority",
     "priority":0,"restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},
     "serviceAccount":"default","serviceAccountName":"default","terminationGracePeriodSeconds":30},
    "status":{"phase":"Pending","qosClass":"Burstable"}})");

  // Guaranteed when every container has equal cpu and memory limits.
  JsonDoc pod = Parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[
    {"name":"a","image":"x:1","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}})");
  ApplyDefaults(*Registry::Builtin().FindByKind("v1", "Pod"), pod, pod.GetAllocator());
  CHECK(std::string(pod["status"]["qosClass"].GetString()) == "Guaranteed");
}

TEST_CASE("a bare Deployment gets upstream's defaults") {
  ExpectDefaults(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
    "spec":{"selector":{"matchLabels":{"app":"web"}},
            "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx"}]}}}})",
                 R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
    "spec":{"progressDeadlineSeconds":600,"replicas":1,"revisionHistoryLimit":10,
            "selector":{"matchLabels":{"app":"web"}},
            "strategy":{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"},"type":"RollingUpdate"},
            "template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},
              "spec":{"containers":[{"image":"nginx","imagePullPolicy":"Always","name":"nginx","resources":{},
                  "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
                "dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",
                "securityContext":{},"terminationGracePeriodSeconds":30}}}})");
}

TEST_CASE("a bare Service gets upstream's defaults") {
  ExpectDefaults(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},
    "spec":{"selector":{"app":"web"},"ports":[{"port":80},{"name":"x","port":443,"targetPort":"https"}]}})",
                 R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},
    "spec":{"internalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack",
            "ports":[{"port":80,"protocol":"TCP","targetPort":80},
                     {"name":"x","port":443,"protocol":"TCP","targetPort":"https"}],
            "selector":{"app":"web"},"sessionAffinity":"None","type":"ClusterIP"},
    "status":{"loadBalancer":{}}})");
  ExpectDefaults(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"lb"},
    "spec":{"type":"LoadBalancer","clusterIP":"10.43.0.7","sessionAffinity":"ClientIP","ports":[{"port":80}]}})",
                 R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"lb"},
    "spec":{"type":"LoadBalancer","clusterIP":"10.43.0.7","clusterIPs":["10.43.0.7"],
            "sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}},
            "ports":[{"port":80,"protocol":"TCP","targetPort":80}],"allocateLoadBalancerNodePorts":true,
            "externalTrafficPolicy":"Cluster","internalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],
            "ipFamilyPolicy":"SingleStack"},
    "status":{"loadBalancer":{}}})");
  ExpectDefaults(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"ext"},
    "spec":{"type":"ExternalName","externalName":"example.com"}})",
                 R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"ext"},
    "spec":{"type":"ExternalName","externalName":"example.com","sessionAffinity":"None"},
    "status":{"loadBalancer":{}}})");
}

TEST_CASE("a bare Job gets upstream's defaults, selector and labels") {
  ExpectDefaults(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pi","uid":"u-1"},
    "spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"pi","image":"perl:5.34.0"}]}}}})",
                 R"({"apiVersion":"batch/v1","kind":"Job",
    "metadata":{"name":"pi","uid":"u-1","labels":{"batch.kubernetes.io/controller-uid":"u-1",
        "batch.kubernetes.io/job-name":"pi","controller-uid":"u-1","job-name":"pi"}},
    "spec":{"backoffLimit":6,"completionMode":"NonIndexed","completions":1,
            "parallelism":1,"podReplacementPolicy":"TerminatingOrFailed",
            "selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"u-1"}},"suspend":false,
            "template":{"metadata":{"creationTimestamp":null,"labels":{"batch.kubernetes.io/controller-uid":"u-1",
                  "batch.kubernetes.io/job-name":"pi","controller-uid":"u-1","job-name":"pi"}},
              "spec":{"containers":[{"image":"perl:5.34.0","imagePullPolicy":"IfNotPresent","name":"pi",
                  "resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],
                "dnsPolicy":"ClusterFirst","restartPolicy":"Never","schedulerName":"default-scheduler",
                "securityContext":{},"terminationGracePeriodSeconds":30}}}})"
                 );
}

TEST_CASE("job labels come from the user's template labels when it had some") {
  JsonDoc job = Parse(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","uid":"u"},
    "spec":{"template":{"metadata":{"labels":{"app":"x"}},"spec":{"restartPolicy":"Never",
      "containers":[{"name":"c","image":"busybox"}]}}}})");
  ApplyDefaults(*Registry::Builtin().FindByKind("batch/v1", "Job"), job, job.GetAllocator());
  CHECK(job["metadata"]["labels"].MemberCount() == 1);
  CHECK(job["spec"]["template"]["metadata"]["labels"].MemberCount() == 5);
  // manualSelector: nothing generated.
  JsonDoc manual = Parse(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","uid":"u"},
    "spec":{"manualSelector":true,"selector":{"matchLabels":{"a":"b"}},
      "template":{"metadata":{"labels":{"a":"b"}},"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"b"}]}}}})");
  ApplyDefaults(*Registry::Builtin().FindByKind("batch/v1", "Job"), manual, manual.GetAllocator());
  CHECK(manual["spec"]["template"]["metadata"]["labels"].MemberCount() == 1);
  CHECK(manual["spec"]["selector"]["matchLabels"].MemberCount() == 1);
}

TEST_CASE("other kinds: StatefulSet, DaemonSet, CronJob, Namespace, Secret, PVC, StorageClass, RBAC, HPA") {
  ExpectDefaults(R"({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},
    "spec":{"serviceName":"db","selector":{"matchLabels":{"a":"b"}},
      "template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"pg:16"}]}},
      "volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],
          "resources":{"requests":{"storage":"1Gi"}}}}]}})",
                 R"({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},
    "spec":{"serviceName":"db","selector":{"matchLabels":{"a":"b"}},"podManagementPolicy":"OrderedReady",
      "updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":0}},
      "persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Retain","whenScaled":"Retain"},
      "replicas":1,"revisionHistoryLimit":10,
      "template":{"metadata":{"creationTimestamp":null,"labels":{"a":"b"}},"spec":{"containers":[{"name":"c",
          "image":"pg:16","imagePullPolicy":"IfNotPresent","resources":{},"terminationMessagePath":"/dev/termination-log",
          "terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always",
          "schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}},
      "volumeClaimTemplates":[{"apiVersion":"v1","kind":"PersistentVolumeClaim",
          "metadata":{"name":"data","creationTimestamp":null},"spec":{"accessModes":["ReadWriteOnce"],
          "resources":{"requests":{"storage":"1Gi"}},"volumeMode":"Filesystem"},"status":{"phase":"Pending"}}]}})");

  ExpectDefaults(R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"d"},
    "spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},
      "spec":{"containers":[{"name":"c","image":"x:1"}]}}}})",
                 R"({"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"d"},
    "spec":{"selector":{"matchLabels":{"a":"b"}},"revisionHistoryLimit":10,
      "updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}},
      "template":{"metadata":{"creationTimestamp":null,"labels":{"a":"b"}},"spec":{"containers":[{"name":"c",
          "image":"x:1","imagePullPolicy":"IfNotPresent","resources":{},"terminationMessagePath":"/dev/termination-log",
          "terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always",
          "schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}})");

  ExpectDefaults(R"({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},
    "spec":{"schedule":"*/1 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure",
      "containers":[{"name":"c","image":"busybox:1.28"}]}}}}}})",
                 R"({"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"c"},
    "spec":{"schedule":"*/1 * * * *","concurrencyPolicy":"Allow","failedJobsHistoryLimit":1,
      "successfulJobsHistoryLimit":3,"suspend":false,
      "jobTemplate":{"metadata":{"creationTimestamp":null},"spec":{"template":{"metadata":{"creationTimestamp":null},
        "spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox:1.28",
          "imagePullPolicy":"IfNotPresent","resources":{},"terminationMessagePath":"/dev/termination-log",
          "terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler",
          "securityContext":{},"terminationGracePeriodSeconds":30}}}}}})");

  ExpectDefaults(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}})",
                 R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team",
      "labels":{"kubernetes.io/metadata.name":"team"}},"spec":{"finalizers":["kubernetes"]},
    "status":{"phase":"Active"}})");
  ExpectDefaults(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"Yg=="}})",
                 R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"Yg=="},"type":"Opaque"})");
  ExpectDefaults(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c"},
    "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}})",
                 R"({"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"c"},
    "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}},"volumeMode":"Filesystem"},
    "status":{"phase":"Pending"}})");
  ExpectDefaults(R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local"},
    "provisioner":"rancher.io/local-path"})",
                 R"({"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local"},
    "provisioner":"rancher.io/local-path","reclaimPolicy":"Delete","volumeBindingMode":"Immediate"})");
  ExpectDefaults(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"b"},
    "roleRef":{"kind":"Role","name":"r"},"subjects":[{"kind":"User","name":"u"},
      {"kind":"ServiceAccount","name":"default","namespace":"x"}]})",
                 R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"b"},
    "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"r"},
    "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"u"},
      {"apiGroup":"","kind":"ServiceAccount","name":"default","namespace":"x"}]})");
  ExpectDefaults(R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},
    "spec":{"maxReplicas":5,"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"}}})",
                 R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},
    "spec":{"maxReplicas":5,"minReplicas":1,"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
      "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":80}}}]}})");
  ExpectDefaults(R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"n"},
    "spec":{"podSelector":{},"egress":[{"ports":[{"port":53}]}]}})",
                 R"({"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"n"},
    "spec":{"podSelector":{},"egress":[{"ports":[{"port":53,"protocol":"TCP"}]}],"policyTypes":["Ingress","Egress"]}})");
  ExpectDefaults(R"({"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"hi"},"value":10})",
                 R"({"apiVersion":"scheduling.k8s.io/v1","kind":"PriorityClass","metadata":{"name":"hi"},"value":10,
    "preemptionPolicy":"PreemptLowerPriority"})");
}
