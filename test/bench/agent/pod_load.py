"""Pod startup load generator; runs inside the server's network namespace (agent_bench.py starts it
with `ip netns exec`). Stdlib only: HTTPS with the admin client certificate from the data dir.

Creates busybox `sleep` pods in NAMESPACE and times each one through a watch started before the
first create: from the moment the client sends the create request to the watch event that first
shows each milestone (scheduled: spec.nodeName set; kubelet: the first status the kubelet wrote;
running: status.phase Running; ready: the Ready condition True). Every time is the client's
monotonic clock at the arrival of the watch event.

  --mode sequential: one pod at a time, each created when the previous one was seen Running.
  --mode burst: all pods created at once (one connection and thread each, released together).
  --watch-node NODE: also watch NODE and its Lease for the whole run and --hold S seconds after
    the last pod is Running: reports every Ready condition seen and the gaps between renewals.

Prints one JSON object on stdout.
"""
import argparse
import http.client
import json
import ssl
import sys
import threading
import time

BUSYBOX = "docker.io/library/busybox:1.36"


class Api:
    def __init__(self, port, tls_dir):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=f"{tls_dir}/server-ca.crt")
        self.ctx.load_cert_chain(f"{tls_dir}/client-admin.crt", f"{tls_dir}/client-admin.key")

    def conn(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, conn=None):
        c = conn or self.conn()
        c.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, (json.loads(data) if data else None)


class Watch(threading.Thread):
    """Streams a watch; calls on_event(arrival_monotonic, type, object) for each event."""

    def __init__(self, api, path, on_event):
        super().__init__(daemon=True)
        self.api, self.path, self.on_event = api, path, on_event
        self.stop = False
        self.error = None
        status, lst = api.request("GET", path)
        if status != 200:
            raise RuntimeError(f"list {path}: {status} {lst}")
        self.rv = lst["metadata"]["resourceVersion"]
        self.initial = lst["items"]
        self.ready = threading.Event()

    def run(self):
        try:
            while not self.stop:
                sep = "&" if "?" in self.path else "?"
                c = self.api.conn(timeout=None)
                c.request("GET", f"{self.path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={self.rv}")
                r = c.getresponse()
                if r.status != 200:
                    raise RuntimeError(f"watch {self.path}: {r.status} {r.read()[:300]!r}")
                self.ready.set()
                while not self.stop:
                    line = r.readline()
                    if not line:
                        break
                    t = time.monotonic()
                    ev = json.loads(line)
                    obj = ev.get("object", {})
                    rv = obj.get("metadata", {}).get("resourceVersion")
                    if rv:
                        self.rv = rv
                    if ev.get("type") == "ERROR":
                        raise RuntimeError(f"watch {self.path}: {obj}")
                    if ev.get("type") != "BOOKMARK":
                        self.on_event(t, ev["type"], obj)
                c.close()
        except Exception as e:  # noqa: BLE001 - reported in the result
            self.error = repr(e)
            self.ready.set()


def pod_body(name, grace):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "agent-bench"}},
            "spec": {"terminationGracePeriodSeconds": grace,
                     "containers": [{"name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sleep", "3600"]}]}}


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def summary(values):
    if not values:
        return None
    return {"n": len(values), "p50": round(percentile(values, 50), 1), "p90": round(percentile(values, 90), 1),
            "p99": round(percentile(values, 99), 1), "max": round(max(values), 1), "min": round(min(values), 1)}


