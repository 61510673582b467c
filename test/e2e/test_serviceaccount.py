"""Service account tokens end to end: `kubectl create token` (TokenRequest), bearer
authentication with `kubectl auth whoami`, the ServiceAccount admission plugin's kube-api-access
volume, and the kubelet's projected token read from inside a real container.
"""
import base64
import json
import os

from harness import ServerTestCase, main, test_images, wait_for

BUSYBOX = "docker.io/library/busybox:1.36"
ISSUER = "https://kubernetes.default.svc.cluster.local"


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header(token):
    h = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))


class TokenMixin:
    def sa_kubectl(self, token, *args, check=False):
        """kubectl with only a bearer token (no client certificate) against the server."""
        path = os.path.join(self.server.tmp, "sa-kubeconfig.yaml")
        if not os.path.exists(path):
            ca = os.path.join(self.server.data_dir, "server", "tls", "server-ca.crt")
            with open(path, "w") as f:
                f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:{self.server.port}
    certificate-authority: {ca}
users:
- name: u
  user: {{}}
contexts:
- name: c
  context: {{cluster: c, user: u}}
current-context: c
""")
        return self.server.kubectl("--kubeconfig", path, "--token", token, *args, check=check)

    def whoami(self, token):
        r = self.sa_kubectl(token, "auth", "whoami", "-o", "json", check=True)
        return r.json()["status"]["userInfo"]


class ServiceAccountTokenTest(TokenMixin, ServerTestCase):
    """TokenRequest and authentication (no containers needed)."""

    def wait_default_sa(self):
        wait_for(lambda: self.kn("get", "sa", "default", check=False).code == 0, timeout=30, what="default SA")

    def test_create_token_authenticates_as_the_service_account(self):
        self.wait_default_sa()
        token = self.kn("create", "token", "default").out.strip()
        c = claims(token)
        self.assertEqual(header(token)["alg"], "RS256")
        self.assertTrue(header(token)["kid"])
        self.assertEqual(c["iss"], ISSUER)
        self.assertEqual(c["aud"], [ISSUER])
        self.assertEqual(c["sub"], f"system:serviceaccount:{self.ns}:default")
        self.assertEqual(c["exp"] - c["iat"], 3600)
        uid = self.kn("get", "sa", "default", "-o", "jsonpath={.metadata.uid}").out
        self.assertEqual(c["kubernetes.io"], {"namespace": self.ns, "serviceaccount": {"name": "default", "uid": uid}})

        user = self.whoami(token)
        self.assertEqual(user["username"], f"system:serviceaccount:{self.ns}:default")
        self.assertEqual(user["uid"], uid)
        self.assertEqual(user["groups"], ["system:serviceaccounts", f"system:serviceaccounts:{self.ns}",
                                          "system:authenticated"])
        self.assertEqual(user["extra"]["authentication.kubernetes.io/credential-id"], ["JTI=" + c["jti"]])
        table = self.sa_kubectl(token, "auth", "whoami", check=True).out
        self.assertRegex(table, rf"\nUsername +system:serviceaccount:{self.ns}:default\n")
        self.assertRegex(table, rf"\nGroups +\[system:serviceaccounts system:serviceaccounts:{self.ns} system:authenticated\]\n")
        self.assertRegex(table, r"\nExtra: authentication.kubernetes.io/credential-id +\[JTI=" + c["jti"] + r"\]\n")
        r = self.sa_kubectl(token, "get", "pods", "-n", self.ns)
        self.assertEqual(r.code, 0, r)

        # A changed payload (another namespace) no longer matches the signature.
        parts = token.split(".")
        c["kubernetes.io"]["namespace"] = "kube-system"
        forged = parts[0] + "." + base64.urlsafe_b64encode(json.dumps(c).encode()).decode().rstrip("=") + "." + parts[2]
        for bad in (forged, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), "not-a-token"):
            r = self.sa_kubectl(bad, "get", "pods", "-n", self.ns)
            self.assertNotEqual(r.code, 0, r)
            self.assertIn("Unauthorized", r.err)

    def test_create_token_flags(self):
        self.wait_default_sa()
        r = self.kn("create", "token", "default", "--duration=2h", "--audience=vault", "--audience=other")
        c = claims(r.out.strip())
        self.assertEqual(c["exp"] - c["iat"], 7200)
        self.assertEqual(c["aud"], ["vault", "other"])
        # Not for the API server's audience.
        r = self.sa_kubectl(r.out.strip(), "get", "pods", "-n", self.ns)
        self.assertIn("Unauthorized", r.err)

        r = self.kn("create", "token", "default", "--duration=1m", check=False)
        self.assertNotEqual(r.code, 0)
        self.assertIn('error: failed to create token: TokenRequest.authentication.k8s.io "" is invalid: '
                      'spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
                      r.err)
        r = self.kn("create", "token", "nope", check=False)
        self.assertIn('error: failed to create token: serviceaccounts "nope" not found', r.err)

        # Bound to a Secret: valid while the secret lives.
        self.kn("create", "secret", "generic", "s", "--from-literal=a=b")
        token = self.kn("create", "token", "default", "--bound-object-kind=Secret", "--bound-object-name=s").out.strip()
        suid = self.kn("get", "secret", "s", "-o", "jsonpath={.metadata.uid}").out
        self.assertEqual(claims(token)["kubernetes.io"]["secret"], {"name": "s", "uid": suid})
        self.assertEqual(self.sa_kubectl(token, "get", "pods", "-n", self.ns).code, 0)
        self.kn("delete", "secret", "s")
        r = self.sa_kubectl(token, "get", "pods", "-n", self.ns)
        self.assertIn("Unauthorized", r.err)
        r = self.kn("create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=gone", check=False)
        self.assertIn('error: failed to create token: pods "gone" not found', r.err)

    def test_deleted_service_account_tokens_stop_working(self):
        self.kn("create", "sa", "robot")
        token = self.kn("create", "token", "robot").out.strip()
        self.assertEqual(self.whoami(token)["username"], f"system:serviceaccount:{self.ns}:robot")
        self.kn("delete", "sa", "robot")
        self.kn("create", "sa", "robot")  # same name, new uid
        r = self.sa_kubectl(token, "auth", "whoami")
        self.assertIn("Unauthorized", r.err)

    def test_discovery_and_oidc(self):
        core = json.loads(self.k("get", "--raw", "/api/v1").out)
        token = [r for r in core["resources"] if r["name"] == "serviceaccounts/token"]
        self.assertEqual(token[0]["verbs"], ["create"])
        self.assertEqual(token[0]["group"], "authentication.k8s.io")
        self.assertEqual(token[0]["kind"], "TokenRequest")
        authn = json.loads(self.k("get", "--raw", "/apis/authentication.k8s.io/v1").out)
        self.assertIn("selfsubjectreviews", [r["name"] for r in authn["resources"]])
        cfg = json.loads(self.k("get", "--raw", "/.well-known/openid-configuration").out)
        self.assertEqual(cfg["issuer"], ISSUER)
        jwks = json.loads(self.k("get", "--raw", "/openid/v1/jwks").out)
        self.assertEqual(jwks["keys"][0]["alg"], "RS256")
        self.wait_default_sa()
        token = self.kn("create", "token", "default").out.strip()
        self.assertEqual(header(token)["kid"], jwks["keys"][0]["kid"])

    def test_admission_defaults_refusals_and_automount(self):
        self.wait_default_sa()
        pod = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
{extra}  containers:
  - name: main
    image: busybox
"""
        r = self.kn("apply", "-f", "-", input=pod.format(name="nosa", extra="  serviceAccountName: nope\n"), check=False)
        self.assertNotEqual(r.code, 0)
        self.assertIn(f'pods "nosa" is forbidden: error looking up service account {self.ns}/nope: '
                      'serviceaccount "nope" not found', r.err)

        self.kn("apply", "-f", "-", input=pod.format(name="plain", extra=""))
        p = self.kn("get", "pod", "plain", "-o", "json").json()
        self.assertEqual(p["spec"]["serviceAccountName"], "default")
        self.assertEqual(p["spec"]["serviceAccount"], "default")
        vols = p["spec"]["volumes"]
        self.assertEqual(len(vols), 1)
        name = vols[0]["name"]
        self.assertRegex(name, r"^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$")
        self.assertEqual(vols[0]["projected"], {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ]})
        self.assertEqual(p["spec"]["containers"][0]["volumeMounts"],
                         [{"name": name, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}])

        self.kn("apply", "-f", "-", input=pod.format(name="nomount", extra="  automountServiceAccountToken: false\n"))
        p = self.kn("get", "pod", "nomount", "-o", "json").json()
        self.assertNotIn("volumes", p["spec"])
        self.assertNotIn("volumeMounts", p["spec"]["containers"][0])

        self.kn("apply", "-f", "-", input="apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: quiet\n"
                                          "automountServiceAccountToken: false\n")
        self.kn("apply", "-f", "-", input=pod.format(name="quiet", extra="  serviceAccountName: quiet\n"))
        p = self.kn("get", "pod", "quiet", "-o", "json").json()
        self.assertNotIn("volumes", p["spec"])

    def test_pods_right_after_a_new_namespace(self):
        # The default ServiceAccount may not exist yet: the API server waits for it, as upstream's
        # admission does, and the ReplicaSet controller retries failures.
        for i in range(3):
            ns = f"{self.ns}-{i}"
            r = self.server.run_in_ns(["sh", "-c",
                                       f"kubectl create namespace {ns} && kubectl -n {ns} run p --image=busybox "
                                       f"&& kubectl -n {ns} create deployment d --image=busybox --replicas=2"])
            self.assertEqual(r.code, 0, r)
            wait_for(lambda: len(self.k("-n", ns, "get", "pods", "-o", "name").out.split()) == 3, timeout=30,
                     what="3 pods")
            self.k("delete", "namespace", ns, "--wait=false")


