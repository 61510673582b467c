"""End-to-end harness: a real minik server in its own network namespace, driven by the real kubectl.

Each MinikServer gets a fresh network namespace (only loopback, up), a temporary data dir and
kubeconfig, and is torn down (process killed, namespace deleted, files removed) even when a test
fails or the run is interrupted. Nothing touches the host's network namespace.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

MINIK = os.environ.get("MINIK_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "minik"))
KUBECTL = os.environ.get("KUBECTL", "kubectl")

_live = []


def _cleanup_all():
    for s in list(_live):
        s.stop()


atexit.register(_cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, lambda signum, frame: (_cleanup_all(), os._exit(128 + signum)))


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


class MinikServer:
    """A minik server in a private network namespace. Use as a context manager."""

    def __init__(self, extra_args=(), port=6443, agent=False, images=()):
        """agent: run the embedded agent (real containers) in a private mount namespace and a
        private cgroup root; images: tarballs put in the air-gap images directory before start."""
        self.ns = "minik-e2e-" + uuid.uuid4().hex[:8]
        self.agent = agent
        self.images = list(images)
        self.cgroup_root = "/minik-e2e-" + uuid.uuid4().hex[:8]
        self.mnt_holder = None
        self.tmp = tempfile.mkdtemp(prefix="minik-e2e-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig.yaml")
        self.config = os.path.join(self.tmp, "config.yaml")
        self.cache = os.path.join(self.tmp, "kube-cache")
        self.log_path = os.path.join(self.tmp, "minik.log")
        self.pod_logs_dir = os.path.join(self.tmp, "log", "pods")
        self.port = port
        self.extra_args = list(extra_args)
        self.proc = None
        self.log = None
        self.netns_made = False
        self.agents = []

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, wait=True):
        if not self.netns_made:
            subprocess.run(["ip", "netns", "add", self.ns], check=True)
            self.netns_made = True
            _live.append(self)
            subprocess.run(["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"], check=True)
            with open(self.config, "w") as f:
                f.write("# empty: the tests pass every flag explicitly\n")
        self.log = open(self.log_path, "ab")
        prefix = ["ip", "netns", "exec", self.ns]
        agent_args = ["--disable-agent"]
        if self.agent:
            # One mount namespace for the whole test (a restarted server sees the mounts of the
            # first one), gone with its last process; the pods' cgroups under a private root.
            if self.mnt_holder is None:
                self.mnt_holder = subprocess.Popen(["unshare", "--mount", "--propagation", "slave", "--",
                                                    "sleep", "infinity"], start_new_session=True)
                wait_for(lambda: os.readlink(f"/proc/{self.mnt_holder.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"),
                         timeout=10, what="the mount namespace")
                images_dir = os.path.join(self.data_dir, "agent", "images")
                os.makedirs(images_dir, exist_ok=True)
                for img in self.images:
                    shutil.copy(img, images_dir)
            prefix = ["nsenter", f"--mount=/proc/{self.mnt_holder.pid}/ns/mnt", f"--net=/run/netns/{self.ns}", "--"]
            # Pod logs (and their links in the sibling containers/) under the test's temp dir,
            # not the host's /var/log/pods.
            agent_args = ["--cgroup-root", self.cgroup_root, "--pod-logs-dir", self.pod_logs_dir]
        cmd = prefix + [MINIK, "server",
                        "--config", self.config,
                        "--data-dir", self.data_dir,
                        "--write-kubeconfig", self.kubeconfig,
                        "--bind-address", "127.0.0.1",
                        "--https-listen-port", str(self.port),
                        "--node-name", "e2e-node"] + agent_args + self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"minik exited with {self.proc.returncode}:\n{self.logs()}")
            if os.path.exists(self.kubeconfig):
                r = self.kubectl("get", "--raw", "/readyz", check=False, timeout=5)
                if r.code == 0 and r.out.strip() == "ok":
                    return
            time.sleep(0.05)
        raise RuntimeError(f"minik not ready after {timeout}s:\n{self.logs()}")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.log:
            self.log.close()
            self.log = None

    def terminate(self):
        """SIGTERM and wait: the clean shutdown path. Returns the exit code."""
        self.kill(signal.SIGTERM)
        return self.proc.returncode

    def stop(self):
        for a in list(self.agents):
            a.kill()
        self.agents = []
        self.kill(signal.SIGKILL)
        if self.agent:
            self._clean_agent()
        if self.netns_made:
            subprocess.run(["ip", "netns", "del", self.ns], check=False)
            self.netns_made = False
        if self in _live:
            _live.remove(self)
        if os.environ.get("MINIK_E2E_KEEP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _clean_agent(self):
        """Kills what the agent left running (shims, containers), removes the test's cgroups and
        drops its mount namespace (and every mount in it)."""
        containers = os.path.join(self.data_dir, "agent", "containers")
        for d in (os.listdir(containers) if os.path.isdir(containers) else []):
            for name in ("shim.pid", "pid"):
                try:
                    with open(os.path.join(containers, d, name)) as f:
                        os.kill(int(f.read().strip()), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        for mnt in self.cgroup_dirs():
            for _ in range(50):
                pids = []
                for root, _dirs, files in os.walk(mnt):
                    if "cgroup.procs" in files:
                        with open(os.path.join(root, "cgroup.procs")) as f:
                            pids += [int(x) for x in f.read().split()]
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                for root, _dirs, _files in sorted(os.walk(mnt), key=lambda t: -len(t[0])):
                    try:
                        os.rmdir(root)
                    except OSError:
                        pass
                if not os.path.exists(mnt):
                    break
                time.sleep(0.1)
        if self.mnt_holder is not None:
            self.mnt_holder.kill()
            self.mnt_holder.wait()
            self.mnt_holder = None

    def cgroup_dirs(self):
        """The directories of the test's cgroup root in every mounted hierarchy that has it."""
        out = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                fstype = parts[parts.index("-") + 1]
                if fstype in ("cgroup", "cgroup2"):
                    d = parts[4] + self.cgroup_root
                    if os.path.isdir(d):
                        out.append(d)
        return out

    def in_mount_ns(self, argv, timeout=30):
        """Runs a command in the test's mount namespace (to look at the agent's mounts)."""
        p = subprocess.run(["nsenter", f"--mount=/proc/{self.mnt_holder.pid}/ns/mnt", "--"] + list(argv),
                           capture_output=True, text=True, timeout=timeout)
        return Result(p)

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-20000:]
        except OSError:
            return ""

    # -- clients ----------------------------------------------------------------------------
    def run_in_ns(self, argv, input=None, timeout=60, env=None):
        full_env = dict(os.environ)
        full_env.update({"KUBECONFIG": self.kubeconfig, "HOME": self.tmp})
        if env:
            full_env.update(env)
        p = subprocess.run(["ip", "netns", "exec", self.ns] + list(argv), input=input, capture_output=True,
                           text=True, timeout=timeout, env=full_env)
        return Result(p)

    def kubectl(self, *args, input=None, check=True, timeout=60, env=None):
        r = self.run_in_ns([KUBECTL, "--cache-dir", self.cache] + list(args), input=input, timeout=timeout, env=env)
        if check and r.code != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {r}")
        return r

    def curl(self, *args, timeout=30):
        """curl inside the namespace, with the admin client certificate from the data dir."""
        tls = os.path.join(self.data_dir, "server", "tls")
        base = ["curl", "-sS", "--cacert", os.path.join(tls, "server-ca.crt"),
                "--cert", os.path.join(tls, "client-admin.crt"), "--key", os.path.join(tls, "client-admin.key")]
        return self.run_in_ns(base + list(args), timeout=timeout)

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"