class PodTracker:
    MILESTONES = ("scheduled", "kubelet", "running", "ready")

    def __init__(self):
        self.lock = threading.Condition()
        self.created = {}   # name -> monotonic time the create request was sent
        self.created_ack = {}
        self.seen = {}      # name -> {milestone: monotonic}
        self.container_ids = {}
        self.events = 0

    def on_event(self, t, typ, pod):
        name = pod["metadata"]["name"]
        st = pod.get("status", {})
        conds = {c["type"]: c.get("status") for c in st.get("conditions", [])}
        with self.lock:
            self.events += 1
            m = self.seen.setdefault(name, {})
            if pod.get("spec", {}).get("nodeName") and "scheduled" not in m:
                m["scheduled"] = t
            if (st.get("containerStatuses") or (set(conds) - {"PodScheduled"})) and "kubelet" not in m:
                m["kubelet"] = t
            if st.get("phase") == "Running" and "running" not in m:
                m["running"] = t
                cid = (st.get("containerStatuses") or [{}])[0].get("containerID", "")
                self.container_ids[name] = cid.split("://", 1)[-1]
            if conds.get("Ready") == "True" and "ready" not in m:
                m["ready"] = t
            self.lock.notify_all()

    def wait(self, names, milestone, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not all(milestone in self.seen.get(n, {}) for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
        return True

    def result(self, names):
        out = {}
        for ms in self.MILESTONES:
            vals = [(self.seen[n][ms] - self.created[n]) * 1000 for n in names if ms in self.seen.get(n, {})]
            out[ms + "_ms"] = summary(vals)
        # Stage by stage: where the time goes.
        stages = {}
        prev = None
        for ms in ("created_ack",) + self.MILESTONES:
            vals = []
            for n in names:
                t = self.created_ack.get(n) if ms == "created_ack" else self.seen.get(n, {}).get(ms)
                p = self.created[n] if prev is None else (self.created_ack.get(n) if prev == "created_ack"
                                                          else self.seen.get(n, {}).get(prev))
                if t is not None and p is not None:
                    vals.append((t - p) * 1000)
            stages[f"{prev or 'create_sent'}->{ms}"] = summary(vals)
            prev = ms
        out["stages_ms"] = stages
        out["not_running"] = [n for n in names if "running" not in self.seen.get(n, {})]
        # Per pod, on the wall clock (seconds since the epoch), to line up with other logs.
        off = time.time() - time.monotonic()
        out["pods"] = {n: dict({"created": round(self.created[n] + off, 6), "container_id": self.container_ids.get(n, "")},
                               **{ms: round(t + off, 6) for ms, t in self.seen.get(n, {}).items()}) for n in names}
        return out


class NodeMonitor:
    def __init__(self, node):
        self.node = node
        self.lock = threading.Lock()
        self.renewals = []  # (arrival monotonic, renewTime)
        self.ready = []     # (arrival monotonic, status, reason)

    def on_lease(self, t, typ, lease):
        if lease["metadata"]["name"] != self.node:
            return
        rt = lease.get("spec", {}).get("renewTime")
        with self.lock:
            if not self.renewals or self.renewals[-1][1] != rt:
                self.renewals.append((t, rt))

    def on_node(self, t, typ, node):
        if node["metadata"]["name"] != self.node:
            return
        for c in node.get("status", {}).get("conditions", []):
            if c["type"] == "Ready":
                with self.lock:
                    if not self.ready or self.ready[-1][1] != c.get("status"):
                        self.ready.append((t, c.get("status"), c.get("reason")))

    def result(self, t0, t_end):
        with self.lock:
            times = [t for t, _ in self.renewals]
            gaps = [(b - a) for a, b in zip(times, times[1:])]
            if times:
                gaps.append(t_end - times[-1])  # time since the last renewal at the end of the run
            return {"lease_renewals_seen": len(self.renewals),
                    "lease_max_gap_s": round(max(gaps), 2) if gaps else None,
                    "lease_renew_times": [rt for _, rt in self.renewals],
                    "ready_transitions": [{"t_s": round(t - t0, 2), "status": s, "reason": r} for t, s, r in self.ready]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6443)
    ap.add_argument("--tls-dir", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--mode", choices=("sequential", "burst"), required=True)
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--prefix", default="p")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for all pods to be Running")
    ap.add_argument("--grace", type=int, default=1, help="terminationGracePeriodSeconds of the pods")
    ap.add_argument("--watch-node", default="")
    ap.add_argument("--hold", type=float, default=0, help="seconds to keep watching the node after the last pod runs")
    a = ap.parse_args()

    api = Api(a.port, a.tls_dir)
    status, _ = api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": a.namespace}})
    if status not in (201, 409):
        raise SystemExit(f"creating namespace {a.namespace}: {status}")
    tracker = PodTracker()
    w = Watch(api, f"/api/v1/namespaces/{a.namespace}/pods", tracker.on_event)
    w.start()
    watches = [w]
    mon = None
    if a.watch_node:
        mon = NodeMonitor(a.watch_node)
        lw = Watch(api, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", mon.on_lease)
        nw = Watch(api, "/api/v1/nodes", mon.on_node)
        for item in lw.initial:
            mon.on_lease(time.monotonic(), "ADDED", item)
        for item in nw.initial:
            mon.on_node(time.monotonic(), "ADDED", item)
        lw.start()
        nw.start()
        watches += [lw, nw]
    for x in watches:
        x.ready.wait(30)
        if x.error:
            raise SystemExit(x.error)

    names = [f"{a.prefix}-{i}" for i in range(a.count)]
    errors = []
    t_start = time.monotonic()

    def create(name, conn=None):
        body = pod_body(name, a.grace)
        tracker.created[name] = time.monotonic()
        status, resp = api.request("POST", f"/api/v1/namespaces/{a.namespace}/pods", body, conn=conn)
        tracker.created_ack[name] = time.monotonic()
        if status != 201:
            errors.append(f"{name}: {status} {resp}")

    if a.mode == "sequential":
        conn = api.conn()
        for n in names:
            create(n, conn)
            if not tracker.wait([n], "running", a.timeout):
                errors.append(f"{n} not Running after {a.timeout}s")
                break
        conn.close()
    else:
        conns = [api.conn() for _ in names]
        for c in conns:
            c.connect()  # TLS handshakes before the clock starts
        gate = threading.Barrier(len(names) + 1)

        def worker(n, c):
            gate.wait()
            try:
                create(n, c)
            except Exception as e:  # noqa: BLE001
                errors.append(f"{n}: {e!r}")

        threads = [threading.Thread(target=worker, args=(n, c)) for n, c in zip(names, conns)]
        for t in threads:
            t.start()
        t_start = time.monotonic()
        gate.wait()
        for t in threads:
            t.join()
        for c in conns:
            c.close()
        if not tracker.wait(names, "running", a.timeout):
            errors.append(f"not all Running after {a.timeout}s")
    tracker.wait(names, "ready", 10)
    last_running = max((tracker.seen.get(n, {}).get("running", 0) for n in names), default=0)
    out = {"mode": a.mode, "count": a.count, "errors": errors,
           "all_running_s": round(last_running - t_start, 3) if last_running else None}
    out.update(tracker.result(names))
    out["watch_events"] = tracker.events
    if mon:
        time.sleep(a.hold)
        out["hold_s"] = a.hold
        out.update(mon.result(t_start, time.monotonic()))
        status, node = api.request("GET", f"/api/v1/nodes/{a.watch_node}")
        out["node_ready_at_end"] = next((c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"),
                                        None) if status == 200 else status
    for x in watches:
        x.stop = True
        if x.error:
            out["errors"].append(x.error)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
