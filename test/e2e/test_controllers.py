"""The control plane with real kubectl on hollow nodes (issue 3's checks): Deployments and their
rollouts, DaemonSets, StatefulSets, Jobs, CronJobs, scheduling failures, cordon/drain/taint with
PodDisruptionBudgets, cascading deletion, and namespace deletion. Pods run on `minik agent
--fake-nodes`, which reports them Running without containers."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import HollowAgent, ServerTestCase, main, wait_for  # noqa: E402


def jp(obj, *path, default=None):
    for p in path:
        if isinstance(obj, dict):
            obj = obj.get(p)
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return default
        if obj is None:
            return default
    return obj


class Controllers(ServerTestCase):
    NODES = 3

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.agent = HollowAgent(cls.server, nodes=cls.NODES).start()
        wait_for(lambda: cls.ready_nodes() == cls.NODES, timeout=30, what="hollow nodes Ready")

    @classmethod
    def ready_nodes(cls):
        r = cls.server.kubectl("get", "nodes", "-o", "json", check=False)
        if r.code != 0:
            return 0
        n = 0
        for item in json.loads(r.out)["items"]:
            for c in jp(item, "status", "conditions", default=[]):
                if c["type"] == "Ready" and c["status"] == "True":
                    n += 1
        return n

    def get(self, *args):
        return self.kn("get", *args, "-o", "json").json()

    def pods(self, selector=None):
        args = ["pods"] + (["-l", selector] if selector else [])
        return self.get(*args)["items"]

    def events(self, kind=None, name=None):
        items = self.kn("get", "events", "-o", "json").json()["items"]
        return [e for e in items if (kind is None or e["involvedObject"]["kind"] == kind) and
                (name is None or e["involvedObject"]["name"] == name)]

    def wait_event(self, reason, contains="", kind=None, name=None, timeout=30):
        def find():
            for e in self.events(kind, name):
                if e["reason"] == reason and contains in e["message"]:
                    return e
            return None
        return wait_for(find, timeout=timeout, what=f"event {reason} {contains!r}")

    # -- Deployments ------------------------------------------------------------------------
    def test_deployment_create_rollout_set_image_undo_history_scale(self):
        self.kn("create", "deployment", "web", "--image=nginx:1.25", "--replicas=4")
        r = self.kn("rollout", "status", "deployment/web", "--timeout=60s", timeout=90)
        self.assertIn('deployment "web" successfully rolled out', r.out)
        d = self.get("deployment", "web")
        self.assertEqual(jp(d, "status", "availableReplicas"), 4)
        self.assertEqual(jp(d, "status", "updatedReplicas"), 4)
        self.assertEqual(jp(d, "status", "observedGeneration"), jp(d, "metadata", "generation"))
        conds = {c["type"]: c for c in jp(d, "status", "conditions")}
        self.assertEqual(conds["Available"]["status"], "True")
        self.assertEqual(conds["Available"]["reason"], "MinimumReplicasAvailable")
        self.assertEqual(conds["Progressing"]["reason"], "NewReplicaSetAvailable")
        rs = self.get("rs")["items"]
        self.assertEqual(len(rs), 1)
        rs1 = rs[0]["metadata"]["name"]
        self.assertTrue(rs1.startswith("web-"))
        self.assertEqual(rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1")
        self.wait_event("ScalingReplicaSet", f"Scaled up replica set {rs1}", kind="Deployment", name="web")
        self.assertEqual(len(self.pods("app=web")), 4)
        self.assertTrue(all(jp(p, "spec", "nodeName") for p in self.pods("app=web")))

        # set image rolls without dropping below replicas - maxUnavailable (25% of 4 = 1).
        watch = subprocess.Popen(["ip", "netns", "exec", self.server.ns, "kubectl", "--kubeconfig",
                                  self.server.kubeconfig, "-n", self.ns, "get", "deployment", "web", "-w",
                                  "-o", "jsonpath={.status.availableReplicas}{\"\\n\"}"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            self.kn("set", "image", "deployment/web", "nginx=nginx:1.26")
            r = self.kn("rollout", "status", "deployment/web", "--timeout=60s", timeout=90)
            self.assertIn("successfully rolled out", r.out)
        finally:
            watch.terminate()
            out, _ = watch.communicate(timeout=10)
        seen = [int(x) for x in out.split() if x.strip().isdigit()]
        self.assertTrue(seen, out)
        self.assertGreaterEqual(min(seen), 3, f"availability dropped below 3 during the rollout: {seen}")
        rs = {x["metadata"]["name"]: x for x in self.get("rs")["items"]}
        self.assertEqual(len(rs), 2)
        self.assertEqual(jp(rs[rs1], "spec", "replicas"), 0)
        images = {p["spec"]["containers"][0]["image"] for p in self.pods("app=web") if not jp(p, "metadata", "deletionTimestamp")}
        self.assertEqual(images, {"nginx:1.26"})

        hist = self.kn("rollout", "history", "deployment/web").out
        self.assertIn("REVISION", hist)
        self.assertIn("1 ", hist)
        self.assertIn("2 ", hist)
        r = self.kn("rollout", "undo", "deployment/web", "--to-revision=1")
        self.assertIn("deployment.apps/web rolled back", r.out)
        self.kn("rollout", "status", "deployment/web", "--timeout=60s", timeout=90)
        d = self.get("deployment", "web")
        self.assertEqual(jp(d, "spec", "template", "spec", "containers", 0, "image"), "nginx:1.25")
        rs = {x["metadata"]["name"]: x for x in self.get("rs")["items"]}
        self.assertEqual(rs[rs1]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3")
        self.assertEqual(jp(rs[rs1], "spec", "replicas"), 4)

        self.kn("scale", "deployment/web", "--replicas=6")
        wait_for(lambda: jp(self.get("deployment", "web"), "status", "availableReplicas") == 6, timeout=30,
                 what="6 available")
        self.kn("scale", "deployment/web", "--replicas=2")
        wait_for(lambda: len([p for p in self.pods("app=web") if not jp(p, "metadata", "deletionTimestamp")]) == 2,
                 timeout=30, what="2 pods")

    def test_rollout_pause_resume_restart_and_recreate(self):
        self.kn("create", "deployment", "pr", "--image=nginx:1", "--replicas=2")
        self.kn("rollout", "status", "deployment/pr", "--timeout=60s", timeout=90)
        self.kn("rollout", "pause", "deployment/pr")
        self.kn("set", "image", "deployment/pr", "nginx=nginx:2")
        time.sleep(1)
        self.assertEqual(len(self.get("rs")["items"]), 1, "a paused deployment must not roll")
        conds = {c["type"]: c for c in jp(self.get("deployment", "pr"), "status", "conditions")}
        self.assertEqual(conds["Progressing"]["reason"], "DeploymentPaused")
        self.kn("rollout", "resume", "deployment/pr")
        self.kn("rollout", "status", "deployment/pr", "--timeout=60s", timeout=90)
        self.assertEqual(len(self.get("rs")["items"]), 2)
        self.kn("rollout", "restart", "deployment/pr")
        self.kn("rollout", "status", "deployment/pr", "--timeout=60s", timeout=90)
        self.assertEqual(len(self.get("rs")["items"]), 3)

        self.apply_yaml("""apiVersion: apps/v1
