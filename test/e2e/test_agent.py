"""Issue 4 checks: `minik server` with its embedded agent runs real containers through runc.

The server runs in its own network namespace, its own mount namespace and its own cgroup root;
the busybox test images (test/images/build.sh, built offline) are imported from the air-gap
images directory.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import MinikServer, ServerTestCase, main, test_images, wait_for

BUSYBOX = "docker.io/library/busybox:1.36"


def pod_yaml(name, command, restart="Always", extra_container="", extra_spec="", image=BUSYBOX):
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 5
{extra_spec}  containers:
  - name: main
    image: {image}
    command: ["sh", "-c", {json.dumps(command)}]
{extra_container}"""


class AgentTest(ServerTestCase):
    agent = True

    @classmethod
    def setUpClass(cls):
        cls.images = [os.path.join(test_images(), "busybox.oci.tar")]
        super().setUpClass()
        # The embedded agent registers its node.
        wait_for(lambda: cls.server.kubectl("get", "node", "e2e-node", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                                            check=False).out == "True", timeout=60, what="node e2e-node Ready")

    def pod(self, name):
        r = self.kn("get", "pod", name, "-o", "json", check=False)
        return json.loads(r.out) if r.code == 0 else None

    def wait_phase(self, name, phase, timeout=60):
        return wait_for(lambda: (self.pod(name) or {}).get("status", {}).get("phase") == phase and self.pod(name),
                        timeout=timeout, what=f"pod {name} {phase}")

    def container_status(self, name, index=0, kind="containerStatuses"):
        p = self.pod(name) or {}
        cs = p.get("status", {}).get(kind) or []
        return cs[index] if len(cs) > index else {}

    def test_node_registered_with_machine_facts(self):
        node = json.loads(self.k("get", "node", "e2e-node", "-o", "json").out)
        cap = node["status"]["capacity"]
        self.assertEqual(cap["pods"], "110")
        self.assertEqual(int(cap["cpu"]), os.cpu_count())
        self.assertTrue(cap["memory"].endswith("Ki"))
        info = node["status"]["nodeInfo"]
        self.assertTrue(info["containerRuntimeVersion"].startswith("runc://"), info)
        self.assertEqual(info["kernelVersion"], os.uname().release)
        types = [c["type"] for c in node["status"]["conditions"]]
        self.assertEqual(types, ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"])
        self.assertEqual(node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"], "true")
        lease = json.loads(self.k("get", "lease", "-n", "kube-node-lease", "e2e-node", "-o", "json").out)
        self.assertEqual(lease["spec"]["holderIdentity"], "e2e-node")
        # The imported images are listed on the node.
        names = [n for img in node["status"].get("images", []) for n in img["names"]]
        self.assertIn(BUSYBOX, names)

    def test_deployment_of_three_busybox_pods_runs_and_is_ready(self):
        self.kn("create", "deployment", "bb", f"--image={BUSYBOX}", "--replicas=3", "--", "sleep", "3600")
        self.kn("rollout", "status", "deployment/bb", "--timeout=90s", timeout=120)
        pods = json.loads(self.kn("get", "pods", "-l", "app=bb", "-o", "json").out)["items"]
        self.assertEqual(len(pods), 3)
        for p in pods:
            self.assertEqual(p["status"]["phase"], "Running")
            cs = p["status"]["containerStatuses"][0]
            self.assertTrue(cs["ready"])
            self.assertTrue(cs["started"])
            self.assertIn("running", cs["state"])
            self.assertEqual(cs["image"], BUSYBOX)
            self.assertTrue(cs["imageID"].startswith("docker.io/library/busybox@sha256:"), cs)
            self.assertTrue(cs["containerID"].startswith("runc://"), cs)
            conds = {c["type"]: c["status"] for c in p["status"]["conditions"]}
            self.assertEqual(conds, {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
                                     "ContainersReady": "True", "PodScheduled": "True"})
        out = self.kn("get", "pods", "-l", "app=bb").out
        self.assertEqual(out.count("Running"), 3, out)
        reasons = self.kn("get", "events", "-o", "jsonpath={.items[*].reason}").out.split()
        for r in ("Scheduled", "Pulled", "Created", "Started"):
            self.assertIn(r, reasons)

    def test_exit_code_and_restart_policy_never(self):
        # The termination message: /dev/termination-log (terminationMessagePath's default).
        self.apply_yaml(pod_yaml("exit3", "echo -n 'disk full' > /dev/termination-log; exit 3", restart="Never"))
        p = self.wait_phase("exit3", "Failed")
        term = p["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual(term["exitCode"], 3)
        self.assertEqual(term["reason"], "Error")
        self.assertEqual(term["message"], "disk full")
        self.apply_yaml(pod_yaml("ok", "echo fine; exit 0", restart="Never"))
        p = self.wait_phase("ok", "Succeeded")
        term = p["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual(term["reason"], "Completed")
        self.assertNotIn("message", term)
        # FallbackToLogsOnError: the log's tail when the container failed without a message.
        self.apply_yaml(pod_yaml("fallback", "echo first; echo it broke >&2; exit 1", restart="Never",
                                 extra_container="    terminationMessagePolicy: FallbackToLogsOnError\n"))
        p = self.wait_phase("fallback", "Failed")
        self.assertEqual(p["status"]["containerStatuses"][0]["state"]["terminated"]["message"], "first\nit broke\n")

    def test_crashing_container_goes_into_crash_loop_back_off(self):
        self.apply_yaml(pod_yaml("crash", "exit 1"))
        wait_for(lambda: self.container_status("crash").get("restartCount", 0) >= 1, timeout=60, what="a restart")
        cs = wait_for(lambda: self.container_status("crash").get("state", {}).get("waiting", {}).get("reason") ==
                      "CrashLoopBackOff" and self.container_status("crash"), timeout=60, what="CrashLoopBackOff")
        self.assertIn("back-off 10s restarting failed container=main pod=crash_", cs["state"]["waiting"]["message"])
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 1)
        self.assertIn("CrashLoopBackOff", self.kn("get", "pod", "crash").out)

    def test_container_over_its_memory_limit_is_oom_killed(self):
        self.apply_yaml(pod_yaml("oom", "exec dd if=/dev/zero of=/dev/null bs=64M count=1", restart="Never",
                                 extra_container="    resources:\n      limits:\n        memory: 16Mi\n"))
        p = self.wait_phase("oom", "Failed")
        term = p["status"]["containerStatuses"][0]["state"]["terminated"]
        self.assertEqual(term["reason"], "OOMKilled", term)
        self.assertEqual(term["exitCode"], 137)

    def test_failing_init_container_blocks_the_app_container(self):
        self.apply_yaml(pod_yaml("initfail", "sleep 3600", extra_spec="""  initContainers:
  - name: init
    image: docker.io/library/busybox:1.36
    command: ["sh", "-c", "exit 1"]
"""))
        wait_for(lambda: self.container_status("initfail", kind="initContainerStatuses").get("restartCount", 0) >= 1,
                 timeout=60, what="the init container restarting")
        p = self.pod("initfail")
        self.assertEqual(p["status"]["phase"], "Pending")
        self.assertEqual(p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing")
        self.assertIn("Init:", self.kn("get", "pod", "initfail").out)
        # A succeeding init container lets the app container run.
        self.apply_yaml(pod_yaml("initok", "sleep 3600", extra_spec="""  initContainers:
  - name: init
    image: docker.io/library/busybox:1.36
    command: ["sh", "-c", "exit 0"]
"""))
        self.wait_phase("initok", "Running")

    def test_graceful_delete_sends_sigterm_then_the_pod_goes(self):
        # The shell is its container's PID 1: a signal it has no handler for yet is discarded, as
        # for any pid-namespace init (pid_namespaces(7)), so the test waits for the trap to be set.
        self.apply_yaml(pod_yaml("term", "trap 'exit 0' TERM; echo trapped; while true; do sleep 0.2; done"))
        self.wait_phase("term", "Running")
        wait_for(lambda: "trapped" in self.kn("logs", "term", check=False).out, timeout=30, what="the TERM trap set")
        t0 = time.time()
        self.kn("delete", "pod", "term", "--grace-period=5", timeout=60)
        self.assertLess(time.time() - t0, 4.5, "SIGTERM should end it before the grace period")
        # One that ignores SIGTERM is killed after the grace period.
        self.apply_yaml(pod_yaml("stubborn", "trap '' TERM; while true; do sleep 0.2; done"))
        self.wait_phase("stubborn", "Running")
        t0 = time.time()
        self.kn("delete", "pod", "stubborn", "--grace-period=3", timeout=60)
        self.assertGreaterEqual(time.time() - t0, 2.5)

    def test_env_and_config_map_volume(self):
        self.kn("create", "configmap", "cfg", "--from-literal=greeting=hello")
        self.apply_yaml(pod_yaml("files", 'test "$GREETING" = hello && test "$(cat /cfg/greeting)" = hello && '
                                          'test "$(hostname)" = files && '
                                          'grep -q "search $NS.svc.cluster.local" /etc/resolv.conf',
                                 restart="Never",
                                 extra_container="""    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {name: cfg, key: greeting}
    - name: NS
      valueFrom:
        fieldRef: {fieldPath: metadata.namespace}
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
""", extra_spec="""  volumes:
  - name: cfg
    configMap: {name: cfg}
"""))
        self.wait_phase("files", "Succeeded")

    def ready(self, name):
        conds = (self.pod(name) or {}).get("status", {}).get("conditions") or []
        return next((c["status"] for c in conds if c["type"] == "Ready"), None)

    def test_readiness_flips_ready_and_a_failing_liveness_probe_restarts(self):
        self.apply_yaml(pod_yaml("probed", "touch /tmp/alive; sleep 3600", extra_container="""    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      exec: {command: ["cat", "/tmp/alive"]}
      periodSeconds: 1
      failureThreshold: 2
"""))
        self.wait_phase("probed", "Running")
        wait_for(lambda: self.ready("probed") == "False", timeout=30, what="Ready=False without /tmp/ready")
        self.kn("exec", "probed", "--", "touch", "/tmp/ready")
        wait_for(lambda: self.ready("probed") == "True", timeout=30, what="Ready=True")
        self.assertTrue(self.container_status("probed")["ready"])
        self.kn("exec", "probed", "--", "rm", "/tmp/ready")
        wait_for(lambda: self.ready("probed") == "False", timeout=30, what="Ready=False again")
        # The liveness probe fails: the container is killed and restarted (its new rootfs has no
        # /tmp/ready, so it comes back not ready).
        self.kn("exec", "probed", "--", "rm", "/tmp/alive")
        wait_for(lambda: self.container_status("probed").get("restartCount", 0) >= 1, timeout=60, what="a restart")
        events = self.kn("get", "events", "--field-selector", "involvedObject.name=probed",
                         "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}").out
        self.assertIn("Unhealthy: Liveness probe failed: cat: can't open '/tmp/alive': No such file or directory", events)
        self.assertIn("Killing: Container main failed liveness probe, will be restarted", events)
        self.assertIn("Unhealthy: Readiness probe failed:", events)
        wait_for(lambda: self.container_status("probed").get("state", {}).get("running"), timeout=60,
                 what="running again")

    def test_config_map_and_secret_volumes_follow_updates(self):
        self.kn("create", "configmap", "live", "--from-literal=color=red")
        self.kn("create", "secret", "generic", "creds", "--from-literal=password=one")
        self.apply_yaml(pod_yaml("watcher", "sleep 3600", extra_container="""    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
""", extra_spec="""  volumes:
  - name: cfg
    configMap: {name: live}
  - name: sec
    secret: {secretName: creds, defaultMode: 0400}
"""))
        self.wait_phase("watcher", "Running")
        self.assertEqual(self.kn("exec", "watcher", "--", "cat", "/cfg/color").out, "red")
        self.assertEqual(self.kn("exec", "watcher", "--", "cat", "/sec/password").out, "one")
        self.assertEqual(self.kn("exec", "watcher", "--", "stat", "-L", "-c", "%a", "/sec/password").out.strip(), "400")
        self.kn("patch", "configmap", "live", "-p", '{"data":{"color":"blue"}}')
        self.kn("patch", "secret", "creds", "-p", '{"stringData":{"password":"two"}}')
        wait_for(lambda: self.kn("exec", "watcher", "--", "cat", "/cfg/color").out == "blue", timeout=90,
                 what="the configMap volume updated")
        wait_for(lambda: self.kn("exec", "watcher", "--", "cat", "/sec/password").out == "two", timeout=90,
                 what="the secret volume updated")

    def test_pre_stop_hook_runs_before_sigterm(self):
        self.apply_yaml(pod_yaml("hooked", "trap 'echo got-term; exit 0' TERM; echo started; "
                                           "while true; do sleep 0.1; done",
                                 extra_container="""    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo pre-stop > /proc/1/fd/1; sleep 1"]}
"""))
        self.wait_phase("hooked", "Running")
        wait_for(lambda: "started" in self.kn("logs", "hooked").out, timeout=30, what="started")
        follow = subprocess.Popen(["ip", "netns", "exec", self.server.ns, "kubectl", "--kubeconfig",
                                   self.server.kubeconfig, "-n", self.ns, "logs", "-f", "hooked"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            time.sleep(0.5)
            t0 = time.time()
            self.kn("delete", "pod", "hooked", "--grace-period=5", timeout=60)
            elapsed = time.time() - t0
            out, _ = follow.communicate(timeout=30)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        lines = out.split()
        self.assertIn("pre-stop", lines, out)
        self.assertIn("got-term", lines, out)
        self.assertLess(lines.index("pre-stop"), lines.index("got-term"), out)
        self.assertGreaterEqual(elapsed, 0.9, "the preStop hook's second runs before SIGTERM")
        self.assertLess(elapsed, 4.5, "SIGTERM ends it before the grace period")

    def test_image_dropped_in_the_images_dir_is_usable_without_restart(self):
        self.apply_yaml(pod_yaml("extra", "sleep 3600", image="docker.io/minik/busybox-extra:latest").replace(
            "    command:", "    imagePullPolicy: IfNotPresent\n    command:"))
        wait_for(lambda: self.container_status("extra").get("state", {}).get("waiting", {}).get("reason")
                 in ("ErrImagePull", "ImagePullBackOff"), timeout=60, what="ErrImagePull")
        shutil.copy(os.path.join(test_images(), "busybox-extra.oci.tar"),
                    os.path.join(self.server.data_dir, "agent", "images"))
        self.wait_phase("extra", "Running", timeout=90)


class StreamingTest(ServerTestCase):
    """kubectl logs, exec, attach, cp and port-forward against real containers, through the API
    server and the agent's tunnel."""
    agent = True

    @classmethod
    def setUpClass(cls):
        cls.images = [os.path.join(test_images(), "busybox.oci.tar")]
        super().setUpClass()

    def running(self, name, yaml):
        self.apply_yaml(yaml)
        self.kn("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s", timeout=90)

    def test_logs_and_logs_follow(self):
        self.running("talk", pod_yaml("talk", "echo one; echo two >&2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"))
        out = wait_for(lambda: "tick 3" in self.kn("logs", "talk").out and self.kn("logs", "talk").out,
                       timeout=30, what="logs")
        # stdout in order; stderr interleaves at its own pace (two pipes, as with containerd).
        self.assertTrue(out.startswith("one\n"), out)
        self.assertIn("two\n", out)
        self.assertIn("tick 1\ntick 2\n", out.replace("two\n", ""))
        self.assertEqual(self.kn("logs", "talk", "--tail=1").out.count("\n"), 1)
        ts = self.kn("logs", "talk", "--timestamps", "--tail=1").out
        self.assertRegex(ts, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n$")
        # As the kubelet lays them out for log shippers: <pod-logs-dir>/<ns>_<pod>_<uid>/<container>/0.log,
        # linked from ../containers/<pod>_<ns>_<container>-<container id>.log.
        pod = json.loads(self.kn("get", "pod", "talk", "-o", "json").out)
        cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
        log = os.path.join(self.server.pod_logs_dir, f"{self.ns}_talk_{pod['metadata']['uid']}", "main", "0.log")
        link = os.path.join(os.path.dirname(self.server.pod_logs_dir), "containers", f"talk_{self.ns}_main-{cid}.log")
        self.assertEqual(os.readlink(link), log)
        with open(link) as f:
            self.assertRegex(f.readline(), r"^\d{4}-\d\d-\d\dT\S+Z stdout F one$")
        # -f streams new lines as they come.
        p = subprocess.Popen(["ip", "netns", "exec", self.server.ns, "kubectl", "--kubeconfig", self.server.kubeconfig,
                              "-n", self.ns, "logs", "-f", "talk", "--tail=0"], stdout=subprocess.PIPE, text=True)
        try:
            first = p.stdout.readline()
            second = p.stdout.readline()
            self.assertTrue(first.startswith("tick ") and second.startswith("tick "), (first, second))
            self.assertEqual(int(second.split()[1]), int(first.split()[1]) + 1)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        # --previous after a restart.
        self.running("prev", pod_yaml("prev", "echo run $(cat /proc/uptime | cut -d' ' -f1); sleep 1; exit 1"))
        wait_for(lambda: self.kn("logs", "prev", "--previous", check=False).code == 0, timeout=60, what="a previous log")
        self.assertIn("run ", self.kn("logs", "prev", "--previous").out)

    def test_exec_exit_codes_stdin_and_tty(self):
        self.running("box", pod_yaml("box", "sleep 3600"))
        r = self.kn("exec", "box", "--", "sh", "-c", "exit 3", check=False)
        self.assertEqual(r.code, 3, r)
        self.assertEqual(self.kn("exec", "box", "--", "cat", "/etc/hostname").out, "box\n")
        self.assertEqual(self.kn("exec", "-i", "box", "--", "tr", "a-z", "A-Z", input="hello\n").out, "HELLO\n")
        r = self.server.run_in_ns(["script", "-qec", f"kubectl -n {self.ns} exec -it box -- sh -c 'tty; echo $((6*7))'",
                                   "/dev/null"], timeout=60)
        self.assertIn("/dev/pts/", r.out, r)
        self.assertIn("42", r.out, r)
        r = self.kn("exec", "box", "--", "nope", check=False)
        self.assertNotEqual(r.code, 0)

    def test_cp_both_ways(self):
        self.running("files", pod_yaml("files", "sleep 3600"))
        local = os.path.join(self.server.tmp, "in.txt")
        with open(local, "w") as f:
            f.write("payload\n" * 1000)
        self.kn("cp", local, "files:/tmp/in.txt")
        self.assertEqual(self.kn("exec", "files", "--", "wc", "-l", "/tmp/in.txt").out.split()[0], "1000")
        back = os.path.join(self.server.tmp, "back.txt")
        self.kn("cp", "files:/tmp/in.txt", back)
        with open(back) as f:
            self.assertEqual(f.read(), "payload\n" * 1000)

    def test_port_forward_reaches_a_port_inside_the_pod(self):
        self.running("web", pod_yaml("web", "mkdir -p /www && echo hello from the pod > /www/index.html && "
                                            "exec httpd -f -p 8080 -h /www"))
        p = subprocess.Popen(["ip", "netns", "exec", self.server.ns, "kubectl", "--kubeconfig", self.server.kubeconfig,
                              "-n", self.ns, "port-forward", "pod/web", "18080:8080"], stdout=subprocess.PIPE, text=True)
        try:
            self.assertIn("Forwarding from 127.0.0.1:18080", p.stdout.readline())
            r = wait_for(lambda: self.server.run_in_ns(["curl", "-sS", "http://127.0.0.1:18080/"]).out, timeout=30,
                         what="the forwarded port")
            self.assertEqual(r, "hello from the pod\n")
        finally:
            p.kill()
            p.wait()
            p.stdout.close()

    def test_attach_sees_the_output(self):
        self.running("loud", pod_yaml("loud", "while true; do echo attached-output; sleep 0.3; done"))
        p = subprocess.Popen(["ip", "netns", "exec", self.server.ns, "kubectl", "--kubeconfig", self.server.kubeconfig,
                              "-n", self.ns, "attach", "loud"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
        try:
            line = ""
            for _ in range(10):
                line = p.stdout.readline()
                if "attached-output" in line:
                    break
            self.assertIn("attached-output", line)
        finally:
            p.kill()
            p.wait()
            p.stdout.close()


class RegistryMirrorTest(ServerTestCase):
    """Pulls through a `docker.io` mirror declared in registries.yaml (k3s's format), served by a
    real docker-registry on the test namespace's loopback; no image in the air-gap directory."""
    agent = True
    registry_port = 5000

    @classmethod
    def setUpClass(cls):
        cls.conf_dir = tempfile.mkdtemp(prefix="minik-e2e-registry-")
        registries = os.path.join(cls.conf_dir, "registries.yaml")
        with open(registries, "w") as f:
            f.write(f'mirrors:\n  docker.io:\n    endpoint:\n      - "http://127.0.0.1:{cls.registry_port}"\n')
        with open(os.path.join(cls.conf_dir, "config.yml"), "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {cls.conf_dir}/storage\n"
                    f"http:\n  addr: 127.0.0.1:{cls.registry_port}\n")
        cls.extra_args = ("--private-registry", registries)
        cls.registry = None
        super().setUpClass()
        try:
            cls.registry = subprocess.Popen(
                ["ip", "netns", "exec", cls.server.ns, "docker-registry", "serve",
                 os.path.join(cls.conf_dir, "config.yml")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            wait_for(lambda: cls.server.run_in_ns(
                ["curl", "-sf", f"http://127.0.0.1:{cls.registry_port}/v2/"], timeout=5).code == 0,
                timeout=30, what="docker-registry")
            # The busybox test image, pushed under a tag that exists only in the registry.
            src = "oci-archive:" + os.path.join(test_images(), "busybox.oci.tar") + ":1.36"
            push = cls.server.run_in_ns(["skopeo", "copy", "--quiet", "--insecure-policy", "--dest-tls-verify=false",
                                         src, f"docker://127.0.0.1:{cls.registry_port}/library/busybox:mirrored"],
                                        timeout=120)
            if push.code != 0:
                raise RuntimeError(f"skopeo copy failed: {push}")
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.registry is not None:
            os.killpg(cls.registry.pid, signal.SIGKILL)
            cls.registry.wait()
        super().tearDownClass()
        shutil.rmtree(cls.conf_dir, ignore_errors=True)

    def pod(self, name):
        return json.loads(self.kn("get", "pod", name, "-o", "json").out)

    def test_image_pulled_through_the_docker_io_mirror(self):
        self.apply_yaml(pod_yaml("pulled", "sleep 3600", image="busybox:mirrored"))
        wait_for(lambda: self.pod("pulled")["status"].get("phase") == "Running", timeout=90, what="Running")
        status = self.pod("pulled")["status"]["containerStatuses"][0]
        self.assertEqual(status["image"], "docker.io/library/busybox:mirrored")
        self.assertRegex(status["imageID"], r"^docker\.io/library/busybox@sha256:[0-9a-f]{64}$")
        events = self.kn("get", "events", "--field-selector", "involvedObject.name=pulled",
                         "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}").out
        self.assertRegex(events, r'Pulling: Pulling image "busybox:mirrored"')
        self.assertRegex(events, r'Pulled: Successfully pulled image "busybox:mirrored" in [0-9.]+m?s')
        # Container events name the container, as the kubelet's container reference does.
        paths = self.kn("get", "events", "--field-selector", "involvedObject.name=pulled,reason=Pulled",
                        "-o", "jsonpath={.items[*].involvedObject.fieldPath}").out
        self.assertEqual(paths, "spec.containers{main}")
        self.assertEqual(self.kn("exec", "pulled", "--", "echo", "hi").out, "hi\n")

    def test_missing_tag_is_err_image_pull_then_back_off(self):
        self.apply_yaml(pod_yaml("missing", "sleep 3600", image="busybox:nosuchtag"))

        def waiting():
            st = self.pod("missing")["status"].get("containerStatuses", [{}])[0]
            return st.get("state", {}).get("waiting", {})
        wait_for(lambda: waiting().get("reason") in ("ErrImagePull", "ImagePullBackOff"), timeout=60,
                 what="ErrImagePull")
        events = self.kn("get", "events", "--field-selector", "involvedObject.name=missing",
                         "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}").out
        self.assertIn('Failed: Failed to pull image "busybox:nosuchtag": rpc error: code = NotFound desc = '
                      'failed to pull and unpack image "docker.io/library/busybox:nosuchtag": failed to resolve '
                      'reference "docker.io/library/busybox:nosuchtag": docker.io/library/busybox:nosuchtag: not found',
                      events)
        wait_for(lambda: waiting().get("reason") == "ImagePullBackOff", timeout=60, what="ImagePullBackOff")
        self.assertEqual(waiting().get("message"), 'Back-off pulling image "busybox:nosuchtag"')


class AgentRestartTest(ServerTestCase):
    """kill -9 of the server (and its embedded agent) while pods run, then restart it."""
    agent = True

    @classmethod
    def setUpClass(cls):
        cls.images = [os.path.join(test_images(), "busybox.oci.tar")]
        super().setUpClass()

    def statuses(self):
        items = json.loads(self.kn("get", "pods", "-o", "json").out)["items"]
        return {p["metadata"]["name"]: (p["status"]["containerStatuses"][0]["containerID"],
                                        p["status"]["containerStatuses"][0]["restartCount"]) for p in items
                if p["status"].get("containerStatuses")}

    def test_containers_survive_an_agent_kill_and_are_adopted_then_nothing_is_left(self):
        self.kn("create", "deployment", "ten", f"--image={BUSYBOX}", "--replicas=10", "--", "sleep", "3600")
        self.apply_yaml(pod_yaml("counter", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done"))
        self.kn("rollout", "status", "deployment/ten", "--timeout=120s", timeout=150)
        self.kn("wait", "--for=condition=Ready", "pod/counter", "--timeout=60s", timeout=70)
        before = self.statuses()
        self.assertEqual(len(before), 11)
        self.server.kill()
        self.server.start()
        time.sleep(3)
        wait_for(lambda: self.statuses() == before and self.kn("get", "pods").out.count("Running") == 11,
                 timeout=60, what="the same containers running")
        # The counter kept running and its log has no gap across the agent's death.
        lines = self.kn("logs", "counter").out.split()
        self.assertGreater(len(lines), 60)
        self.assertEqual(lines, [str(i) for i in range(len(lines))])
        # A container of an adopted pod still reports its exit: restart counts move again.
        # Delete everything: nothing of the pods is left on the machine.
        self.kn("delete", "deployment", "ten", "--wait=true", timeout=120)
        self.kn("delete", "pod", "counter", "--wait=true", timeout=120)
        wait_for(lambda: self.kn("get", "pods", "-o", "name").out.strip() == "", timeout=90, what="pods gone")
        agent_dir = os.path.join(self.server.data_dir, "agent")
        wait_for(lambda: not os.listdir(os.path.join(agent_dir, "bundles")), timeout=30, what="bundles removed")
        self.assertEqual(os.listdir(os.path.join(agent_dir, "pods")), [])
        self.assertEqual(os.listdir(os.path.join(agent_dir, "containers")), [])
        wait_for(lambda: not os.listdir(self.server.pod_logs_dir), timeout=30, what="pod logs removed")
        links = os.path.join(os.path.dirname(self.server.pod_logs_dir), "containers")
        wait_for(lambda: not os.listdir(links), timeout=30, what="container log links removed")
        for kind in ("netns", "ipcns", "utsns"):
            d = os.path.join(agent_dir, "run", kind)
            self.assertEqual(os.listdir(d) if os.path.isdir(d) else [], [])
        mounts = self.server.in_mount_ns(["cat", "/proc/self/mountinfo"]).out
        self.assertNotIn(os.path.join(agent_dir, "bundles") + "/", mounts)
        self.assertNotIn(os.path.join(agent_dir, "pods") + "/", mounts)
        for d in self.server.cgroup_dirs():
            left = [e for e in os.listdir(d) if e.startswith("pod")]
            self.assertEqual(left, [], d)


if __name__ == "__main__":
    main()
