"""kubectl against minik server: discovery, CRUD, output formats, selectors, patches, errors."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ServerTestCase, main  # noqa: E402

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  labels:
    app: {app}
data:
  key: "{value}"
"""


class Discovery(ServerTestCase):
    def test_version(self):
        r = self.k("version", "-o", "json")
        v = r.json()
        self.assertEqual(v["serverVersion"]["gitVersion"], "v1.32.0+minik")
        self.assertEqual(v["serverVersion"]["major"], "1")
        self.assertEqual(v["serverVersion"]["minor"], "32")

    def test_api_versions(self):
        out = self.k("api-versions").out.split()
        for gv in ["v1", "apps/v1", "batch/v1", "discovery.k8s.io/v1", "networking.k8s.io/v1",
                   "coordination.k8s.io/v1", "events.k8s.io/v1", "rbac.authorization.k8s.io/v1",
                   "storage.k8s.io/v1", "policy/v1", "autoscaling/v2", "scheduling.k8s.io/v1", "node.k8s.io/v1"]:
            self.assertIn(gv, out)

    def test_api_resources_short_names(self):
        out = self.k("api-resources", "--no-headers").out
        rows = {}
        for line in out.splitlines():
            parts = line.split()
            rows.setdefault(parts[0], parts)  # the core group first (metrics.k8s.io also has pods, nodes)
        expect = {
            "pods": ("po", "v1", "true", "Pod"),
            "services": ("svc", "v1", "true", "Service"),
            "deployments": ("deploy", "apps/v1", "true", "Deployment"),
            "replicasets": ("rs", "apps/v1", "true", "ReplicaSet"),
            "daemonsets": ("ds", "apps/v1", "true", "DaemonSet"),
            "statefulsets": ("sts", "apps/v1", "true", "StatefulSet"),
            "cronjobs": ("cj", "batch/v1", "true", "CronJob"),
            "namespaces": ("ns", "v1", "false", "Namespace"),
            "nodes": ("no", "v1", "false", "Node"),
            "configmaps": ("cm", "v1", "true", "ConfigMap"),
            "persistentvolumeclaims": ("pvc", "v1", "true", "PersistentVolumeClaim"),
            "persistentvolumes": ("pv", "v1", "false", "PersistentVolume"),
            "horizontalpodautoscalers": ("hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"),
            "poddisruptionbudgets": ("pdb", "policy/v1", "true", "PodDisruptionBudget"),
            "ingresses": ("ing", "networking.k8s.io/v1", "true", "Ingress"),
            "networkpolicies": ("netpol", "networking.k8s.io/v1", "true", "NetworkPolicy"),
            "priorityclasses": ("pc", "scheduling.k8s.io/v1", "false", "PriorityClass"),
            "storageclasses": ("sc", "storage.k8s.io/v1", "false", "StorageClass"),
        }
        for name, (short, gv, namespaced, kind) in expect.items():
            self.assertIn(name, rows, out)
            self.assertEqual(rows[name], [name, short, gv, namespaced, kind])
        for name in ["endpoints", "secrets", "serviceaccounts", "resourcequotas", "limitranges",
                     "replicationcontrollers", "podtemplates", "controllerrevisions", "jobs", "endpointslices",
                     "ingressclasses", "leases", "roles", "rolebindings", "clusterroles", "clusterrolebindings",
                     "runtimeclasses", "events"]:
            self.assertIn(name, rows, out)

    def test_cluster_info(self):
        out = self.k("cluster-info").out
        self.assertIn("Kubernetes control plane", out)
        self.assertIn("https://127.0.0.1:6443", out)

    def test_raw_discovery(self):
        api = json.loads(self.k("get", "--raw", "/api").out)
        self.assertEqual(api["kind"], "APIVersions")
        self.assertEqual(api["versions"], ["v1"])
        v1 = json.loads(self.k("get", "--raw", "/api/v1").out)
        names = {r["name"] for r in v1["resources"]}
        self.assertTrue({"pods", "pods/status", "pods/binding", "services", "namespaces"} <= names)
        apps = json.loads(self.k("get", "--raw", "/apis/apps/v1").out)
        self.assertIn("deployments/scale", {r["name"] for r in apps["resources"]})
        self.assertEqual(self.k("get", "--raw", "/healthz").out, "ok")
        self.assertEqual(self.k("get", "--raw", "/livez").out, "ok")

    def test_default_namespaces_and_kubernetes_service(self):
        out = self.k("get", "namespaces", "-o", "name").out.split()
        for ns in ["namespace/default", "namespace/kube-system", "namespace/kube-public", "namespace/kube-node-lease"]:
            self.assertIn(ns, out)
        svc = self.k("get", "svc", "kubernetes", "-n", "default", "-o", "json").json()
        self.assertEqual(svc["spec"]["clusterIP"], "10.43.0.1")
        self.assertEqual(svc["spec"]["ports"][0]["port"], 443)

    def test_unauthenticated_gets_401(self):
        r = self.server.run_in_ns(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                   self.server.url("/api/v1/namespaces")])
        self.assertEqual(r.out, "401")
        r = self.server.run_in_ns(["curl", "-sk", self.server.url("/version")])
        self.assertEqual(json.loads(r.out)["reason"], "Unauthorized")


