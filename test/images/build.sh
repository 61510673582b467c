#!/bin/sh
# Builds minik's offline test images from the host's /bin/busybox (Debian busybox-static):
# no network, no container engine. Deterministic (fixed mtimes, owners and order), so the
# image IDs are the same on every run on the same busybox binary.
#
# Usage: test/images/build.sh OUTDIR
#
# Writes into OUTDIR:
#   busybox.oci.tar            OCI image layout: docker.io/library/busybox:latest and :1.36
#   busybox.oci.tar.gz/.zst    the same, compressed
#   busybox.docker.tar         docker-archive (`docker save` format, uncompressed layer)
#   busybox.docker.tar.gz/.zst the same, compressed
#   busybox-extra.oci.tar      docker.io/minik/busybox-extra:latest: the busybox layer plus an
#                              uncompressed layer with a file, a whiteout and an opaque directory
set -eu

out=${1:?usage: build.sh OUTDIR}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "build.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$out"
"$busybox" --list > "$out/.applets"

python3 - "$out" "$busybox" <<'PY'
import gzip, hashlib, io, json, os, platform, sys, tarfile

out, busybox = sys.argv[1], sys.argv[2]
MTIME = 1700000000
CREATED = "2023-11-14T22:13:20Z"
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}.get(platform.machine(), platform.machine())

def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()

def info(name, type=tarfile.REGTYPE, mode=0o644, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname = type, mode, size, linkname
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "", ""
    return ti

def make_tar(entries):
    """entries: list of (TarInfo, bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

def gz(b):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="", compresslevel=6) as g:
        g.write(b)
    return buf.getvalue()

def d(name, mode=0o755):
    return (info(name, tarfile.DIRTYPE, mode), None)

def f(name, data, mode=0o644):
    return (info(name, size=len(data), mode=mode), data)

def ln(name, target):
    return (info(name, tarfile.SYMTYPE, 0o777, linkname=target), None)

# --- the busybox layer
with open(busybox, "rb") as fh:
    bb = fh.read()
applets = sorted(a for a in open(os.path.join(out, ".applets")).read().split() if a and "/" not in a and a != "busybox")
passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
group = b"root:x:0:\nnobody:x:65534:\n"
entries = [d("bin/"), f("bin/busybox", bb, 0o755)]
entries += [ln("bin/" + a, "busybox") for a in applets]
entries += [d("dev/"), d("etc/"), f("etc/group", group), f("etc/passwd", passwd), d("home/"), d("proc/"),
            d("root/", 0o700), d("sys/"), d("tmp/", 0o1777), d("usr/"), d("usr/bin/"),
            ln("usr/bin/env", "../../bin/busybox"), d("var/")]
base_tar = make_tar(entries)
base_diff = sha(base_tar)
base_gz = gz(base_tar)

# --- a second layer: a file, a whiteout (removes /home) and an opaque directory (/var)
extra_tar = make_tar([d("etc/"), f("etc/motd", b"minik busybox-extra\n"), f(".wh.home", b""),
                      d("var/"), f("var/.wh..wh..opq", b""), f("var/extra", b"extra\n")])
extra_diff = sha(extra_tar)

def config(diff_ids, cmd):
    c = {"architecture": ARCH, "os": "linux", "created": CREATED,
         "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
         "rootfs": {"type": "layers", "diff_ids": diff_ids},
         "history": [{"created": CREATED, "created_by": "test/images/build.sh"} for _ in diff_ids]}
    return json.dumps(c, separators=(",", ":")).encode()

def oci_archive(path, layers, cfg, names):
    """layers: list of (media type, blob bytes); names: full references."""
    blobs = {}
    blobs[sha(cfg)] = cfg
    for _, b in layers:
        blobs[sha(b)] = b
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": mt, "digest": sha(b), "size": len(b)} for mt, b in layers],
    }, separators=(",", ":")).encode()
    blobs[sha(manifest)] = manifest
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
                       "size": len(manifest), "platform": {"architecture": ARCH, "os": "linux"},
                       "annotations": {"io.containerd.image.name": n,
                                       "org.opencontainers.image.ref.name": n.rsplit(":", 1)[1]}}
                      for n in names],
    }, separators=(",", ":")).encode()
    entries = [f("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), f("index.json", index), d("blobs/"), d("blobs/sha256/")]
    entries += [f("blobs/sha256/" + k[7:], v) for k, v in sorted(blobs.items())]
    with open(path, "wb") as fh:
        fh.write(make_tar(entries))

base_cfg = config([base_diff], ["sh"])
oci_archive(os.path.join(out, "busybox.oci.tar"), [("application/vnd.oci.image.layer.v1.tar+gzip", base_gz)], base_cfg,
            ["docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"])
oci_archive(os.path.join(out, "busybox-extra.oci.tar"),
            [("application/vnd.oci.image.layer.v1.tar+gzip", base_gz), ("application/vnd.oci.image.layer.v1.tar", extra_tar)],
            config([base_diff, extra_diff], ["sh"]), ["docker.io/minik/busybox-extra:latest"])

# --- docker-archive (`docker save` before docker 25): uncompressed layer.tar per layer
lid = base_diff[7:]
docker_manifest = json.dumps([{"Config": sha(base_cfg)[7:] + ".json", "RepoTags": ["busybox:latest", "busybox:1.36"],
                               "Layers": [lid + "/layer.tar"]}], separators=(",", ":")).encode()
repositories = json.dumps({"busybox": {"latest": lid, "1.36": lid}}, separators=(",", ":")).encode()
entries = [d(lid + "/"), f(lid + "/VERSION", b"1.0"), f(lid + "/json", b'{"id":"' + lid.encode() + b'"}'),
           f(lid + "/layer.tar", base_tar), f(sha(base_cfg)[7:] + ".json", base_cfg),
           f("manifest.json", docker_manifest), f("repositories", repositories)]
with open(os.path.join(out, "busybox.docker.tar"), "wb") as fh:
    fh.write(make_tar(entries))

for name in ("busybox.oci.tar", "busybox.docker.tar"):
    with open(os.path.join(out, name), "rb") as fh:
        data = fh.read()
    with open(os.path.join(out, name + ".gz"), "wb") as fh:
        fh.write(gz(data))
PY

for name in busybox.oci.tar busybox.docker.tar; do
  zstd -q -f -3 "$out/$name" -o "$out/$name.zst"
done
rm -f "$out/.applets"
