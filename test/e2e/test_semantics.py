"""Object semantics through kubectl and raw API calls: namespaces, graceful deletion, services,
paging, watch resourceVersion rules, dry run, deletecollection, request limits."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ServerTestCase, main, wait_for  # noqa: E402

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  {node}containers:
  - name: c
    image: busybox
"""


class Semantics(ServerTestCase):
    def raw(self, method, path, body=None, content_type="application/json"):
        args = ["-X", method, "-w", "\n%{http_code}"]
        if body is not None:
            args += ["-H", f"Content-Type: {content_type}", "--data-binary", body]
        r = self.server.curl(*args, self.server.url(path))
        out, _, code = r.out.rpartition("\n")
        return int(code), out

    def test_namespace_deletion_removes_contents_then_namespace(self):
        self.kn("create", "configmap", "a")
        self.kn("create", "deployment", "d", "--image=busybox")
        r = self.k("delete", "namespace", self.ns, "--wait=false")
        self.assertIn(f'namespace "{self.ns}" deleted', r.out)
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.k("get", "namespace", self.ns, check=False)
            if r.code != 0:
                break
            time.sleep(0.1)
        self.assertIn(f'namespaces "{self.ns}" not found', r.err)
        self.assertEqual(self.k("get", "cm", "-n", self.ns, "-o", "name").out.strip(), "")

    def test_writes_into_terminating_namespace_are_forbidden(self):
        # A finalizer that nobody removes keeps a ConfigMap, and so the namespace, around.
        self.apply_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n")
        self.k("delete", "namespace", self.ns, "--wait=false")
        phase = self.k("get", "ns", self.ns, "-o", "jsonpath={.status.phase}").out
        self.assertEqual(phase, "Terminating")
        r = self.kn("create", "configmap", "late", check=False)
        self.assertFails(r, f"unable to create new content in namespace {self.ns} because it is being terminated")
        code, body = self.raw("POST", f"/api/v1/namespaces/{self.ns}/configmaps",
                              '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late2"}}')
        self.assertEqual(code, 403)
        self.assertEqual(json.loads(body)["details"]["causes"],
                         [{"reason": "NamespaceTerminating", "message": f"namespace {self.ns} is being terminated",
                           "field": "metadata.namespace"}])
        self.kn("patch", "cm", "held", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        deadline = time.time() + 10
        while time.time() < deadline and self.k("get", "ns", self.ns, check=False).code == 0:
            time.sleep(0.1)
        self.assertNotEqual(self.k("get", "ns", self.ns, check=False).code, 0)

    def test_pod_defaults_and_graceful_deletion(self):
        self.apply_yaml(POD.format(name="unbound", node=""))
        pod = self.kn("get", "pod", "unbound", "-o", "json").json()
        self.assertEqual(pod["spec"]["restartPolicy"], "Always")
        self.assertEqual(pod["spec"]["dnsPolicy"], "ClusterFirst")
        self.assertEqual(pod["spec"]["terminationGracePeriodSeconds"], 30)
        self.assertEqual(pod["spec"]["schedulerName"], "default-scheduler")
        self.assertEqual(pod["spec"]["containers"][0]["imagePullPolicy"], "Always")
        self.assertEqual(pod["status"]["phase"], "Pending")
        self.assertEqual(pod["status"]["qosClass"], "BestEffort")
        # Unscheduled pods go away at once.
        self.kn("delete", "pod", "unbound", "--wait=false")
        self.assertNotEqual(self.kn("get", "pod", "unbound", check=False).code, 0)
        # A pod bound to a node waits for its kubelet: Terminating with the grace period.
        self.apply_yaml(POD.format(name="bound", node="nodeName: somewhere\n  "))
        self.kn("delete", "pod", "bound", "--grace-period=7", "--wait=false")
        pod = self.kn("get", "pod", "bound", "-o", "json").json()
        self.assertEqual(pod["metadata"]["deletionGracePeriodSeconds"], 7)
        self.assertIn("deletionTimestamp", pod["metadata"])
        self.assertIn("Terminating", self.kn("get", "pod", "bound").out)
        # Force deletion removes it now.
        self.kn("delete", "pod", "bound", "--grace-period=0", "--force")
        self.assertNotEqual(self.kn("get", "pod", "bound", check=False).code, 0)

    def test_service_ip_and_node_port_allocation(self):
        self.kn("create", "service", "nodeport", "a", "--tcp=80:8080", "--node-port=30080")
        svc = self.kn("get", "svc", "a", "-o", "json").json()
        self.assertTrue(svc["spec"]["clusterIP"].startswith("10.43."))
        self.assertEqual(svc["spec"]["ports"][0]["nodePort"], 30080)
        self.assertIn("80:30080/TCP", self.kn("get", "svc", "a").out)
        r = self.kn("create", "service", "nodeport", "b", "--tcp=80:8080", "--node-port=30080", check=False)
        self.assertFails(r, "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated")
        ip = svc["spec"]["clusterIP"]
        doc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c"},
               "spec": {"clusterIP": ip, "ports": [{"port": 80}]}}
        r = self.kn("apply", "-f", "-", input=json.dumps(doc), check=False)
        self.assertFails(r, f'failed to allocate IP {ip}: provided IP is already allocated')
        # Deleting the first service frees its port.
        self.kn("delete", "svc", "a")
        self.kn("create", "service", "nodeport", "b", "--tcp=80:8080", "--node-port=30080")

    def test_paging_with_limit_and_continue(self):
        for i in range(7):
            self.kn("create", "configmap", f"page-{i}")
        # The root CA publisher adds kube-root-ca.crt to every namespace: 8 ConfigMaps.
        wait_for(lambda: self.kn("get", "cm", "kube-root-ca.crt", check=False).code == 0, timeout=10,
                 what="kube-root-ca.crt")
        code, body = self.raw("GET", f"/api/v1/namespaces/{self.ns}/configmaps?limit=3")
        self.assertEqual(code, 200)
        first = json.loads(body)
        self.assertEqual(len(first["items"]), 3)
        self.assertEqual(first["metadata"]["remainingItemCount"], 5)
        names = [i["metadata"]["name"] for i in first["items"]]
        cont = first["metadata"]["continue"]
        while cont:
            code, body = self.raw("GET", f"/api/v1/namespaces/{self.ns}/configmaps?limit=3&continue={cont}")
            self.assertEqual(code, 200, body)
            page = json.loads(body)
            names += [i["metadata"]["name"] for i in page["items"]]
            cont = page["metadata"].get("continue")
        self.assertEqual(sorted(n for n in names if n.startswith("page-")), [f"page-{i}" for i in range(7)])
        # kubectl pages the same way.
        out = self.kn("get", "cm", "--chunk-size=2", "-o", "name").out.split()
        self.assertEqual(len([n for n in out if "page-" in n]), 7)
        code, body = self.raw("GET", f"/api/v1/namespaces/{self.ns}/configmaps?limit=3&continue=garbage")
        self.assertEqual(code, 400)

    def test_expired_continue_token_gets_410_with_an_inconsistent_token(self):
        for i in range(3):
            self.kn("create", "configmap", f"ex-{i}")
        code, body = self.raw("GET", f"/api/v1/namespaces/{self.ns}/configmaps?limit=1")
        token = json.loads(body)["metadata"]["continue"]
        # Enough writes elsewhere that the store compacts the listed revision away.
        storm_ns = self.ns + "-storm"
        self.k("create", "namespace", storm_ns)
        tls = os.path.join(self.server.data_dir, "server", "tls")
        r = self.server.run_in_ns([sys.executable, os.path.join(os.path.dirname(__file__), "create_storm.py"),
                                   "127.0.0.1", str(self.server.port), tls, storm_ns, "1500", "16"], timeout=120)
        self.assertEqual(len(r.out.split()), 1500, r.err)
        code, body = self.raw("GET", f"/api/v1/namespaces/{self.ns}/configmaps?limit=1&continue={token}")
        self.assertEqual(code, 410, body)
        status = json.loads(body)
        self.assertEqual(status["reason"], "Expired")
        self.assertTrue(status["message"].startswith("The provided continue parameter is too old to display a "
                                                     "consistent list result."))
        code, body = self.raw("GET", f"/api/v1/namespaces/{self.ns}/configmaps?limit=5&continue={status['metadata']['continue']}")
        self.assertEqual(code, 200, body)
        names = [i["metadata"]["name"] for i in json.loads(body)["items"]]
        self.assertEqual([n for n in names if n.startswith("ex-")][-2:], ["ex-1", "ex-2"])

    def test_watch_from_exact_resource_version_replays(self):
        self.kn("create", "configmap", "w0")
        rv = self.kn("get", "cm", "w0", "-o", "jsonpath={.metadata.resourceVersion}").out
        self.kn("create", "configmap", "w1")
        self.kn("delete", "configmap", "w0")
        code, body = self.raw("GET", f"/api/v1/namespaces/{self.ns}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1")
        events = [json.loads(line) for line in body.splitlines() if line.strip()]
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in events],
                         [("ADDED", "w1"), ("DELETED", "w0")])
        self.assertGreater(int(events[1]["object"]["metadata"]["resourceVersion"]), int(rv))

    def test_dry_run_writes_nothing(self):
        r = self.kn("create", "configmap", "dry", "--dry-run=server", "-o", "json")
        self.assertEqual(r.json()["metadata"]["name"], "dry")
        self.assertNotEqual(self.kn("get", "cm", "dry", check=False).code, 0)

    def test_deletecollection(self):
        for i in range(3):
            self.kn("create", "configmap", f"dc-{i}")
        self.kn("label", "cm", "dc-0", "dc-1", "gone=yes")
        code, body = self.raw("DELETE", f"/api/v1/namespaces/{self.ns}/configmaps?labelSelector=gone%3Dyes")
        self.assertEqual(code, 200, body)
        self.assertEqual(json.loads(body)["kind"], "ConfigMapList")
        left = self.kn("get", "cm", "-o", "name").out.split()
        self.assertIn("configmap/dc-2", left)
        self.assertNotIn("configmap/dc-0", left)

    def test_body_over_3_mib_gets_413(self):
        big = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                          "data": {"x": "y" * (3 * 1024 * 1024 + 10)}})
        path = os.path.join(self.server.tmp, "big.json")
        with open(path, "w") as f:
            f.write(big)
        code, _ = self.raw("POST", f"/api/v1/namespaces/{self.ns}/configmaps", body="@" + path)
        self.assertEqual(code, 413)
        self.assertEqual(self.k("get", "--raw", "/readyz").out, "ok")

    def test_generate_name_and_generation(self):
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
        out = self.kn("create", "-f", "-", input=json.dumps(doc)).out
        self.assertRegex(out, r"configmap/gen-[bcdfghjklmnpqrstvwxz2456789]{5} created")
        self.kn("create", "deployment", "g", "--image=busybox")
        self.assertEqual(self.kn("get", "deploy", "g", "-o", "jsonpath={.metadata.generation}").out, "1")
        self.kn("label", "deploy", "g", "x=y")
        self.assertEqual(self.kn("get", "deploy", "g", "-o", "jsonpath={.metadata.generation}").out, "1")
        self.kn("set", "image", "deployment/g", "busybox=busybox:1.36")
        self.assertEqual(self.kn("get", "deploy", "g", "-o", "jsonpath={.metadata.generation}").out, "2")

    def test_get_all_and_events_tables(self):
        self.kn("create", "deployment", "t", "--image=busybox")
        self.kn("create", "service", "clusterip", "t", "--tcp=80:80")
        out = self.kn("get", "all").out
        self.assertIn("deployment.apps/t", out)
        self.assertIn("service/t", out)
        out = self.k("get", "events", "-A").out
        self.assertIn("LAST SEEN", out.splitlines()[0])

    def test_autoscale_writes_v1_and_both_versions_read_it(self):
        self.kn("create", "deployment", "as", "--image=busybox")
        self.assertIn("horizontalpodautoscaler.autoscaling/as autoscaled",
                      self.kn("autoscale", "deployment", "as", "--min=2", "--max=5", "--cpu-percent=80").out)
        v2 = self.kn("get", "hpa", "as", "-o", "json").json()
        self.assertEqual(v2["apiVersion"], "autoscaling/v2")
        self.assertEqual(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80)
        v1 = self.kn("get", "horizontalpodautoscalers.v1.autoscaling", "as", "-o", "json").json()
        self.assertEqual(v1["apiVersion"], "autoscaling/v1")
        self.assertEqual(v1["spec"]["targetCPUUtilizationPercentage"], 80)
        self.assertEqual(v1["spec"]["minReplicas"], 2)
        self.assertIn("cpu: <unknown>/80%", self.kn("get", "hpa", "as").out)

    def test_quantities_come_back_canonical(self):
        doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"},
               "spec": {"containers": [{"name": "c", "image": "busybox",
                                        "resources": {"requests": {"cpu": 0.5, "memory": "1024Mi"},
                                                      "limits": {"cpu": "1000m", "memory": "2000M"}}}]}}
        self.kn("apply", "-f", "-", input=json.dumps(doc))
        res = self.kn("get", "pod", "q", "-o", "json").json()["spec"]["containers"][0]["resources"]
        self.assertEqual(res, {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2G"}})
        self.assertEqual(self.kn("get", "pod", "q", "-o", "jsonpath={.status.qosClass}").out, "Burstable")

    def test_auth_reviews_are_answered_not_stored(self):
        self.assertEqual(self.kn("auth", "can-i", "create", "pods").out.strip(), "yes")
        who = self.k("auth", "whoami", "-o", "json").json()
        self.assertEqual(who["status"]["userInfo"]["username"], "system:admin")
        self.assertIn("system:masters", who["status"]["userInfo"]["groups"])
        code, body = self.raw("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        self.assertEqual(code, 405, body)


if __name__ == "__main__":
    main()
