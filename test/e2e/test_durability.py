"""Restarts and crashes lose nothing that was acknowledged."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import MinikServer, main  # noqa: E402

NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\ndata:\n  a: b\n"
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
"""


class Durability(unittest.TestCase):
    def test_restart_keeps_objects(self):
        with MinikServer() as s:
            s.kubectl("apply", "-f", "-", input=NS.format("keep"))
            s.kubectl("-n", "keep", "apply", "-f", "-", input=CM.format("c"))
            s.kubectl("-n", "keep", "apply", "-f", "-", input=DEPLOY)
            rv_before = s.kubectl("-n", "keep", "get", "cm", "c", "-o", "jsonpath={.metadata.resourceVersion}").out
            self.assertEqual(s.terminate(), 0, s.logs())
            s.start()
            self.assertEqual(s.kubectl("-n", "keep", "get", "cm", "c", "-o", "jsonpath={.data.a}").out, "b")
            self.assertEqual(s.kubectl("-n", "keep", "get", "cm", "c", "-o", "jsonpath={.metadata.resourceVersion}").out,
                             rv_before)
            s.kubectl("-n", "keep", "get", "deployment", "web")
            # History from before the restart is gone: a watch from there gets 410 Expired.
            old = int(rv_before) - 1
            r = s.curl(s.url(f"/api/v1/namespaces/keep/configmaps?watch=true&resourceVersion={old}&timeoutSeconds=1"))
            ev = json.loads(r.out.splitlines()[0])
            self.assertEqual(ev["type"], "ERROR")
            self.assertEqual(ev["object"]["code"], 410)
            self.assertEqual(ev["object"]["reason"], "Expired")
            self.assertTrue(ev["object"]["message"].startswith(f"too old resource version: {old} ("), ev)
            # New writes continue the revision sequence.
            s.kubectl("-n", "keep", "apply", "-f", "-", input=CM.format("d"))
            rv_after = s.kubectl("-n", "keep", "get", "cm", "d", "-o", "jsonpath={.metadata.resourceVersion}").out
            self.assertGreater(int(rv_after), int(rv_before))

    def test_kill_9_during_create_storm_loses_nothing_acknowledged(self):
        with MinikServer() as s:
            s.kubectl("apply", "-f", "-", input=NS.format("storm"))
            tls = os.path.join(s.data_dir, "server", "tls")
            storm = subprocess.Popen(["ip", "netns", "exec", s.ns, sys.executable,
                                      os.path.join(os.path.dirname(__file__), "create_storm.py"),
                                      "127.0.0.1", str(s.port), tls, "storm", "1000", "64"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            acked = []
            deadline = time.time() + 60
            # Kill the server once a good part of the storm has been acknowledged.
            while len(acked) < 300 and time.time() < deadline:
                line = storm.stdout.readline()
                if not line:
                    break
                acked.append(line.strip())
            s.kill(signal.SIGKILL)
            rest, _ = storm.communicate(timeout=60)
            acked += [x for x in rest.split() if x]
            self.assertGreaterEqual(len(acked), 300)
            db = os.path.join(s.data_dir, "server", "db", "state.db")
            check = subprocess.run(["sqlite3", db, "PRAGMA integrity_check;"], capture_output=True, text=True)
            self.assertEqual(check.stdout.strip(), "ok", check)
            s.start()
            present = set(s.kubectl("-n", "storm", "get", "cm", "-o", "name").out.split())
            missing = [n for n in acked if f"configmap/{n}" not in present]
            self.assertEqual(missing, [], f"{len(missing)} acknowledged creates lost")


if __name__ == "__main__":
    main()
