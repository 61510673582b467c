"""Runs inside a test's network namespace with Debian's python3-kubernetes: the official Python
client against minik. Prints OK or raises."""
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(sys.argv[1])
core = client.CoreV1Api()
apps = client.AppsV1Api()
ns = sys.argv[2]

names = [n.metadata.name for n in core.list_namespace().items]
assert "kube-system" in names, names
core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
cm = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py"), data={"a": "1"}))
assert cm.metadata.resource_version
got = core.read_namespaced_config_map("py", ns)
assert got.data == {"a": "1"}, got.data
core.patch_namespaced_config_map("py", ns, {"data": {"b": "2"}})
assert core.read_namespaced_config_map("py", ns).data == {"a": "1", "b": "2"}
try:
    core.read_namespaced_config_map("missing", ns)
    raise AssertionError("expected 404")
except ApiException as e:
    assert e.status == 404, e.status
    assert '"reason":"NotFound"' in e.body.replace(" ", ""), e.body

events = []


def watcher():
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=3):
        events.append((ev["type"], ev["object"].metadata.name))
        if ("DELETED", "py2") in events:
            w.stop()


t = threading.Thread(target=watcher)
t.start()
import time  # noqa: E402
time.sleep(0.5)
core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py2")))
core.delete_namespaced_config_map("py2", ns)
t.join(10)
assert ("ADDED", "py") in events and ("ADDED", "py2") in events and ("DELETED", "py2") in events, events

dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "web"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "web"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))))
d = apps.create_namespaced_deployment(ns, dep)
assert d.spec.strategy.type == "RollingUpdate"
s = apps.read_namespaced_deployment_scale("web", ns)
assert s.spec.replicas == 2
apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}})
assert apps.read_namespaced_deployment("web", ns).spec.replicas == 4
print("OK")