class ServiceAccountKeyRestartTest(TokenMixin, ServerTestCase):
    def test_tokens_survive_a_restart(self):
        wait_for(lambda: self.kn("get", "sa", "default", check=False).code == 0, timeout=30, what="default SA")
        token = self.kn("create", "token", "default").out.strip()
        key = os.path.join(self.server.data_dir, "server", "tls", "service.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        with open(key) as f:
            before = f.read()
        self.assertEqual(self.server.terminate(), 0, self.server.logs())
        self.server.start()
        with open(key) as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(self.whoami(token)["username"], f"system:serviceaccount:{self.ns}:default")


class ProjectedTokenTest(TokenMixin, ServerTestCase):
    """The kubelet writes the pod's token, CA and namespace; the token names the pod."""
    agent = True

    @classmethod
    def setUpClass(cls):
        cls.images = [os.path.join(test_images(), "busybox.oci.tar")]
        super().setUpClass()
        wait_for(lambda: cls.server.kubectl("get", "node", "e2e-node", "-o",
                                            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                                            check=False).out == "True", timeout=60, what="node e2e-node Ready")

    def test_busybox_reads_its_token_ca_and_namespace(self):
        wait_for(lambda: self.kn("get", "sa", "default", check=False).code == 0, timeout=30, what="default SA")
        self.kn("run", "box", f"--image={BUSYBOX}", "--restart=Never", "--", "sleep", "3600")
        self.kn("wait", "--for=condition=Ready", "pod/box", "--timeout=90s", timeout=120)
        d = "/var/run/secrets/kubernetes.io/serviceaccount"
        token = self.kn("exec", "box", "--", "cat", f"{d}/token").out
        ns = self.kn("exec", "box", "--", "cat", f"{d}/namespace").out
        ca = self.kn("exec", "box", "--", "cat", f"{d}/ca.crt").out
        self.assertEqual(ns, self.ns)
        with open(os.path.join(self.server.data_dir, "server", "tls", "server-ca.crt")) as f:
            self.assertEqual(ca, f.read())
        ls = self.kn("exec", "box", "--", "ls", "-a", d).out.split()
        self.assertEqual(sorted(x for x in ls if not x.startswith(".")), ["ca.crt", "namespace", "token"])
        # Read-only, as every container's kube-api-access mount.
        r = self.kn("exec", "box", "--", "sh", "-c", f"echo x > {d}/token", check=False)
        self.assertNotEqual(r.code, 0)

        pod = self.kn("get", "pod", "box", "-o", "json").json()
        c = claims(token)
        self.assertEqual(c["kubernetes.io"]["pod"], {"name": "box", "uid": pod["metadata"]["uid"]})
        self.assertEqual(c["kubernetes.io"]["node"]["name"], "e2e-node")
        self.assertEqual(c["exp"] - c["iat"], 365 * 24 * 3600)  # extended, with warnafter
        self.assertEqual(c["kubernetes.io"]["warnafter"] - c["iat"], 3607)
        user = self.whoami(token)
        self.assertEqual(user["username"], f"system:serviceaccount:{self.ns}:default")
        self.assertEqual(user["extra"]["authentication.kubernetes.io/pod-name"], ["box"])
        self.assertEqual(user["extra"]["authentication.kubernetes.io/pod-uid"], [pod["metadata"]["uid"]])
        self.assertEqual(user["extra"]["authentication.kubernetes.io/node-name"], ["e2e-node"])

        # Gone with the pod.
        self.kn("delete", "pod", "box", "--grace-period=1")
        r = self.sa_kubectl(token, "auth", "whoami")
        self.assertIn("Unauthorized", r.err)

    def test_pod_with_custom_audience_projection(self):
        wait_for(lambda: self.kn("get", "sa", "default", check=False).code == 0, timeout=30, what="default SA")
        self.apply_yaml(f"""apiVersion: v1
kind: Pod
metadata:
  name: aud
spec:
  terminationGracePeriodSeconds: 1
  automountServiceAccountToken: false
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sleep", "3600"]
    volumeMounts:
    - name: vault
      mountPath: /vault
  volumes:
  - name: vault
    projected:
      sources:
      - serviceAccountToken:
          audience: vault
          expirationSeconds: 600
          path: vault-token
""")
        self.kn("wait", "--for=condition=Ready", "pod/aud", "--timeout=90s", timeout=120)
        c = claims(self.kn("exec", "aud", "--", "cat", "/vault/vault-token").out)
        self.assertEqual(c["aud"], ["vault"])
        self.assertEqual(c["exp"] - c["iat"], 600)
        self.assertEqual(c["kubernetes.io"]["pod"]["name"], "aud")
        r = self.kn("exec", "aud", "--", "ls", "/var/run/secrets/kubernetes.io/serviceaccount", check=False)
        self.assertNotEqual(r.code, 0)


if __name__ == "__main__":
    main()