kind: Deployment
metadata: {name: rec}
spec:
  replicas: 2
  strategy: {type: Recreate}
  selector: {matchLabels: {app: rec}}
  template:
    metadata: {labels: {app: rec}}
    spec: {containers: [{name: c, image: "busybox:1"}]}
""")
        self.kn("rollout", "status", "deployment/rec", "--timeout=60s", timeout=90)
        self.kn("set", "image", "deployment/rec", "c=busybox:2")
        self.kn("rollout", "status", "deployment/rec", "--timeout=60s", timeout=90)
        pods = [p for p in self.pods("app=rec") if not jp(p, "metadata", "deletionTimestamp")]
        self.assertEqual({p["spec"]["containers"][0]["image"] for p in pods}, {"busybox:2"})

    def test_progress_deadline_exceeded(self):
        # A pod that can never be scheduled: the rollout stalls and reports it.
        self.apply_yaml("""apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 1
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      containers: [{name: c, image: busybox, resources: {requests: {cpu: "500"}}}]
""")
        r = self.kn("rollout", "status", "deployment/stuck", "--timeout=30s", check=False, timeout=60)
        self.assertNotEqual(r.code, 0)
        self.assertIn('deployment "stuck" exceeded its progress deadline', r.err)

    def test_delete_cascade_background_foreground_orphan(self):
        for name in ("bg", "fg", "or"):
            self.kn("create", "deployment", name, "--image=busybox", "--replicas=2")
        for name in ("bg", "fg", "or"):
            self.kn("rollout", "status", f"deployment/{name}", "--timeout=60s", timeout=90)
        self.kn("delete", "deployment", "bg", "--cascade=background")
        wait_for(lambda: not self.pods("app=bg"), timeout=30, what="bg pods gone")
        self.assertEqual([r for r in self.get("rs")["items"] if r["metadata"]["name"].startswith("bg-")], [])
        self.kn("delete", "deployment", "fg", "--cascade=foreground", timeout=60)
        # Foreground: once the command returns, the dependents are gone too.
        self.assertEqual([r for r in self.get("rs")["items"] if r["metadata"]["name"].startswith("fg-")], [])
        self.kn("delete", "deployment", "or", "--cascade=orphan")
        time.sleep(1)
        rs = [r for r in self.get("rs")["items"] if r["metadata"]["name"].startswith("or-")]
        self.assertEqual(len(rs), 1)
        self.assertFalse(jp(rs[0], "metadata", "ownerReferences"))
        self.assertEqual(len(self.pods("app=or")), 2)

    # -- other workloads --------------------------------------------------------------------
    def test_daemonset_one_pod_per_node_following_nodes(self):
        self.apply_yaml("""apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: busybox}]}
