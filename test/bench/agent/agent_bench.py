"""The agent's performance targets of issue 4 (docs/BENCHMARKS.md), on real containers through runc.

Every scenario starts its own `minik server` with test/e2e/harness.py (a private network namespace,
a private mount namespace, a private cgroup root, the offline busybox image of test/images/build.sh
in the air-gap images directory) and tears it all down afterwards (shims, containers, cgroups,
mounts, namespace, files), as the e2e tests do.

  runc      runc alone, without minik: create + start of a busybox `sleep`, one at a time, 30 at
            once, and 30 through 8 workers (the agent's pool), for comparison.
  startup   embedded agent: a warm-up pod, then 30 pods one after the other and 30 pods created
            at once; each timed from its create request to the watch event showing it Running.
  rss       `minik server --disable-agent` plus a separate `minik agent` in the same namespaces:
            the agent's RSS/PSS idle, with 10 and with 30 running pods, after deleting them and
            after --churn cycles of 30 more; every shim's RSS and PSS (/proc/PID/smaps_rollup).
  max-pods  embedded agent: 110 pods created at once; time until all are Running, while watching
            the node's Ready condition and its Lease renewals, and for --hold seconds afterwards.
  metrics   `minik server --disable-agent` plus a separate `minik agent` with --metrics-pods pods:
            the CPU one /metrics/resource (and /stats/summary) scrape costs the agent and the
            server (--scrapes requests through nodes/proxy on one connection), then the server's
            and the agent's CPU over --idle-seconds with the metrics scraper off, and on (15 s
            resolution, kept on by a `kubectl top` request).

Usage (as root): agent_bench.py [--minik BIN] [--trace-runc] [SCENARIO ...]   (default: all four)
Prints `key: value` lines; --json FILE also writes the full results.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
SCENARIOS = ["runc", "startup", "rss", "max-pods", "metrics"]
ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"of {SCENARIOS} (default: all)")
ap.add_argument("--minik", default=os.path.join(HERE, "..", "..", "..", "build", "minik"))
ap.add_argument("--count", type=int, default=30, help="pods of the startup runs (default 30)")
ap.add_argument("--rss-pods", default="10,30", help="pod counts of the rss scenario (default 10,30)")
ap.add_argument("--max-pods", type=int, default=110)
ap.add_argument("--hold", type=float, default=60, help="seconds max-pods keeps watching the node (default 60)")
ap.add_argument("--settle", type=float, default=5, help="seconds to wait before reading memory (default 5)")
ap.add_argument("--churn", type=int, default=3,
                help="rss: cycles of creating and deleting the largest pod count afterwards (default 3)")
ap.add_argument("--metrics-pods", type=int, default=30, help="pods of the metrics scenario (default 30)")
ap.add_argument("--scrapes", type=int, default=200, help="scrapes the metrics scenario times (default 200)")
ap.add_argument("--idle-seconds", type=float, default=60, help="metrics: seconds of each idle measure (default 60)")
ap.add_argument("--trace-runc", action="store_true",
                help="run the OCI runtime through a wrapper that logs each runc call's duration")
ap.add_argument("--json", default="", help="write the full results to this file")
ap.add_argument("--runc-run", action="store_true",
                help="runc scenario: one `runc run --detach` per container (what the shim runs) instead of create + start")
ARGS = ap.parse_args()
ARGS.scenarios = ARGS.scenarios or SCENARIOS
for _sc in ARGS.scenarios:
    if _sc not in SCENARIOS:
        ap.error(f"unknown scenario {_sc}")
os.environ["MINIK_BIN"] = os.path.abspath(ARGS.minik)

import harness  # noqa: E402  (reads MINIK_BIN at import)
from harness import HollowAgent, MinikServer, test_images, wait_for  # noqa: E402

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
RESULTS = {}
NODE = "e2e-node"  # the harness' node name for the embedded agent


def out(key, value):
    RESULTS[key] = value
    print(f"{key}: {value}", flush=True)


# -- runc tracing -------------------------------------------------------------------------------
class RuncTrace:
    """A directory with `runc-timed`, a wrapper that runs the real runc and appends
    `start_ns end_ns exit_code subcommand` to a log for every call."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="minik-bench-runc-")
        self.log = os.path.join(self.dir, "calls.log")
        runc = shutil.which("runc")
        if not runc:
            raise SystemExit("runc not found on PATH")
        with open(os.path.join(self.dir, "runc-timed"), "w") as f:
            # The subcommand is the first word that is neither a global flag nor its value.
            f.write(f"""#!/bin/sh
s=$(date +%s%N)
{runc} "$@"
rc=$?
e=$(date +%s%N)
sub=""
skip=0
for a in "$@"; do
  if [ $skip = 1 ]; then skip=0; continue; fi
  case "$a" in --root|--log|--log-format|--criu) skip=1 ;; -*) ;; *) sub=$a; break ;; esac
done
for last in "$@"; do :; done
echo "$s $e $rc $sub $last | $*" >> {self.log}
exit $rc
""")
        os.chmod(os.path.join(self.dir, "runc-timed"), 0o755)

    def calls(self):
        try:
            with open(self.log) as f:
                rows = [line.split(" | ", 1)[0].split() for line in f if line.strip()]
        except OSError:
            return []
        return [(int(r[0]), int(r[1]), int(r[2]), r[3] if len(r) > 3 else "", r[4] if len(r) > 4 else "")
                for r in rows]

    def reset(self):
        if os.environ.get("MINIK_BENCH_KEEP_RUNC_LOG"):
            shutil.copy(self.log, self.log + f".{time.monotonic_ns()}")
        open(self.log, "w").close()

    def summary(self):
        by = {}
        for s, e, _rc, sub, _id in self.calls():
            by.setdefault(sub, []).append((e - s) / 1e6)
        return {k: summarize(v) for k, v in sorted(by.items())}

    def remove(self):
        keep = os.environ.get("MINIK_BENCH_KEEP_RUNC_LOG")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for f in os.listdir(self.dir):
                if f.startswith("calls.log"):
                    shutil.copy(os.path.join(self.dir, f), keep)
        shutil.rmtree(self.dir, ignore_errors=True)


