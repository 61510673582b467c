"""The manifests directory: applied at boot and within 2 s of a change; pruning; .skip; broken files."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ServerTestCase, main  # noqa: E402


def cm(name, value, ns="default"):
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: {ns}
data:
  v: "{value}"
"""


class Manifests(ServerTestCase):
    def write(self, name, text):
        d = os.path.join(self.server.data_dir, "server", "manifests")
        path = os.path.join(d, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
        return path

    def wait_for(self, fn, timeout=10):
        # Correctness only; the 2 s reaction time is a benchmark number, not a test assertion.
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.05)
        self.fail(f"condition not met within {timeout}s (last={last!r}); server log:\n{self.server.logs()[-3000:]}")

    def value(self, name, ns="default"):
        r = self.k("get", "cm", name, "-n", ns, "-o", "jsonpath={.data.v}", check=False)
        return r.out if r.code == 0 else None

    def test_add_change_prune(self):
        self.write("m1.yaml", cm("m1-a", "1", self.ns) + "---\n" + cm("m1-b", "1", self.ns))
        self.wait_for(lambda: self.value("m1-a", self.ns) == "1" and self.value("m1-b", self.ns) == "1")
        self.write("m1.yaml", cm("m1-a", "2", self.ns))
        self.wait_for(lambda: self.value("m1-a", self.ns) == "2" and self.value("m1-b", self.ns) is None)

    def test_delete_file_keeps_objects_and_skip(self):
        path = self.write("m2.yaml", cm("m2", "1", self.ns))
        self.wait_for(lambda: self.value("m2", self.ns) == "1")
        os.unlink(path)
        time.sleep(1.0)
        self.assertEqual(self.value("m2", self.ns), "1")
        self.write("m3.yaml.skip", "")
        self.write("m3.yaml", cm("m3", "1", self.ns))
        time.sleep(2.0)
        self.assertIsNone(self.value("m3", self.ns))

    def test_broken_file_gets_event_and_server_keeps_serving(self):
        self.write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
        self.write("good.yaml", cm("good", "1", self.ns))
        self.wait_for(lambda: self.value("good", self.ns) == "1")

        def failed_event():
            evs = json.loads(self.k("get", "events", "-A", "-o", "json").out)["items"]
            return [e for e in evs if e.get("reason") == "ApplyManifestFailed"]

        self.wait_for(failed_event)
        self.assertEqual(self.k("get", "--raw", "/readyz").out, "ok")


if __name__ == "__main__":
    main()
