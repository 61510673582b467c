"""Runs inside a test's network namespace: N concurrent ConfigMap creates over HTTPS with the
admin client certificate. Prints the name of every create that got 201, one per line, flushed
at once, so the parent knows exactly which writes were acknowledged before it killed the server."""
import http.client
import json
import ssl
import sys
import threading

host, port, tls_dir, namespace, count, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
ctx = ssl.create_default_context(cafile=f"{tls_dir}/server-ca.crt")
ctx.load_cert_chain(f"{tls_dir}/client-admin.crt", f"{tls_dir}/client-admin.key")
lock = threading.Lock()
next_i = [0]


def worker():
    conn = None
    while True:
        with lock:
            i = next_i[0]
            next_i[0] += 1
        if i >= count:
            return
        name = f"storm-{i}"
        body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": str(i)}})
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
            conn.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status == 201:
                with lock:
                    sys.stdout.write(name + "\n")
                    sys.stdout.flush()
        except Exception:
            conn = None
            return


threads = [threading.Thread(target=worker) for _ in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