""")
        r = self.kn("rollout", "status", "daemonset/agent", "--timeout=60s", timeout=90)
        self.assertIn('daemon set "agent" successfully rolled out', r.out)
        nodes = sorted(jp(p, "spec", "nodeName") for p in self.pods("app=agent"))
        self.assertEqual(nodes, [f"hollow-node-{i}" for i in range(self.NODES)])
        extra = HollowAgent(self.server, nodes=1, name="ds-extra").start()
        try:
            wait_for(lambda: "ds-extra" in [jp(p, "spec", "nodeName") for p in self.pods("app=agent")], timeout=30,
                     what="a daemon pod on the new node")
            extra.kill()
            self.k("delete", "node", "ds-extra")
            wait_for(lambda: "ds-extra" not in [jp(p, "spec", "nodeName") for p in self.pods("app=agent")],
                     timeout=90, what="the daemon pod of the removed node gone")
        finally:
            extra.kill()
        ds = self.get("ds", "agent")
        self.assertEqual(jp(ds, "status", "desiredNumberScheduled"), self.NODES)

    def test_statefulset_ordered_with_pvcs(self):
        self.apply_yaml("""apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: None, selector: {app: sts}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec: {containers: [{name: c, image: busybox}]}
  volumeClaimTemplates:
  - metadata: {name: www}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""")
        r = self.kn("rollout", "status", "statefulset/web", "--timeout=90s", timeout=120)
        self.assertIn("partitioned roll out complete", r.out + "roll out complete")
        pods = sorted(self.pods("app=sts"), key=lambda p: p["metadata"]["name"])
        self.assertEqual([p["metadata"]["name"] for p in pods], ["web-0", "web-1", "web-2"])
        created = [p["metadata"]["creationTimestamp"] for p in pods]
        self.assertEqual(created, sorted(created))
        pvcs = sorted(p["metadata"]["name"] for p in self.get("pvc")["items"])
        self.assertEqual(pvcs, ["www-web-0", "www-web-1", "www-web-2"])
        creates = [e["message"] for e in self.events("StatefulSet", "web") if e["reason"] == "SuccessfulCreate"]
        self.assertIn("create Pod web-0 in StatefulSet web successful", creates)

    def test_job_completions_and_parallelism(self):
        self.apply_yaml("""apiVersion: batch/v1
kind: Job
metadata: {name: work}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, "true"]}]
""")
        r = self.kn("wait", "--for=condition=complete", "job/work", "--timeout=90s", timeout=120)
        self.assertIn("condition met", r.out)
        j = self.get("job", "work")
        self.assertEqual(jp(j, "status", "succeeded"), 5)
        self.assertTrue(jp(j, "status", "completionTime"))
        self.assertEqual(len(self.pods("job-name=work")), 5)
        self.wait_event("Completed", "Job completed", kind="Job", name="work")

    def test_cronjob_creates_jobs_and_keeps_history(self):
        self.apply_yaml("""apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox}]