def summarize(values):
    if not values:
        return None
    v = sorted(values)

    def pct(p):
        return v[max(0, min(len(v) - 1, -(-p * len(v) // 100) - 1))]
    return {"n": len(v), "p50": round(pct(50), 1), "p99": round(pct(99), 1), "max": round(v[-1], 1)}


# -- memory -------------------------------------------------------------------------------------
def smaps(pid):
    """kB figures of /proc/PID/smaps_rollup (Rss, Pss, Pss_Anon, Pss_File, ...)."""
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                vals[parts[0].rstrip(":")] = int(parts[1])
    return vals


def mb(kb):
    return round(kb / 1024, 2)


def shim_pids(server):
    d = os.path.join(server.data_dir, "agent", "containers")
    pids = []
    for c in (os.listdir(d) if os.path.isdir(d) else []):
        try:
            with open(os.path.join(d, c, "shim.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            pids.append(pid)
        except (OSError, ValueError):
            pass
    return pids


def cpu_seconds(pid, children=False):
    """utime + stime (and with children, the reaped children's cutime + cstime) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def container_cpu(server):
    """Per running container: (shim's own CPU, its reaped children's: the OCI runtime calls, and
    the container process's own, which includes runc init before it exec'd the command), seconds."""
    d = os.path.join(server.data_dir, "agent", "containers")
    rows = []
    for c in (os.listdir(d) if os.path.isdir(d) else []):
        try:
            with open(os.path.join(d, c, "shim.pid")) as f:
                shim = int(f.read().strip())
            with open(os.path.join(d, c, "pid")) as f:
                pid = int(f.read().strip())
            own = cpu_seconds(shim)
            rows.append((own, cpu_seconds(shim, children=True) - own, cpu_seconds(pid)))
        except (OSError, ValueError):
            pass
    return rows


# -- servers ------------------------------------------------------------------------------------
class AgentProcess(HollowAgent):
    """`minik agent` running real containers, joined to a `--disable-agent` server: in the server's
    network and mount namespaces, with the server's data dir (the agent keeps its state under
    <data-dir>/agent, where the harness cleans up) and cgroup root."""

    def start(self):
        s = self.server
        with open(os.path.join(s.data_dir, "server", "token")) as f:
            token = f.read().strip()
        cmd = ["nsenter", f"--mount=/proc/{s.mnt_holder.pid}/ns/mnt", f"--net=/run/netns/{s.ns}", "--",
               harness.MINIK, "agent", "--join", f"https://127.0.0.1:{s.port}", "--token", token,
               "--data-dir", s.data_dir, "--cgroup-root", s.cgroup_root, "--pod-logs-dir", s.pod_logs_dir,
               "--node-name", self.name] + self.extra_args
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        s.agents.append(self)
        return self


def runtime_args():
    return ["--runtime", "runc-timed"] if TRACE else []


def new_server(extra=()):
    return MinikServer(list(extra), agent=True, images=[os.path.join(test_images(), "busybox.oci.tar")])


def wait_node_ready(server, node):
    wait_for(lambda: server.kubectl("get", "node", node, "-o",
                                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                                    check=False).out == "True", timeout=60, what=f"node {node} Ready")


def load(server, namespace, mode, count, timeout=300, extra=()):
    """Runs pod_load.py in the server's network namespace; returns its JSON result."""
    cmd = [PYTHON, os.path.join(HERE, "pod_load.py"), "--port", str(server.port),
           "--tls-dir", os.path.join(server.data_dir, "server", "tls"), "--namespace", namespace,
           "--mode", mode, "--count", str(count), "--timeout", str(timeout)] + list(extra)
    r = server.run_in_ns(cmd, timeout=timeout + ARGS.hold + 120)
    if r.code != 0:
        raise RuntimeError(f"pod_load failed: {r.err}\n{server.logs()[-3000:]}")
    res = json.loads(r.out)
    if res["errors"]:
        print(f"  errors: {res['errors'][:5]}", flush=True)
    return res


def delete_namespace(server, namespace, timeout=180):
    """Deletes the namespace(s) (a name or a list) and waits until no container is left."""
    names = [namespace] if isinstance(namespace, str) else list(namespace)
    server.kubectl("delete", "namespace", *names, "--wait=true", f"--timeout={timeout}s", timeout=timeout + 30)
    containers = os.path.join(server.data_dir, "agent", "containers")
    wait_for(lambda: not os.listdir(containers), timeout=60, what="every container removed")


def latency_line(res, key="running_ms"):
    s = res[key]
    return f"p50 {s['p50']} ms, p90 {s['p90']} ms, p99 {s['p99']} ms, max {s['max']} ms (n={s['n']})" if s else "none"


def report_stages(prefix, res):
    for stage, s in res["stages_ms"].items():
        if s:
            out(f"{prefix}_stage {stage}", f"p50 {s['p50']} ms, p99 {s['p99']} ms, max {s['max']} ms")


def reset_trace():
    if TRACE:
        TRACE.reset()


def report_runc(prefix, res=None, server=None):
    """The runc calls since the last reset; with res (a pod_load result), each pod's time from the
    kubelet's first status to Running split around its container's `runc create` and `runc start`,
    and (with server) around the moment the runtime wrote the shim's spec.json (its mtime), just
    before it started the shim."""
    if not TRACE:
        return
    for sub, s in TRACE.summary().items():
        out(f"{prefix}_runc {sub}", f"n={s['n']} p50 {s['p50']} ms, p99 {s['p99']} ms, max {s['max']} ms")
    if res:
        calls = {}
        for s, e, rc, sub, cid in TRACE.calls():
            if sub in ("create", "start", "run") and rc == 0:
                calls.setdefault(cid, {})[sub] = (s / 1e9, e / 1e9)
                if sub == "run":  # `runc run --detach`: create and start in one call
                    calls[cid]["create"] = (s / 1e9, e / 1e9)
                    calls[cid]["start"] = (e / 1e9, e / 1e9)
        parts = {"kubelet->runc_create": [], "kubelet->shim_spec_written": [], "shim_spec_written->runc_create": [],
                 "runc_create": [], "runc_create->runc_start": [], "runc_start": [],
                 "runc_start_done->running": []}
        if any("run" in c for c in calls.values()):
            parts = {k.replace("runc_create", "runc_run"): v for k, v in parts.items()
                     if k not in ("runc_create->runc_start", "runc_start")}
        for p in res["pods"].values():
            c = calls.get(p.get("container_id"), {})
            if "create" not in c or "start" not in c or "kubelet" not in p or "running" not in p:
                continue
            if "run" in c:
                parts["kubelet->runc_run"].append((c["run"][0] - p["kubelet"]) * 1000)
                try:
                    spec_t = os.stat(os.path.join(server.data_dir, "agent", "containers", p["container_id"],
                                                  "spec.json")).st_mtime_ns / 1e9 if server else None
                except OSError:
                    spec_t = None
                if spec_t:
                    parts["kubelet->shim_spec_written"].append((spec_t - p["kubelet"]) * 1000)
                    parts["shim_spec_written->runc_run"].append((c["run"][0] - spec_t) * 1000)
                parts["runc_run"].append((c["run"][1] - c["run"][0]) * 1000)
                parts["runc_start_done->running"].append((p["running"] - c["run"][1]) * 1000)
                continue
            parts["kubelet->runc_create"].append((c["create"][0] - p["kubelet"]) * 1000)
            try:
                spec_t = os.stat(os.path.join(server.data_dir, "agent", "containers", p["container_id"],
                                              "spec.json")).st_mtime_ns / 1e9 if server else None
            except OSError:
                spec_t = None
            if spec_t:
                parts["kubelet->shim_spec_written"].append((spec_t - p["kubelet"]) * 1000)
                parts["shim_spec_written->runc_create"].append((c["create"][0] - spec_t) * 1000)
            parts["runc_create"].append((c["create"][1] - c["create"][0]) * 1000)
            parts["runc_create->runc_start"].append((c["start"][0] - c["create"][1]) * 1000)
            parts["runc_start"].append((c["start"][1] - c["start"][0]) * 1000)
            parts["runc_start_done->running"].append((p["running"] - c["start"][1]) * 1000)
        for k, v in parts.items():
            s = summarize(v)
            if s:
                out(f"{prefix}_split {k}", f"p50 {s['p50']} ms, p99 {s['p99']} ms, max {s['max']} ms (n={s['n']})")
    TRACE.reset()


# -- scenarios ----------------------------------------------------------------------------------
def scenario_startup():
    with new_server(runtime_args()) as s:
        wait_node_ready(s, NODE)
        res = load(s, "warmup", "sequential", 1)
        out("startup_first_pod_after_boot_ms", res["running_ms"]["max"] if res["running_ms"] else None)
        delete_namespace(s, "warmup")
        reset_trace()
        res = load(s, "seq", "sequential", ARGS.count)
        RESULTS["startup_sequential"] = res
        out(f"startup_single_pod_{ARGS.count}_sequential", latency_line(res))
        report_stages("startup_single", res)
        report_runc("startup_single", res, s)
        delete_namespace(s, "seq")
        reset_trace()
        res = load(s, "burst", "burst", ARGS.count)
        RESULTS["startup_burst"] = res
        out(f"startup_{ARGS.count}_at_once", latency_line(res) + f"; all Running after {res['all_running_s']} s")
        report_stages("startup_burst", res)
        report_runc("startup_burst", res, s)
        delete_namespace(s, "burst")


def memory_snapshot(label, server, agent_pid):
    time.sleep(ARGS.settle)
    a = smaps(agent_pid)
    srv = smaps(server.proc.pid)
    shims = []
    for pid in shim_pids(server):
        try:
            shims.append(smaps(pid))
        except OSError:
            pass
    snap = {"agent_rss_kb": a["Rss"], "agent_pss_kb": a["Pss"], "agent_anon_kb": a.get("Anonymous", 0),
            "server_rss_kb": srv["Rss"], "shims": len(shims)}
    out(f"rss_{label}_agent", f"RSS {mb(a['Rss'])} MB, PSS {mb(a['Pss'])} MB, anonymous {mb(a.get('Anonymous', 0))} MB"
        f" (server: RSS {mb(srv['Rss'])} MB)")
    if shims:
        rss = [x["Rss"] for x in shims]
        pss = [x["Pss"] for x in shims]
        anon = [x.get("Anonymous", 0) for x in shims]
        snap.update(shim_rss_kb=[min(rss), sorted(rss)[len(rss) // 2], max(rss)],
                    shim_pss_kb=[min(pss), sorted(pss)[len(pss) // 2], max(pss)], shim_pss_total_kb=sum(pss))
        out(f"rss_{label}_shims", f"{len(shims)} shims: RSS min/median/max {mb(min(rss))}/{mb(sorted(rss)[len(rss) // 2])}/"
            f"{mb(max(rss))} MB, PSS min/median/max {mb(min(pss))}/{mb(sorted(pss)[len(pss) // 2])}/{mb(max(pss))} MB, "
            f"anonymous median {mb(sorted(anon)[len(anon) // 2])} MB; PSS of all shims {mb(sum(pss))} MB")
    RESULTS[f"rss_{label}"] = snap
    return snap


def scenario_rss():
    with new_server(["--disable-agent"] + runtime_args()) as s:
        agent = AgentProcess(s, name="bench-node", extra_args=runtime_args()).start()
        wait_node_ready(s, "bench-node")
        # The air-gap import happens at start; a warm-up pod makes sure it is done.
        load(s, "warmup", "sequential", 1)
        delete_namespace(s, "warmup")
        idle = memory_snapshot("idle", s, agent.proc.pid)
        c0 = cpu_seconds(agent.proc.pid)
        time.sleep(20)
        out("rss_idle_agent_cpu_percent_of_a_core", round(100 * (cpu_seconds(agent.proc.pid) - c0) / 20, 3))
        have = 0
        counts = [int(x) for x in ARGS.rss_pods.split(",")]
        for n in counts:
            a0 = cpu_seconds(agent.proc.pid)
            res = load(s, f"rss{n}", "burst", n - have)
            if have == 0:
                # CPU per pod start, all of it: the agent's, the shim's, runc create + start (reaped
                # by the shim) and the container's own before its command (runc init).
                cpu = container_cpu(s)
                k = len(cpu) or 1
                out(f"rss_cpu_per_pod_start_ms", f"agent {round(1000 * (cpu_seconds(agent.proc.pid) - a0) / n, 1)}, "
                    f"shim {round(1000 * sum(x[0] for x in cpu) / k, 1)}, runc (create+start or run) "
                    f"{round(1000 * sum(x[1] for x in cpu) / k, 1)}, container before exec (runc init) "
                    f"{round(1000 * sum(x[2] for x in cpu) / k, 1)} (ticks of {round(1000 / os.sysconf('SC_CLK_TCK'))} ms)")
            have = n
            if res["not_running"]:
                raise RuntimeError(f"pods not Running: {res['not_running']}")
            snap = memory_snapshot(f"{n}_pods", s, agent.proc.pid)
            # Not PSS: the agent shares the binary's pages with the shims, so its PSS falls as they come.
            out(f"rss_{n}_pods_agent_increment_per_pod", f"{round((snap['agent_rss_kb'] - idle['agent_rss_kb']) / n, 1)} kB RSS, "
                f"{round((snap['agent_anon_kb'] - idle['agent_anon_kb']) / n, 1)} kB anonymous")
        c0 = cpu_seconds(agent.proc.pid)
        time.sleep(20)
        out(f"rss_{have}_pods_agent_cpu_percent_of_a_core", round(100 * (cpu_seconds(agent.proc.pid) - c0) / 20, 3))
        delete_namespace(s, [f"rss{n}" for n in counts])
        memory_snapshot("after_delete", s, agent.proc.pid)
        # Churn: the same pods again and again; memory that keeps growing is a leak, not a peak.
        for i in range(ARGS.churn):
            load(s, f"churn{i}", "burst", have)
            delete_namespace(s, f"churn{i}")
            memory_snapshot(f"after_churn_{i + 1}", s, agent.proc.pid)
        report_runc("rss")


def scenario_metrics():
    with new_server(["--disable-agent"]) as s:
        agent = AgentProcess(s, name="bench-node").start()
        wait_node_ready(s, "bench-node")
        res = load(s, "metrics", "burst", ARGS.metrics_pods)
        if res["not_running"]:
            raise RuntimeError(f"pods not Running: {res['not_running']}")
        server_pid = s.proc.pid
        for path in ("metrics/resource", "stats/summary"):
            url = s.url(f"/api/v1/nodes/bench-node/proxy/{path}")
            s.curl("-o", "/dev/null", url)  # warm: the connection's first request, the first sample
            a0, s0, t0 = cpu_seconds(agent.proc.pid), cpu_seconds(server_pid), time.monotonic()
            # One curl, one TLS connection, --scrapes requests.
            r = s.curl("-o", "/dev/null", *([url] * ARGS.scrapes), timeout=600)
            if r.code != 0:
                raise RuntimeError(f"curl failed: {r.err}")
            elapsed = time.monotonic() - t0
            a1, s1 = cpu_seconds(agent.proc.pid), cpu_seconds(server_pid)
            size = len(s.curl(url).out)
            out(f"metrics_{path.replace('/', '_')}_cpu_per_scrape_ms",
                f"agent {round(1000 * (a1 - a0) / ARGS.scrapes, 3)}, server {round(1000 * (s1 - s0) / ARGS.scrapes, 3)} "
                f"({ARGS.metrics_pods} pods, {size} bytes, {ARGS.scrapes} scrapes in "
                f"{round(elapsed, 1)} s)")

        def idle(label):
            a0, s0 = cpu_seconds(agent.proc.pid), cpu_seconds(server_pid)
            time.sleep(ARGS.idle_seconds)
            a1, s1 = cpu_seconds(agent.proc.pid), cpu_seconds(server_pid)
            out(f"metrics_idle_{label}_cpu_percent_of_a_core",
                f"server {round(100 * (s1 - s0) / ARGS.idle_seconds, 3)}, agent "
                f"{round(100 * (a1 - a0) / ARGS.idle_seconds, 3)} (over {ARGS.idle_seconds} s)")

        # Nothing has asked the metrics API yet: the scraper is off.
        idle("scraper_off")
        s.kubectl("top", "pods", "-n", "metrics", check=False)  # starts the scraper (15 s resolution)
        idle("scraper_on")
        delete_namespace(s, "metrics")


def scenario_max_pods():
    with new_server(runtime_args()) as s:
        wait_node_ready(s, NODE)
        load(s, "warmup", "sequential", 1)
        delete_namespace(s, "warmup")
        reset_trace()
        res = load(s, "max", "burst", ARGS.max_pods, timeout=600,
                   extra=["--watch-node", NODE, "--hold", str(ARGS.hold)])
        RESULTS["max_pods"] = res
        out(f"max_pods_{ARGS.max_pods}_all_running_s", res["all_running_s"])
        out(f"max_pods_{ARGS.max_pods}_latency", latency_line(res))
        report_stages("max_pods", res)
        out("max_pods_not_running", len(res["not_running"]))
        out("max_pods_node_ready_transitions", res["ready_transitions"])
        out("max_pods_node_ready_at_end", res["node_ready_at_end"])
        out("max_pods_lease_renewals_seen", res["lease_renewals_seen"])
        out("max_pods_lease_max_gap_s", res["lease_max_gap_s"])
        pods = json.loads(s.kubectl("get", "pods", "-n", "max", "-o", "json", timeout=60).out)["items"]
        out("max_pods_running_by_kubectl", sum(1 for p in pods if p["status"].get("phase") == "Running"))
        out("max_pods_shims", len(shim_pids(s)))
        srv = smaps(s.proc.pid)
        out("max_pods_server_with_agent_rss_mb", mb(srv["Rss"]))
        report_runc("max_pods", res, s)
        t0 = time.monotonic()
        delete_namespace(s, "max", timeout=300)
        out(f"max_pods_delete_{ARGS.max_pods}_s", round(time.monotonic() - t0, 1))


def scenario_runc():
    """runc alone, without minik: a busybox bundle (private --root, cgroup under a private root,
    new pid/ipc/uts/mount/network namespaces), `runc create` + `runc start` of `sleep` (or one
    `runc run --detach`, what the shim runs, with --runc-run), one at a time and then --count at
    once; wall time and CPU time (runc and its reaped children)."""
    import threading
    import uuid
    tmp = tempfile.mkdtemp(prefix="minik-bench-runc-")
    cg = "/minik-bench-" + uuid.uuid4().hex[:8]
    root = os.path.join(tmp, "state")
    rootfs = os.path.join(tmp, "rootfs")
    ids = []

    class Cleanup:
        """Registered with the harness, so an interrupted run cleans up too."""

        def stop(self):
            for cid in ids:
                subprocess.run(["runc", "--root", root, "delete", "--force", cid], capture_output=True)
            for mnt in ("/sys/fs/cgroup/" + d for d in os.listdir("/sys/fs/cgroup")):
                path = mnt + cg
                if os.path.isdir(path):
                    for _ in range(50):
                        for r, _dirs, _files in sorted(os.walk(path), key=lambda t: -len(t[0])):
                            try:
                                os.rmdir(r)
                            except OSError:
                                pass
                        if not os.path.exists(path):
                            break
                        time.sleep(0.1)
            shutil.rmtree(tmp, ignore_errors=True)
            if self in harness._live:
                harness._live.remove(self)

    cleanup = Cleanup()
    harness._live.append(cleanup)
    try:
        for d in ("bin", "proc", "dev", "sys", "tmp", "etc"):
            os.makedirs(os.path.join(rootfs, d))
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
        for a in ("sh", "sleep"):
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
        subprocess.run(["runc", "spec"], cwd=tmp, check=True)
        with open(os.path.join(tmp, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["sleep", "3600"]
        spec["root"] = {"path": rootfs, "readonly": True}
        if not any(n["type"] == "network" for n in spec["linux"]["namespaces"]):
            spec["linux"]["namespaces"].append({"type": "network"})
        runc = shutil.which("runc")

        def one(i, times):
            cid = f"bench-{i}"
            ids.append(cid)
            spec["linux"]["cgroupsPath"] = f"{cg}/{cid}"
            b = os.path.join(tmp, f"b{i}")
            os.makedirs(b)
            with open(os.path.join(b, "config.json"), "w") as f:
                json.dump(spec, f)
            for sub in (("run",) if ARGS.runc_run else ("create", "start")):
                argv = [runc, "--root", root, sub] + (["--bundle", b, cid] if sub == "create" else
                                                      ["--detach", "--bundle", b, cid] if sub == "run" else [cid])
                # The container keeps runc's stdio: files, not pipes, or reading them would block.
                with open(os.path.join(b, sub + ".err"), "w+b") as err:
                    t = time.monotonic()
                    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
                    _, status, ru = os.wait4(p.pid, 0)
                    p.returncode = os.waitstatus_to_exitcode(status)
                    times.setdefault(sub, []).append(((time.monotonic() - t) * 1000, (ru.ru_utime + ru.ru_stime) * 1000))
                    if p.returncode != 0:
                        err.seek(0)
                        raise RuntimeError(f"runc {sub}: {err.read().decode()}")

        def report(label, times):
            for sub, v in times.items():
                w = summarize([x[0] for x in v])
                c = summarize([x[1] for x in v])
                out(f"runc_{label}_{sub}", f"wall p50 {w['p50']} ms, p99 {w['p99']} ms, max {w['max']} ms; "
                    f"CPU p50 {c['p50']} ms (n={w['n']})")

        times = {}
        for i in range(ARGS.count):
            one(i, times)
        report("sequential", times)
        # --count at once, then the same through 8 workers (the agent's pool for container starts).
        base = ARGS.count
        for workers in (ARGS.count, 8):
            times = {}
            todo = list(range(base, base + ARGS.count))
            base += ARGS.count
            lock = threading.Lock()

            def worker():
                while True:
                    with lock:
                        if not todo:
                            return
                        i = todo.pop(0)
                    one(i, times)
            threads = [threading.Thread(target=worker) for _ in range(workers)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            label = f"{ARGS.count}_at_once" if workers == ARGS.count else f"{ARGS.count}_by_{workers}_workers"
            out(f"runc_{label}_all_started_s", round(time.monotonic() - t0, 2))
            report(label, times)
    finally:
        cleanup.stop()


TRACE = None


def main():
    global TRACE
    if os.geteuid() != 0:
        raise SystemExit("agent_bench.py needs root (network/mount namespaces, cgroups, runc)")
    if not os.access(harness.MINIK, os.X_OK):
        raise SystemExit(f"{harness.MINIK}: not an executable (pass --minik)")
    if ARGS.trace_runc:
        TRACE = RuncTrace()
        os.environ["PATH"] = TRACE.dir + os.pathsep + os.environ["PATH"]
    try:
        for sc in ARGS.scenarios:
            t0 = time.monotonic()
            print(f"== {sc} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
            {"startup": scenario_startup, "rss": scenario_rss, "max-pods": scenario_max_pods,
             "runc": scenario_runc, "metrics": scenario_metrics}[sc]()
            print(f"== {sc} done in {round(time.monotonic() - t0)} s (load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    finally:
        if TRACE:
            TRACE.remove()
        if ARGS.json:
            with open(ARGS.json, "w") as f:
                json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
