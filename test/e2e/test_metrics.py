"""Issue 4 checks: `kubectl top` and the agent's metrics, through the API server.

One `minik server` with its embedded agent (own network namespace, cgroup root and data dir), a
busybox pod burning CPU and an idle one with two containers. The node's kubelet endpoints are
reached through nodes/proxy over the agent's tunnel; metrics.k8s.io is built into the server,
scraping every 2 s here (--metrics-resolution).
"""
import json
import os
import re

from harness import HollowAgent, ServerTestCase, main, test_images, wait_for

BUSYBOX = "docker.io/library/busybox:1.36"
NS = "metrics"

PODS = f"""apiVersion: v1
kind: Pod
metadata:
  name: burn
  namespace: {NS}
  labels: {{app: burn}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", "while :; do :; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: idle
  namespace: {NS}
  labels: {{app: idle}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sleep", "3600"]
  - name: side
    image: {BUSYBOX}
    command: ["sleep", "3600"]
"""


def milli(cpu):
    """kubectl top's CPU column ("950m") in millicores."""
    m = re.fullmatch(r"(\d+)m", cpu)
    assert m, cpu
    return int(m.group(1))


def rows(out):
    lines = [l.split() for l in out.strip().splitlines()]
    return lines[0], lines[1:]


class MetricsTest(ServerTestCase):
    agent = True
    extra_args = ("--metrics-resolution", "2s")

    @classmethod
    def setUpClass(cls):
        cls.images = [os.path.join(test_images(), "busybox.oci.tar")]
        super().setUpClass()
        s = cls.server
        wait_for(lambda: s.kubectl("get", "node", "e2e-node", "-o",
                                   "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False).out == "True",
                 timeout=60, what="node e2e-node Ready")
        s.kubectl("create", "namespace", NS)
        s.kubectl("apply", "-f", "-", input=PODS)
        s.kubectl("wait", "-n", NS, "--for=condition=Ready", "pod/burn", "pod/idle", "--timeout=90s", timeout=120)

    def raw(self, path, check=True):
        return self.k("get", "--raw", path, check=check)

    def top_pods(self, *args):
        """kubectl top pod, polled (bounded) until the metrics API has two points for the pods."""
        def attempt():
            r = self.k("top", "pod", *args, check=False)
            return r if r.code == 0 and "burn" in r.out else None
        return wait_for(attempt, timeout=60, interval=0.5, what=f"kubectl top pod {' '.join(args)}")

    # ---- nodes/proxy -----------------------------------------------------------------------

    def test_proxy_healthz(self):
        self.assertEqual(self.raw("/api/v1/nodes/e2e-node/proxy/healthz").out, "ok")

    def test_proxy_metrics_resource(self):
        text = self.raw("/api/v1/nodes/e2e-node/proxy/metrics/resource").out
        samples = {}
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = re.fullmatch(r'([a-z_]+)(\{[^}]*\})? (\S+)( \d+)?', line)
            self.assertIsNotNone(m, line)
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        self.assertIn("# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the "
                      "container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n", text)
        self.assertGreater(samples['container_cpu_usage_seconds_total{container="main",namespace="metrics",pod="burn"}'], 0)
        self.assertGreater(samples['container_memory_working_set_bytes{container="side",namespace="metrics",pod="idle"}'], 0)
        self.assertGreater(samples['container_start_time_seconds{container="main",namespace="metrics",pod="burn"}'], 1.6e9)
        self.assertGreater(samples['pod_cpu_usage_seconds_total{namespace="metrics",pod="burn"}'], 0)
        self.assertGreater(samples['pod_memory_working_set_bytes{namespace="metrics",pod="idle"}'], 0)
        self.assertGreater(samples["node_cpu_usage_seconds_total"], 0)
        self.assertGreater(samples["node_memory_working_set_bytes"], 0)
        self.assertEqual(samples["resource_scrape_error"], 0)

    def test_proxy_agent_metrics(self):
        text = self.raw("/api/v1/nodes/e2e-node/proxy/metrics").out
        values = {}
        for line in text.splitlines():
            if not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        self.assertGreater(values["process_resident_memory_bytes"], 1 << 20)
        self.assertGreater(values["process_cpu_seconds_total"], 0)
        self.assertGreater(values["process_start_time_seconds"], 1.6e9)
        self.assertGreaterEqual(values["kubelet_running_pods"], 2)
        self.assertGreaterEqual(values['kubelet_running_containers{container_state="running"}'], 3)
        self.assertGreaterEqual(values['kubelet_started_containers_total{container_type="container"}'], 3)
        self.assertGreaterEqual(values["kubelet_started_pods_total"], 2)
        self.assertGreaterEqual(values["kubelet_pod_start_duration_seconds_count"], 2)
        self.assertEqual(values['kubelet_pod_start_duration_seconds_bucket{le="+Inf"}'],
                         values["kubelet_pod_start_duration_seconds_count"])
        self.assertIn("# TYPE kubelet_pod_start_duration_seconds histogram\n", text)

    def test_proxy_stats_summary(self):
        summary = json.loads(self.raw("/api/v1/nodes/e2e-node/proxy/stats/summary").out)
        node = summary["node"]
        self.assertEqual(node["nodeName"], "e2e-node")
        self.assertGreater(node["cpu"]["usageCoreNanoSeconds"], 0)
        self.assertGreater(node["memory"]["workingSetBytes"], 0)
        pods = {p["podRef"]["name"]: p for p in summary["pods"] if p["podRef"]["namespace"] == NS}
        self.assertEqual(set(pods), {"burn", "idle"})
        self.assertEqual([c["name"] for c in pods["idle"]["containers"]], ["main", "side"])
        burn = pods["burn"]["containers"][0]
        self.assertGreater(burn["cpu"]["usageCoreNanoSeconds"], 0)
        self.assertGreater(burn["memory"]["workingSetBytes"], 0)
        self.assertGreaterEqual(burn["memory"]["usageBytes"], burn["memory"]["workingSetBytes"])
        # A second read has a rate (usageNanoCores) against the first.
        again = json.loads(self.raw("/api/v1/nodes/e2e-node/proxy/stats/summary").out)
        self.assertIn("usageNanoCores", again["node"]["cpu"])

    def test_proxy_errors(self):
        r = self.raw("/api/v1/nodes/nosuch/proxy/healthz", check=False)
        self.assertFails(r, 'nodes "nosuch" not found')
        r = self.raw("/api/v1/nodes/e2e-node/proxy/nope", check=False)
        self.assertNotEqual(r.code, 0, r)
        self.assertIn("NotFound", r.err)

    def test_z_proxy_to_node_without_tunnel(self):
        # Hollow nodes have no tunnel: upstream's words when the API server cannot reach a kubelet.
        agent = HollowAgent(self.server, nodes=1, name="hollow").start()
        try:
            wait_for(lambda: self.k("get", "node", "hollow", check=False).code == 0, timeout=60, what="hollow node")
            r = self.raw("/api/v1/nodes/hollow/proxy/healthz", check=False)
            self.assertFails(r, "Error from server (ServiceUnavailable): error trying to reach service: ")
        finally:
            agent.kill()

    # ---- metrics.k8s.io ----------------------------------------------------------------------

    def test_discovery_lists_metrics_api(self):
        out = self.k("api-resources", "--api-group=metrics.k8s.io", "--no-headers").out
        got = sorted(tuple(l.split()) for l in out.strip().splitlines())
        self.assertEqual(got, [("nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"),
                               ("pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics")])

    def test_top_nodes(self):
        def attempt():
            r = self.k("top", "nodes", check=False)
            return r if r.code == 0 and "e2e-node" in r.out else None
        r = wait_for(attempt, timeout=60, interval=0.5, what="kubectl top nodes")
        head, body = rows(r.out)
        self.assertEqual(head, ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"])
        row = [x for x in body if x[0] == "e2e-node"][0]
        self.assertGreater(milli(row[1]), 100)  # at least the burning pod
        self.assertRegex(row[2], r"^\d+%$")
        self.assertRegex(row[3], r"^[1-9]\d*Mi$")
        self.assertRegex(row[4], r"^\d+%$")

    def test_top_pods(self):
        head, body = rows(self.top_pods("-n", NS).out)
        self.assertEqual(head, ["NAME", "CPU(cores)", "MEMORY(bytes)"])
        got = {x[0]: x for x in body}
        self.assertEqual(set(got), {"burn", "idle"})
        burn, idle = milli(got["burn"][1]), milli(got["idle"][1])
        self.assertGreaterEqual(burn, 100, got)
        self.assertGreater(burn, idle + 50, got)
        self.assertRegex(got["idle"][2], r"^\d+Mi$")
        # Memory in bytes through the API itself: above zero for both.
        for name in ("burn", "idle"):
            m = json.loads(self.raw(f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods/{name}").out)
            self.assertEqual(m["kind"], "PodMetrics")
            self.assertEqual(m["metadata"]["labels"]["app"], name)
            for c in m["containers"]:
                self.assertRegex(c["usage"]["memory"], r"^[1-9]\d*(Ki|Mi)?$")
                self.assertRegex(c["usage"]["cpu"], r"^\d+(n|u|m)?$")
            self.assertRegex(m["window"], r"^\d+(\.\d+)?m?s$")

    def test_top_pods_containers_all_namespaces_and_selector(self):
        head, body = rows(self.top_pods("-n", NS, "--containers").out)
        self.assertEqual(head, ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"])
        self.assertEqual(sorted((x[0], x[1]) for x in body), [("burn", "main"), ("idle", "main"), ("idle", "side")])
        head, body = rows(self.top_pods("-A").out)
        self.assertEqual(head, ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"])
        self.assertIn((NS, "burn"), [(x[0], x[1]) for x in body])
        head, body = rows(self.top_pods("-n", NS, "-l", "app=burn").out)
        self.assertEqual([x[0] for x in body], ["burn"])
        head, body = rows(self.top_pods("-n", NS, "burn").out)
        self.assertEqual([x[0] for x in body], ["burn"])

    def test_get_metrics_objects_as_tables(self):
        self.top_pods("-n", NS)
        head, body = rows(self.k("get", "pods.metrics.k8s.io", "-n", NS).out)
        self.assertEqual(head, ["NAME", "CPU", "MEMORY", "WINDOW"])
        self.assertEqual(sorted(x[0] for x in body), ["burn", "idle"])
        head, body = rows(self.k("get", "nodes.metrics.k8s.io").out)
        self.assertEqual(head, ["NAME", "CPU", "MEMORY", "WINDOW"])
        self.assertEqual([x[0] for x in body], ["e2e-node"])

    def test_top_pod_that_does_not_exist(self):
        self.top_pods("-n", NS)
        r = self.k("top", "pod", "nosuch", "-n", NS, check=False)
        self.assertFails(r, 'Error from server (NotFound): pods "nosuch" not found')
        r = self.raw(f"/apis/metrics.k8s.io/v1beta1/nodes/nosuch", check=False)
        self.assertFails(r, 'Error from server (NotFound): node "nosuch" not found')


if __name__ == "__main__":
    main()