""")
        # Two schedules pass within ~2 minutes; only one finished Job is kept.
        wait_for(lambda: len(self.get("jobs")["items"]) >= 1, timeout=75, interval=1, what="a first Job")
        first = self.get("jobs")["items"][0]["metadata"]["name"]
        self.assertTrue(first.startswith("tick-"))
        wait_for(lambda: any(j["metadata"]["name"] != first for j in self.get("jobs")["items"]), timeout=75,
                 interval=1, what="a second Job")
        wait_for(lambda: len(self.get("jobs")["items"]) == 1, timeout=30, interval=1, what="history trimmed to 1")
        cj = self.get("cronjob", "tick")
        self.assertTrue(jp(cj, "status", "lastScheduleTime"))
        self.wait_event("SuccessfulCreate", "Created job", kind="CronJob", name="tick")

    # -- scheduling and nodes ---------------------------------------------------------------
    def test_unschedulable_pod_reports_failed_scheduling(self):
        self.kn("run", "huge", "--image=busybox", "--overrides",
                '{"spec":{"containers":[{"name":"huge","image":"busybox","resources":{"requests":{"cpu":"1000"}}}]}}')
        e = self.wait_event("FailedScheduling", kind="Pod", name="huge")
        self.assertEqual(e["type"], "Warning")
        self.assertIn(f"0/{self.total_nodes()} nodes are available: ", e["message"])
        self.assertIn("Insufficient cpu", e["message"])
        self.assertIn("preemption: ", e["message"])
        p = self.get("pod", "huge")
        self.assertEqual(jp(p, "status", "phase"), "Pending")
        cond = [c for c in jp(p, "status", "conditions") if c["type"] == "PodScheduled"][0]
        self.assertEqual((cond["status"], cond["reason"]), ("False", "Unschedulable"))
        r = self.kn("describe", "pod", "huge").out
        self.assertIn("FailedScheduling", r)

    def total_nodes(self):
        return len(self.k("get", "nodes", "-o", "name").out.split())

    def test_cordon_taint_drain_with_pdb(self):
        node = "hollow-node-2"
        try:
            r = self.k("cordon", node)
            self.assertIn(f"node/{node} cordoned", r.out)
            self.assertTrue(jp(self.k("get", "node", node, "-o", "json").json(), "spec", "unschedulable"))
            self.kn("create", "deployment", "cd", "--image=busybox", "--replicas=3")
            self.kn("rollout", "status", "deployment/cd", "--timeout=60s", timeout=90)
            self.assertNotIn(node, [jp(p, "spec", "nodeName") for p in self.pods("app=cd")])
            self.k("uncordon", node)

            self.k("taint", "nodes", node, "dedicated=special:NoSchedule")
            taints = jp(self.k("get", "node", node, "-o", "json").json(), "spec", "taints")
            self.assertIn({"key": "dedicated", "value": "special", "effect": "NoSchedule"}, taints)
            self.k("taint", "nodes", node, "dedicated=special:NoSchedule-")

            # A pod pinned to the node, protected by a PDB that allows no disruption.
            self.apply_yaml(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: guarded}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: guarded}}}}
  template:
    metadata: {{labels: {{app: guarded}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers: [{{name: c, image: busybox}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: guarded}}
spec:
  minAvailable: 1
  selector: {{matchLabels: {{app: guarded}}}}
""")
            self.kn("rollout", "status", "deployment/guarded", "--timeout=60s", timeout=90)
            wait_for(lambda: jp(self.get("pdb", "guarded"), "status", "currentHealthy") == 1, timeout=30,
                     what="PDB status")
            pdb = self.get("pdb", "guarded")
            self.assertEqual(jp(pdb, "status", "disruptionsAllowed", default=0), 0)
            r = self.k("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=5s",
                       check=False, timeout=60)
            self.assertNotEqual(r.code, 0)
            self.assertIn("Cannot evict pod as it would violate the pod's disruption budget", r.err)
            self.kn("delete", "pdb", "guarded")
            r = self.k("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s", timeout=90)
            self.assertIn(f"node/{node} drained", r.out)
        finally:
            self.k("uncordon", node, check=False)
            self.k("taint", "nodes", node, "dedicated-", check=False)

    def test_namespace_deletion_removes_everything(self):
        self.kn("create", "deployment", "nsd", "--image=busybox", "--replicas=2")
        self.kn("create", "configmap", "c1")
        self.kn("rollout", "status", "deployment/nsd", "--timeout=60s", timeout=90)
        self.k("delete", "namespace", self.ns, timeout=120)
        r = self.k("get", "namespace", self.ns, check=False)
        self.assertIn("not found", r.err)
        self.assertEqual(self.k("get", "pods,rs,deploy,cm", "-n", self.ns, "-o", "name").out.strip(), "")

    def test_default_service_account_and_root_ca(self):
        wait_for(lambda: self.kn("get", "sa", "default", check=False).code == 0, timeout=10, what="default SA")
        ca = wait_for(lambda: self.kn("get", "cm", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}",
                                      check=False).out, timeout=10, what="kube-root-ca.crt")
        self.assertIn("BEGIN CERTIFICATE", ca)

    def test_endpoints_follow_ready_pods(self):
        self.kn("create", "deployment", "ep", "--image=busybox", "--replicas=2", "--port=8080")
        self.kn("expose", "deployment", "ep", "--port=80", "--target-port=8080")
        self.kn("rollout", "status", "deployment/ep", "--timeout=60s", timeout=90)

        def addresses():
            e = self.get("endpoints", "ep")
            return sorted(a["ip"] for s in jp(e, "subsets", default=[]) for a in s.get("addresses", []))
        ips = wait_for(lambda: len(addresses()) == 2 and addresses(), timeout=30, what="2 endpoint addresses")
        self.assertEqual(sorted(p["status"]["podIP"] for p in self.pods("app=ep")), ips)
        slices = self.kn("get", "endpointslices", "-l", "kubernetes.io/service-name=ep", "-o", "json").json()["items"]
        self.assertEqual(len(slices), 1)
        self.assertEqual(sorted(e["addresses"][0] for e in slices[0]["endpoints"]), ips)