class Crud(ServerTestCase):
    def test_create_get_formats(self):
        self.assertEqual(self.kn("create", "configmap", "c1", "--from-literal=a=b").out.strip(), "configmap/c1 created")
        out = self.kn("get", "cm", "c1").out.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "DATA", "AGE"])
        self.assertEqual(out[1].split()[:2], ["c1", "1"])
        y = self.kn("get", "cm", "c1", "-o", "yaml").out
        self.assertIn("kind: ConfigMap", y)
        self.assertIn("a: b", y)
        j = self.kn("get", "cm", "c1", "-o", "json").json()
        self.assertEqual(j["data"], {"a": "b"})
        self.assertTrue(j["metadata"]["uid"])
        self.assertTrue(j["metadata"]["resourceVersion"].isdigit())
        self.assertEqual(self.kn("get", "cm", "c1", "-o", "jsonpath={.data.a}").out, "b")
        cc = self.kn("get", "cm", "c1", "-o", "custom-columns=N:.metadata.name,V:.data.a").out.splitlines()
        self.assertEqual(cc[1].split(), ["c1", "b"])

    def test_not_found_and_already_exists(self):
        r = self.kn("get", "cm", "nope", check=False)
        self.assertFails(r, 'Error from server (NotFound): configmaps "nope" not found')
        self.kn("create", "configmap", "dup")
        r = self.kn("create", "configmap", "dup", check=False)
        self.assertFails(r, 'error: failed to create configmap: configmaps "dup" already exists')

    def test_apply_file_dir_recursive_multidoc(self):
        d = tempfile.mkdtemp(dir=self.server.tmp)
        os.makedirs(os.path.join(d, "sub"))
        with open(os.path.join(d, "a.yaml"), "w") as f:
            f.write(CM.format(name="a", app="x", value="1"))
        with open(os.path.join(d, "sub", "b.yaml"), "w") as f:
            f.write(CM.format(name="b", app="x", value="2") + "---\n" + CM.format(name="c", app="other", value="3"))
        out = self.kn("apply", "-f", d).out
        self.assertIn("configmap/a created", out)
        self.assertNotIn("configmap/b", out)
        out = self.kn("apply", "-R", "-f", d).out
        self.assertIn("configmap/a unchanged", out)
        self.assertIn("configmap/b created", out)
        self.assertIn("configmap/c created", out)
        names = self.kn("get", "cm", "-l", "app=x", "-o", "name").out.split()
        self.assertEqual(sorted(names), ["configmap/a", "configmap/b"])
        names = self.kn("get", "cm", "-l", "app!=x,app", "-o", "name").out.split()
        self.assertEqual(names, ["configmap/c"])
        names = self.kn("get", "cm", "-l", "app in (other,z)", "-o", "name").out.split()
        self.assertEqual(names, ["configmap/c"])

    def test_apply_twice_removes_dropped_field(self):
        doc = """apiVersion: v1
kind: ConfigMap
metadata:
  name: three
  labels:
    keep: "1"
    drop: "1"
data:
  a: "1"
  b: "2"
"""
        self.assertIn("configmap/three created", self.apply_yaml(doc).out)
        doc2 = doc.replace('    drop: "1"\n', "").replace('  b: "2"\n', '  c: "3"\n')
        self.assertIn("configmap/three configured", self.apply_yaml(doc2).out)
        j = self.kn("get", "cm", "three", "-o", "json").json()
        self.assertEqual(j["data"], {"a": "1", "c": "3"})
        self.assertEqual(j["metadata"]["labels"], {"keep": "1"})
        self.assertIn("configmap/three unchanged", self.apply_yaml(doc2).out)

    def test_field_selector_and_all_namespaces(self):
        self.kn("create", "configmap", "fs1")
        self.kn("create", "configmap", "fs2")
        out = self.kn("get", "cm", "--field-selector", "metadata.name=fs2", "-o", "name").out.split()
        self.assertEqual(out, ["configmap/fs2"])
        out = self.k("get", "cm", "-A", "--field-selector", f"metadata.namespace={self.ns}", "--no-headers").out
        names = sorted(line.split()[1] for line in out.splitlines())
        self.assertEqual([n for n in names if n != "kube-root-ca.crt"], ["fs1", "fs2"])
        r = self.kn("get", "cm", "--field-selector", "spec.nodeName=x", check=False)
        self.assertFails(r, "field label not supported: spec.nodeName")

    def test_patch_three_types_label_annotate(self):
        self.kn("create", "configmap", "p", "--from-literal=a=1")
        self.kn("patch", "cm", "p", "--type=merge", "-p", '{"data":{"b":"2"}}')
        self.kn("patch", "cm", "p", "--type=json", "-p", '[{"op":"replace","path":"/data/a","value":"9"}]')
        self.kn("patch", "cm", "p", "-p", '{"data":{"c":"3"}}')
        self.assertEqual(self.kn("get", "cm", "p", "-o", "json").json()["data"], {"a": "9", "b": "2", "c": "3"})
        self.assertIn("configmap/p labeled", self.kn("label", "cm", "p", "tier=web").out)
        self.assertIn("configmap/p annotated", self.kn("annotate", "cm", "p", "note=hi").out)
        meta = self.kn("get", "cm", "p", "-o", "json").json()["metadata"]
        self.assertEqual(meta["labels"], {"tier": "web"})
        self.assertEqual(meta["annotations"]["note"], "hi")
        r = self.kn("label", "cm", "p", "tier=db", check=False)
        self.assertFails(r, "'tier' already has a value (web), and --overwrite is false")
        self.kn("label", "cm", "p", "tier-")
        self.assertNotIn("labels", self.kn("get", "cm", "p", "-o", "json").json()["metadata"])

    def test_edit_with_kube_editor(self):
        self.kn("create", "configmap", "ed", "--from-literal=color=red")
        r = self.kn("edit", "cm", "ed", env={"KUBE_EDITOR": "sed -i s/red/blue/"})
        self.assertIn("configmap/ed edited", r.out)
        self.assertEqual(self.kn("get", "cm", "ed", "-o", "jsonpath={.data.color}").out, "blue")

    def test_delete_by_name_label_all(self):
        for n in ["d1", "d2", "d3"]:
            self.kn("create", "configmap", n)
        self.kn("label", "cm", "d1", "x=y")
        self.assertIn('configmap "d1" deleted', self.kn("delete", "cm", "-l", "x=y").out)
        self.assertIn('configmap "d2" deleted', self.kn("delete", "cm", "d2").out)
        self.assertIn('configmap "d3" deleted', self.kn("delete", "cm", "--all").out)
        # kube-root-ca.crt arrives with the ServiceAccount controller; nothing else is left here.
        left = [n for n in self.kn("get", "cm", "-o", "name").out.split() if n != "configmap/kube-root-ca.crt"]
        self.assertEqual(left, [])

    def test_scale_deployment(self):
        self.kn("create", "deployment", "web", "--image=busybox", "--replicas=1")
        self.assertIn("deployment.apps/web scaled", self.kn("scale", "deployment/web", "--replicas=3").out)
        d = self.kn("get", "deploy", "web", "-o", "json").json()
        self.assertEqual(d["spec"]["replicas"], 3)
        self.assertEqual(d["metadata"]["generation"], 2)
        self.assertEqual(d["spec"]["strategy"]["type"], "RollingUpdate")

    def test_diff(self):
        self.apply_yaml(CM.format(name="df", app="x", value="1"))
        r = self.kn("diff", "-f", "-", input=CM.format(name="df", app="x", value="2"), check=False)
        self.assertEqual(r.code, 1, r)
        self.assertIn('-  key: "1"', r.out)
        self.assertIn('+  key: "2"', r.out)
        r = self.kn("diff", "-f", "-", input=CM.format(name="df", app="x", value="1"), check=False)
        self.assertEqual(r.code, 0, r)

    def test_describe_shows_events_section(self):
        self.kn("create", "configmap", "desc", "--from-literal=a=b")
        out = self.kn("describe", "cm", "desc").out
        self.assertIn("Name:", out)
        self.assertIn("desc", out)
        self.assertIn("Events:", out)

    def test_watch_streams_changes(self):
        self.kn("create", "configmap", "w0")
        env = dict(os.environ, KUBECONFIG=self.server.kubeconfig, HOME=self.server.tmp)
        p = subprocess.Popen(["ip", "netns", "exec", self.server.ns, "kubectl", "--cache-dir", self.server.cache,
                              "-n", self.ns, "get", "cm", "-w", "--no-headers"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        seen = []
        reader = threading.Thread(target=lambda: [seen.append(line.split()[0]) for line in p.stdout if line.strip()])
        reader.start()

        def wait_for(name, timeout=15):
            deadline = time.time() + timeout
            while name not in seen and time.time() < deadline:
                time.sleep(0.05)
            return name in seen

        try:
            self.assertTrue(wait_for("w0"), seen)  # the initial list: the watch is established
            self.kn("create", "configmap", "w1")
            self.kn("create", "configmap", "w2")
            self.assertTrue(wait_for("w1") and wait_for("w2"), seen)
        finally:
            p.terminate()
            p.wait(timeout=10)
            reader.join(timeout=10)


class PythonClient(ServerTestCase):
    def test_official_python_client(self):
        script = os.path.join(os.path.dirname(__file__), "python_client_check.py")
        # Debian's python3-kubernetes lives with the system interpreter.
        r = self.server.run_in_ns(["/usr/bin/python3", script, self.server.kubeconfig, self.ns + "-py"], timeout=60)
        self.assertEqual(r.out.strip(), "OK", r)


class Errors(ServerTestCase):
    def test_invalid_name(self):
        r = self.kn("create", "configmap", "Bad_Name", check=False)
        self.assertFails(r, 'error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: '
                            'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case '
                            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
                            "(e.g. 'example.com', regex used for validation is "
                            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
        r = self.kn("apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n", check=False)
        self.assertFails(r, 'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')

    def test_wrong_kind(self):
        r = self.kn("apply", "-f", "-", input="apiVersion: v1\nkind: Nope\nmetadata:\n  name: x\n", check=False)
        self.assertFails(r, 'no matches for kind "Nope" in version "v1"')

    def test_unknown_fields_strict_and_warn(self):
        doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: uf\n  bogus: 1\ndata:\n  a: \"1\"\n"
        r = self.kn("apply", "-f", "-", input=doc, check=False)
        self.assertFails(r, 'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" '
                            'cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.bogus"')
        r = self.kn("apply", "-f", "-", "--validate=warn", input=doc)
        self.assertIn('Warning: unknown field "metadata.bogus"', r.err)
        j = self.kn("get", "cm", "uf", "-o", "json").json()
        self.assertNotIn("bogus", j["metadata"])
        r = self.kn("apply", "-f", "-", input=doc.replace('a: "1"', "a: 1").replace("uf", "uf2"), check=False)
        self.assertFails(r, "json: cannot unmarshal number into Go struct field ConfigMap.data of type string")

    def test_malformed_manifest(self):
        r = self.kn("apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: [\n", check=False)
        self.assertNotEqual(r.code, 0)
        self.assertIn("error", r.err.lower())

    def test_stale_resource_version(self):
        self.kn("create", "configmap", "rv", "--from-literal=a=1")
        j = self.kn("get", "cm", "rv", "-o", "json").json()
        self.kn("patch", "cm", "rv", "-p", '{"data":{"a":"2"}}')
        j["data"]["a"] = "3"
        r = self.kn("replace", "-f", "-", input=json.dumps(j), check=False)
        self.assertFails(r, 'Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on '
                            'configmaps "rv": the object has been modified; please apply your changes to the latest '
                            "version and try again")

    def test_missing_namespace(self):
        r = self.k("create", "configmap", "x", "-n", "does-not-exist", check=False)
        self.assertFails(r, 'error: failed to create configmap: namespaces "does-not-exist" not found')
        r = self.k("apply", "-n", "does-not-exist", "-f", "-",
                   input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", check=False)
        self.assertFails(r, 'namespaces "does-not-exist" not found')

    def test_server_keeps_serving(self):
        self.server.curl("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "{not json",
                         self.server.url(f"/api/v1/namespaces/{self.ns}/configmaps"))
        self.assertEqual(self.k("get", "--raw", "/readyz").out, "ok")


if __name__ == "__main__":
    main()