class HollowAgent:
    """`minik agent --fake-nodes N` joined to a MinikServer, in the server's namespace."""

    def __init__(self, server, nodes=1, name=None, extra_args=()):
        self.server = server
        self.nodes = nodes
        self.name = name
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = os.path.join(server.tmp, f"agent-{uuid.uuid4().hex[:6]}.log")

    def start(self):
        with open(os.path.join(self.server.data_dir, "server", "token")) as f:
            token = f.read().strip()
        cmd = ["ip", "netns", "exec", self.server.ns, MINIK, "agent",
               "--join", f"https://127.0.0.1:{self.server.port}", "--token", token,
               "--fake-nodes", str(self.nodes)] + (["--node-name", self.name] if self.name else []) + self.extra_args
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.server.agents.append(self)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self in self.server.agents:
            self.server.agents.remove(self)

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-20000:]
        except OSError:
            return ""


def wait_for(fn, timeout=60, interval=0.2, what="condition"):
    """Polls fn() until it returns a truthy value; returns it, or fails after timeout seconds."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - kept for the failure message
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


_images_dir = None


def test_images():
    """Builds the offline test images once per process (test/images/build.sh); returns their dir."""
    global _images_dir
    if _images_dir is None:
        d = tempfile.mkdtemp(prefix="minik-e2e-images-")
        atexit.register(shutil.rmtree, d, True)
        subprocess.run(["bash", os.path.join(os.path.dirname(__file__), "..", "images", "build.sh"), d],
                       check=True, capture_output=True, timeout=120)
        _images_dir = d
    return _images_dir


class ServerTestCase(unittest.TestCase):
    """One minik server shared by the tests of a class; each test works in its own namespace."""

    server = None
    extra_args = ()
    agent = False
    images = ()

    @classmethod
    def setUpClass(cls):
        cls.server = MinikServer(cls.extra_args, agent=cls.agent, images=cls.images)
        try:
            cls.server.start()
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.stop()

    def setUp(self):
        self.ns = "t-" + uuid.uuid4().hex[:8]
        self.k("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {self.ns}\n")

    def k(self, *args, **kw):
        return self.server.kubectl(*args, **kw)

    def kn(self, *args, **kw):
        return self.server.kubectl("-n", self.ns, *args, **kw)

    def apply_yaml(self, text, *extra):
        return self.kn("apply", "-f", "-", *extra, input=text)

    def assertFails(self, result, stderr_contains):
        self.assertNotEqual(result.code, 0, result)
        self.assertIn(stderr_contains, result.err, result)


def main():
    unittest.main(verbosity=2)