class NodeLifecycle(ServerTestCase):
    def test_unreachable_node_pods_move_after_toleration(self):
        stay = HollowAgent(self.server, nodes=2).start()
        doomed = HollowAgent(self.server, nodes=1, name="doomed").start()
        wait_for(lambda: len(self.k("get", "nodes", "-o", "name").out.split()) == 3, timeout=30, what="3 nodes")
        self.apply_yaml("""apiVersion: apps/v1
kind: Deployment
metadata: {name: mover}
spec:
  replicas: 1
  selector: {matchLabels: {app: mover}}
  template:
    metadata: {labels: {app: mover}}
    spec:
      affinity:
        nodeAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            preference: {matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [doomed]}]}
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      containers: [{name: c, image: busybox}]
""")
        self.kn("rollout", "status", "deployment/mover", "--timeout=60s", timeout=90)
        pod = self.kn("get", "pods", "-l", "app=mover", "-o", "json").json()["items"][0]
        self.assertEqual(pod["spec"]["nodeName"], "doomed")
        doomed.kill()  # its lease renewals stop

        def ready_status():
            n = self.k("get", "node", "doomed", "-o", "json").json()
            return [c for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
        cond = wait_for(lambda: ready_status()["status"] == "Unknown" and ready_status(), timeout=90, interval=1,
                        what="doomed Unknown")
        self.assertEqual(cond["reason"], "NodeStatusUnknown")
        self.assertEqual(cond["message"], "Kubelet stopped posting node status.")
        def taints():
            return json.loads(self.k("get", "node", "doomed", "-o", "jsonpath={.spec.taints}").out or "[]")
        wait_for(lambda: any(t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute"
                             for t in taints()), timeout=30, interval=1, what="the unreachable NoExecute taint")

        def moved():
            pods = [p for p in self.kn("get", "pods", "-l", "app=mover", "-o", "json").json()["items"]
                    if not p["metadata"].get("deletionTimestamp")]
            return pods and all(p["spec"].get("nodeName", "doomed") != "doomed" and
                                p["status"].get("phase") == "Running" for p in pods)
        wait_for(moved, timeout=60, interval=1, what="the pod running on another node")
        stay.kill()


if __name__ == "__main__":
    main()
