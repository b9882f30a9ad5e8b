#!/usr/bin/env python3
"""Builds airlock's signed test fixtures.  Run through ./make-fixtures.sh (which provides the tools and the
registry); see that file's header.  Environment:
  AIRLOCK_REGISTRY  host:port of a running distribution registry on 127.0.0.1 (plain HTTP)
  AIRLOCK_SKOPEO    skopeo >= 1.10 with sigstore (trixie 1.18 wrapper from signers.sh)
  AIRLOCK_COSIGN    cosign 2.x
Python 3.11 stdlib + `cryptography` only.  Writes everything under the directory this file is in.
"""
import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sigstore_key  # noqa: E402

REG = os.environ["AIRLOCK_REGISTRY"]
SKOPEO = os.environ["AIRLOCK_SKOPEO"]
COSIGN = os.environ["AIRLOCK_COSIGN"]
WORK = tempfile.mkdtemp(prefix="airlock-fixtures-")
KEYS = os.path.join(HERE, "keys")
LAYOUTS = os.path.join(HERE, "layouts")
DIRS = os.path.join(HERE, "dirs")
PASSFILE = os.path.join(KEYS, "passphrase.txt")
PASSPHRASE = b"airlock-test"
IDHOST = "registry.airlock.test"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
D_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
D_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
D_CONFIG = "application/vnd.docker.container.image.v1+json"
D_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANN = "dev.cosignproject.cosign/signature"
REFNAME = "org.opencontainers.image.ref.name"

# facts collected while building, written to fixtures.json and used in FIXTURES.md
FACTS = {"images": {}, "fixtures": {}}


def log(*a):
    print("[fixtures]", *a, file=sys.stderr, flush=True)


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def cj(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def run(cmd, env=None, check=True, capture=False):
    log("$", " ".join(cmd))
    e = dict(os.environ)
    if env:
        e.update(env)
    r = subprocess.run(cmd, env=e, text=True, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None)
    if check and r.returncode != 0:
        if capture:
            sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r


# ----------------------------------------------------------------------------------------------------------
# keys

def write_keys():
    os.makedirs(KEYS)
    with open(PASSFILE, "wb") as f:
        f.write(PASSPHRASE + b"\n")
    for name in ("p256", "other"):
        run([SKOPEO, "generate-sigstore-key", "--output-prefix", os.path.join(KEYS, name),
             "--passphrase-file", PASSFILE], capture=True)
        os.rename(os.path.join(KEYS, name + ".private"), os.path.join(KEYS, name + ".key"))
    gens = {"p384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ed25519": lambda: ed25519.Ed25519PrivateKey.generate()}
    for name, gen in gens.items():
        k = gen()
        der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
        with open(os.path.join(KEYS, name + ".key"), "w") as f:
            f.write(sigstore_key.encrypt_pkcs8(der, PASSPHRASE))
        with open(os.path.join(KEYS, name + ".pub"), "wb") as f:
            f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    FACTS["keys"] = {}
    for name in ("p256", "p384", "rsa", "ed25519", "other"):
        pub = serialization.load_pem_public_key(open(os.path.join(KEYS, name + ".pub"), "rb").read())
        spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        FACTS["keys"][name] = {"pub": f"keys/{name}.pub", "key": f"keys/{name}.key",
                               "sha256_spki": hashlib.sha256(spki).hexdigest(),
                               "label": open(os.path.join(KEYS, name + ".key")).readline().strip()}


# ----------------------------------------------------------------------------------------------------------
# images

def layer(files):
    """files: {path: text}. Returns (gzip bytes, diff_id)."""
    d = tempfile.mkdtemp(dir=WORK)
    for p, text in files.items():
        fp = os.path.join(d, p)
        os.makedirs(os.path.dirname(fp), exist_ok=True)
        with open(fp, "w") as f:
            f.write(text)
    for root, dirs, fs in os.walk(d):
        os.chmod(root, 0o755)
        for f in fs:
            os.chmod(os.path.join(root, f), 0o644)
    tar = subprocess.run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
                          "--format=gnu", "-cf", "-", "-C", d] + sorted(os.listdir(d)),
                         check=True, stdout=subprocess.PIPE).stdout
    gz = subprocess.run(["gzip", "-n", "-9"], input=tar, check=True, stdout=subprocess.PIPE).stdout
    return gz, sha(tar)


class Image:
    """A manifest (or index) plus every blob/child it needs, ready to push."""

    def __init__(self):
        self.blobs = {}  # digest -> bytes
        self.children = []  # (digest, media type, bytes) pushed by digest before the top manifest
        self.manifest = b""
        self.media_type = ""

    @property
    def digest(self):
        return sha(self.manifest)


def build_manifest(name, arch, nlayers=1, variant=None, docker=False):
    img = Image()
    layers, diff_ids = [], []
    for i in range(nlayers):
        plat = arch + (f"-{variant}" if variant else "")
        files = {f"etc/airlock/{name}-{plat}-layer{i}.txt": f"airlock fixture {name} {plat} layer {i}\n",
                 f"usr/share/airlock/{name}/README": f"image {name}, platform {plat}, layer {i}\n"}
        gz, diff = layer(files)
        img.blobs[sha(gz)] = gz
        layers.append({"mediaType": D_LAYER if docker else OCI_LAYER, "size": len(gz), "digest": sha(gz)})
        diff_ids.append(diff)
    cfg = {"created": "1970-01-01T00:00:00Z", "architecture": arch, "os": "linux"}
    if variant:
        cfg["variant"] = variant
    cfg["config"] = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                     "Cmd": ["/bin/sh"], "Labels": {"test.airlock.image": name}}
    cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    cfg["history"] = [{"created": "1970-01-01T00:00:00Z", "created_by": f"airlock make_fixtures layer {i}"}
                      for i in range(nlayers)]
    cb = cj(cfg)
    img.blobs[sha(cb)] = cb
    img.media_type = D_MANIFEST if docker else OCI_MANIFEST
    img.manifest = cj({"schemaVersion": 2, "mediaType": img.media_type,
                       "config": {"mediaType": D_CONFIG if docker else OCI_CONFIG, "size": len(cb),
                                  "digest": sha(cb)},
                       "layers": layers})
    return img


def build_index(name, plats, docker=False):
    idx = Image()
    descs = []
    for arch, variant in plats:
        m = build_manifest(name, arch, variant=variant, docker=docker)
        idx.blobs.update(m.blobs)
        idx.children.append((m.digest, m.media_type, m.manifest))
        p = {"architecture": arch, "os": "linux"}
        if variant:
            p["variant"] = variant
        descs.append({"mediaType": m.media_type, "size": len(m.manifest), "digest": m.digest, "platform": p})
    idx.media_type = D_LIST if docker else OCI_INDEX
    idx.manifest = cj({"schemaVersion": 2, "mediaType": idx.media_type, "manifests": descs})
    return idx


def build_images():
    imgs = {
        "single": build_manifest("single", "amd64"),
        "multi": build_index("multi", [("amd64", None), ("arm64", None), ("arm", "v7")]),
        "dockerlist": build_index("dockerlist", [("amd64", None), ("arm64", None)], docker=True),
        "layers3": build_manifest("layers3", "amd64", nlayers=3),
    }
    for n, img in imgs.items():
        info = {"reference": f"{IDHOST}/airlock/{n}:v1", "digest": img.digest, "mediaType": img.media_type,
                "size": len(img.manifest)}
        if img.children:
            info["platforms"] = {}
            for pd in json.loads(img.manifest)["manifests"]:
                p = pd["platform"]
                key = p["architecture"] + ("/" + p["variant"] if "variant" in p else "")
                m = json.loads(dict((c[0], c[2]) for c in img.children)[pd["digest"]])
                info["platforms"][key] = {"digest": pd["digest"], "config": m["config"]["digest"],
                                          "layers": [l["digest"] for l in m["layers"]]}
        else:
            m = json.loads(img.manifest)
            info["config"] = m["config"]["digest"]
            info["layers"] = [l["digest"] for l in m["layers"]]
        FACTS["images"][n] = info
    return imgs


# ----------------------------------------------------------------------------------------------------------
# registry (distribution API over plain HTTP)

def http(method, path_or_url, data=None, headers=None):
    url = path_or_url if path_or_url.startswith("http") else f"http://{REG}{path_or_url}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def push_blob(repo, data):
    d = sha(data)
    st, _, _ = http("HEAD", f"/v2/{repo}/blobs/{d}")
    if st == 200:
        return d
    st, h, body = http("POST", f"/v2/{repo}/blobs/uploads/")
    assert st == 202, (st, body)
    loc = h["Location"]
    if not loc.startswith("http"):
        loc = f"http://{REG}{loc}"
    loc += ("&" if "?" in loc else "?") + "digest=" + d
    st, _, body = http("PUT", loc, data, {"Content-Type": "application/octet-stream"})
    assert st == 201, (st, body)
    return d


def push_manifest(repo, ref, media_type, data):
    st, _, body = http("PUT", f"/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type})
    assert st == 201, (st, body)


def get_manifest(repo, ref):
    accept = ", ".join([OCI_MANIFEST, OCI_INDEX, D_MANIFEST, D_LIST])
    st, h, body = http("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})
    assert st == 200, (repo, ref, st, body)
    return body


def get_blob(repo, d):
    st, _, body = http("GET", f"/v2/{repo}/blobs/{d}")
    assert st == 200, (repo, d, st)
    return body


def tags(repo):
    st, _, body = http("GET", f"/v2/{repo}/tags/list")
    return sorted(json.loads(body).get("tags") or []) if st == 200 else []


def push_image(repo, img, tag="v1"):
    for b in img.blobs.values():
        push_blob(repo, b)
    for d, mt, m in img.children:
        push_manifest(repo, d, mt, m)
    push_manifest(repo, tag, img.media_type, img.manifest)


def sig_tag(digest):
    return digest.replace(":", "-", 1) + ".sig"


# ----------------------------------------------------------------------------------------------------------
# skopeo / cosign

REGD_ATTACH = os.path.join(WORK, "registries.d-attach")
REGD_NONE = os.path.join(WORK, "registries.d-none")


def setup_registries_d():
    os.makedirs(REGD_ATTACH)
    os.makedirs(REGD_NONE)
    with open(os.path.join(REGD_ATTACH, "airlock.yaml"), "w") as f:
        f.write(f'docker:\n  "{REG}":\n    use-sigstore-attachments: true\n')


def skopeo(args, attach=True, **kw):
    return run([SKOPEO, "--insecure-policy", "--registries.d", REGD_ATTACH if attach else REGD_NONE] + args, **kw)


def sign(repo, ref, key, identity, multi=None):
    """Sign in place (skopeo copy onto itself), as hangar does. ref is ':tag' or '@digest'."""
    src = f"docker://{REG}/{repo}{ref}"
    args = ["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests"]
    if multi == "all":
        args.append("--all")
    elif multi == "index-only":
        args += ["--multi-arch", "index-only"]
    args += ["--sign-by-sigstore-private-key", os.path.join(KEYS, key + ".key"), "--sign-passphrase-file",
             PASSFILE, "--sign-identity", identity, src, src]
    skopeo(args, capture=True)


def export(repo, layout, refrepo, tag="v1", sigs=True, preserve=True, check=True):
    """Copy repo:tag (all instances) into an OCI layout named REFREPO:TAG, plus every .sig tag of repo."""
    args = ["copy", "--all", "--src-tls-verify=false"]
    if preserve:
        args.append("--preserve-digests")
    r = skopeo(args + [f"docker://{REG}/{repo}:{tag}", f"oci:{layout}:{refrepo}:{tag}"], attach=False,
               capture=True, check=check)
    if r.returncode != 0:
        return r
    if sigs:
        for t in tags(repo):
            if t.endswith(".sig"):
                skopeo(["copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{REG}/{repo}:{t}",
                        f"oci:{layout}:{refrepo}:{t}"], attach=False, capture=True)
    return r


def cosign_env():
    return {"COSIGN_PASSWORD": PASSPHRASE.decode(), "COSIGN_YES": "true", "HOME": os.path.join(WORK, "home"),
            "TUF_ROOT": os.path.join(WORK, "tuf"), "SIGSTORE_NO_CACHE": "1"}


# ----------------------------------------------------------------------------------------------------------
# layout editing (negative cases)

class Layout:
    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "index.json"), "rb") as f:
            self.index = json.load(f)

    def blob_path(self, d):
        return os.path.join(self.path, "blobs", *d.split(":", 1))

    def read(self, d):
        with open(self.blob_path(d), "rb") as f:
            return f.read()

    def write(self, data):
        d = sha(data)
        with open(self.blob_path(d), "wb") as f:
            f.write(data)
        return d

    def remove(self, d):
        os.remove(self.blob_path(d))

    def entry(self, refname):
        for m in self.index["manifests"]:
            if m.get("annotations", {}).get(REFNAME) == refname:
                return m
        raise KeyError(refname)

    def save(self):
        with open(os.path.join(self.path, "index.json"), "wb") as f:
            f.write(cj(self.index))


def clone_layout(src, dst):
    shutil.copytree(os.path.join(LAYOUTS, src), os.path.join(LAYOUTS, dst))
    return Layout(os.path.join(LAYOUTS, dst))


def rewrite_sig_manifest(lay, entry, mutate_layers):
    """Load the .sig manifest of an index entry, let mutate_layers edit its layer list (may write blobs),
    keep config diff_ids in step, write the new manifest, repoint the entry, delete stale blobs."""
    old_d = entry["digest"]
    man = json.loads(lay.read(old_d))
    old_cfg = man["config"]["digest"]
    cfg = json.loads(lay.read(old_cfg))
    mutate_layers(man["layers"])
    cfg["rootfs"]["diff_ids"] = [l["digest"] for l in man["layers"]]
    cb = cj(cfg)
    man["config"] = dict(man["config"], digest=lay.write(cb), size=len(cb))
    mb = cj(man)
    entry["digest"], entry["size"] = lay.write(mb), len(mb)
    lay.save()
    lay.remove(old_d)
    if man["config"]["digest"] != old_cfg:
        lay.remove(old_cfg)
    return man


# ----------------------------------------------------------------------------------------------------------
# fixtures

def ref(name, tag="v1", repo="airlock"):
    return f"{IDHOST}/{repo}/{name}:{tag}"


def fx(name, **info):
    FACTS["fixtures"][name] = info
    log("fixture", name, "done")


def sig_refs(layout_dir):
    lay = Layout(layout_dir)
    return {m["annotations"][REFNAME]: m["digest"] for m in lay.index["manifests"]
            if m.get("annotations", {}).get(REFNAME, "").endswith(".sig")}


def layout(name):
    return os.path.join(LAYOUTS, name)


def make_positive(imgs):
    single, multi, layers3 = imgs["single"], imgs["multi"], imgs["layers3"]

    # 1, 7: single signed by each key type
    for key in ("p256", "p384", "rsa", "ed25519"):
        repo = f"fx/signed-{key}/single"
        push_image(repo, single)
        sign(repo, ":v1", key, ref("single"))
        export(repo, layout(f"signed-{key}"), f"{IDHOST}/airlock/single")
        fx(f"signed-{key}", sigs=sig_refs(layout(f"signed-{key}")))

    # 2, 3: multi signed --all / index-only
    for mode, name in (("all", "signed-multi-all"), ("index-only", "signed-multi-index-only")):
        repo = f"fx/{name}/multi"
        push_image(repo, multi)
        sign(repo, ":v1", "p256", ref("multi"), multi=mode)
        export(repo, layout(name), f"{IDHOST}/airlock/multi")
        fx(name, sigs=sig_refs(layout(name)))

    # 4: each platform manifest signed on its own (by digest), the index not signed
    repo = "fx/signed-multi-per-platform/multi"
    push_image(repo, multi)
    for d, _, _ in multi.children:
        sign(repo, "@" + d, "p256", ref("multi"))
    export(repo, layout("signed-multi-per-platform"), f"{IDHOST}/airlock/multi")
    fx("signed-multi-per-platform", sigs=sig_refs(layout("signed-multi-per-platform")))

    # 6: layers3
    repo = "fx/signed-layers3/layers3"
    push_image(repo, layers3)
    sign(repo, ":v1", "p256", ref("layers3"))
    export(repo, layout("signed-layers3"), f"{IDHOST}/airlock/layers3")
    fx("signed-layers3", sigs=sig_refs(layout("signed-layers3")))

    # 10: docker.io identity
    repo = "fx/docker-io-identity/single"
    push_image(repo, single)
    sign(repo, ":v1", "p256", "docker.io/library/airlocktest:v1")
    export(repo, layout("docker-io-identity"), "docker.io/library/airlocktest")
    fx("docker-io-identity", sigs=sig_refs(layout("docker-io-identity")))

    # 11: two signatures in one .sig manifest: `other` first, then p256
    repo = "fx/two-sigs-one-valid/single"
    push_image(repo, single)
    sign(repo, ":v1", "other", ref("single"))
    sign(repo, ":v1", "p256", ref("single"))
    export(repo, layout("two-sigs-one-valid"), f"{IDHOST}/airlock/single")
    fx("two-sigs-one-valid", sigs=sig_refs(layout("two-sigs-one-valid")))

    # 14: unsigned
    repo = "fx/unsigned/single"
    push_image(repo, single)
    export(repo, layout("unsigned"), f"{IDHOST}/airlock/single")
    fx("unsigned", sigs={})

    # 19: copied-repo: signed as airlock/single, named mirror/single in the layout
    export("fx/signed-p256/single", layout("copied-repo"), f"{IDHOST}/mirror/single")
    fx("copied-repo", sigs=sig_refs(layout("copied-repo")))

    # 13: skopeo dir: copies with signatures
    os.makedirs(DIRS, exist_ok=True)
    skopeo(["copy", "--all", "--preserve-digests", "--src-tls-verify=false",
            f"docker://{REG}/fx/signed-multi-all/multi:v1", f"dir:{DIRS}/multi-signed"], capture=True)
    skopeo(["copy", "--preserve-digests", "--src-tls-verify=false",
            f"docker://{REG}/fx/signed-p256/single:v1", f"dir:{DIRS}/single-signed"], capture=True)
    fx("dirs/multi-signed", files=sorted(os.listdir(f"{DIRS}/multi-signed")))
    fx("dirs/single-signed", files=sorted(os.listdir(f"{DIRS}/single-signed")))


def make_dockerlist(imgs):
    dl = imgs["dockerlist"]
    repo = "fx/signed-dockerlist/dockerlist"
    push_image(repo, dl)
    sign(repo, ":v1", "p256", ref("dockerlist"), multi="all")
    # an OCI layout cannot hold a Docker list with its digest: record skopeo's refusal
    tmp = os.path.join(WORK, "dl-preserve")
    r = export(repo, tmp, f"{IDHOST}/airlock/dockerlist", sigs=False, check=False)
    err = (r.stderr or "").strip().splitlines()[-1:] if r.returncode else None
    if err:
        m = err[0].split(' msg="', 1)[-1]
        err = [(m[:-1] if m.endswith('"') else m).replace('\\"', '"')]
    FACTS["dockerlist_preserve_digests_error"] = err
    if r.returncode == 0:
        log("NOTE: Docker list kept its digest in an OCI layout")
    skopeo(["copy", "--all", "--preserve-digests", "--src-tls-verify=false",
            f"docker://{REG}/{repo}:v1", f"dir:{DIRS}/dockerlist-signed"], capture=True)
    fx("dirs/dockerlist-signed", files=sorted(os.listdir(f"{DIRS}/dockerlist-signed")))
    # converted OCI layout (digests change; the .sig tags keep the original digests' names)
    export(repo, layout("dockerlist-converted"), f"{IDHOST}/airlock/dockerlist", preserve=False)
    lay = Layout(layout("dockerlist-converted"))
    top = lay.entry(ref("dockerlist"))
    conv = json.loads(lay.read(top["digest"]))
    fx("dockerlist-converted", sigs=sig_refs(layout("dockerlist-converted")), index_digest=top["digest"],
       index_mediaType=conv.get("mediaType"),
       platforms={m["platform"]["architecture"]: m["digest"] for m in conv["manifests"]})


def make_cosign(imgs):
    single = imgs["single"]
    repo = "fx/cosign-signed/single"
    push_image(repo, single)
    os.makedirs(os.path.join(WORK, "home"), exist_ok=True)
    run([COSIGN, "sign", "--key", os.path.join(KEYS, "p256.key"), "--tlog-upload=false",
         "--allow-http-registry", "--allow-insecure-registry", "--yes",
         "--sign-container-identity", f"{IDHOST}/airlock/single",
         f"{REG}/{repo}@{single.digest}"], env=cosign_env(), capture=True)
    export(repo, layout("cosign-signed"), f"{IDHOST}/airlock/single")
    fx("cosign-signed", sigs=sig_refs(layout("cosign-signed")))
    # 9: cosign save
    run([COSIGN, "save", "--allow-http-registry", "--allow-insecure-registry", "--dir", layout("cosign-save"),
         f"{REG}/{repo}:v1"], env=cosign_env(), capture=True)
    lay = Layout(layout("cosign-save"))
    fx("cosign-save", entries=[{"digest": m["digest"], "annotations": m.get("annotations")}
                               for m in lay.index["manifests"]])


def make_bundle_v3(imgs):
    single = imgs["single"]
    repo = "fx/bundle-v3/single"
    push_image(repo, single)
    pred = os.path.join(WORK, "pred.json")
    with open(pred, "w") as f:
        f.write("{}\n")
    r = run([COSIGN, "attest", "--new-bundle-format", "--type", "https://sigstore.dev/cosign/sign/v1",
             "--predicate", pred, "--key", os.path.join(KEYS, "p256.key"), "--tlog-upload=false",
             "--allow-http-registry", "--allow-insecure-registry", "--yes",
             f"{REG}/{repo}@{single.digest}"], env=cosign_env(), capture=True, check=False)
    if r.returncode != 0:
        FACTS["bundle_v3_error"] = (r.stderr or "").strip()[-2000:]
        log("bundle-v3 not produced:", FACTS["bundle_v3_error"])
        return
    fallback = single.digest.replace(":", "-", 1)
    ts = tags(repo)
    log("bundle-v3 tags:", ts)
    idx_bytes = get_manifest(repo, fallback)
    idx = json.loads(idx_bytes)
    export(repo, layout("bundle-v3"), f"{IDHOST}/airlock/single", sigs=False)
    lay = Layout(layout("bundle-v3"))
    referrers = []
    for d in idx["manifests"]:
        mb = get_manifest(repo, d["digest"])
        assert sha(mb) == d["digest"]
        m = json.loads(mb)
        for b in [m["config"]] + m["layers"]:
            lay.write(get_blob(repo, b["digest"]))
        lay.write(mb)  # unreferenced, as cosign v3 `save` leaves it
        referrers.append({"digest": d["digest"], "artifactType": m.get("artifactType"),
                          "layers": [(l["mediaType"], l["digest"]) for l in m["layers"]]})
    fx("bundle-v3", referrers=referrers, fallback_index_descriptors=idx["manifests"])
    # a second layout that also keeps the sha256-<hex> fallback tag index as a named entry
    shutil.copytree(layout("bundle-v3"), layout("bundle-v3-tagged"))
    lay2 = Layout(layout("bundle-v3-tagged"))
    lay2.write(idx_bytes)
    lay2.index["manifests"].append({"mediaType": OCI_INDEX, "digest": sha(idx_bytes), "size": len(idx_bytes),
                                    "annotations": {REFNAME: f"{IDHOST}/airlock/single:{fallback}"}})
    lay2.save()
    fx("bundle-v3-tagged", referrers=referrers, fallback_index=sha(idx_bytes))


def make_replayed(imgs):
    # A = single, signed with the identity of B (layers3:v1): an old, genuine signature for "layers3:v1"
    # replayed onto the current layers3:v1 image.  Only defect: the payload's digest is A's.
    single, layers3 = imgs["single"], imgs["layers3"]
    src = "fx/replay-source/single"
    push_image(src, single)
    sign(src, ":v1", "p256", ref("layers3"))
    man_bytes = get_manifest(src, sig_tag(single.digest))
    man = json.loads(man_bytes)
    dst = "fx/replayed-signature/layers3"
    push_image(dst, layers3)
    for b in [man["config"]] + man["layers"]:
        push_blob(dst, get_blob(src, b["digest"]))
    push_manifest(dst, sig_tag(layers3.digest), OCI_MANIFEST, man_bytes)
    export(dst, layout("replayed-signature"), f"{IDHOST}/airlock/layers3")
    fx("replayed-signature", sigs=sig_refs(layout("replayed-signature")), signed_digest=single.digest)


def make_negative(imgs):
    single, multi = imgs["single"], imgs["multi"]
    sref = f"{IDHOST}/airlock/single:{sig_tag(single.digest)}"

    # 16: signature annotation altered (still valid base64 and valid DER: last byte of s flipped)
    lay = clone_layout("signed-p256", "tampered-signature")

    def alter_sig(layers):
        raw = bytearray(base64.b64decode(layers[0]["annotations"][SIG_ANN]))
        raw[-1] ^= 0x01
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        decode_dss_signature(bytes(raw))  # still well-formed DER
        layers[0]["annotations"][SIG_ANN] = base64.b64encode(bytes(raw)).decode()
    man = rewrite_sig_manifest(lay, lay.entry(sref), alter_sig)
    fx("tampered-signature", sig_manifest=lay.entry(sref)["digest"])

    # 17: payload altered (timestamp + 1), layer descriptor updated; signature no longer verifies
    lay = clone_layout("signed-p256", "tampered-payload")
    old_payload = {}

    def alter_payload(layers):
        old_payload["d"] = layers[0]["digest"]
        p = json.loads(lay.read(layers[0]["digest"]))
        p["optional"]["timestamp"] += 1
        nb = cj(p)  # Go's json.Marshal order is sorted keys; ours keeps insertion order == sorted here
        layers[0]["digest"], layers[0]["size"] = lay.write(nb), len(nb)
    man = rewrite_sig_manifest(lay, lay.entry(sref), alter_payload)
    lay.remove(old_payload["d"])
    fx("tampered-payload", sig_manifest=lay.entry(sref)["digest"], payload=man["layers"][0]["digest"])

    # 20: one byte of the layer flipped (same size)
    lay = clone_layout("signed-p256", "corrupt-layer")
    ld = FACTS["images"]["single"]["layers"][0]
    b = bytearray(lay.read(ld))
    b[len(b) // 2] ^= 0xFF
    with open(lay.blob_path(ld), "wb") as f:
        f.write(b)
    fx("corrupt-layer", blob=ld)

    # 21: layer blob deleted
    lay = clone_layout("signed-p256", "missing-blob")
    lay.remove(ld)
    fx("missing-blob", blob=ld)

    # 22: layer blob extended by 16 bytes (name unchanged)
    lay = clone_layout("signed-p256", "size-mismatch")
    with open(lay.blob_path(ld), "ab") as f:
        f.write(b"\0" * 16)
    fx("size-mismatch", blob=ld, extra_bytes=16)

    # 23: signed-multi-all with the arm64 layer corrupted
    lay = clone_layout("signed-multi-all", "multi-corrupt-arm64")
    ld = FACTS["images"]["multi"]["platforms"]["arm64"]["layers"][0]
    b = bytearray(lay.read(ld))
    b[len(b) // 2] ^= 0xFF
    with open(lay.blob_path(ld), "wb") as f:
        f.write(b)
    fx("multi-corrupt-arm64", blob=ld, platform_digest=FACTS["images"]["multi"]["platforms"]["arm64"]["digest"])


# ----------------------------------------------------------------------------------------------------------
# self-check: which key verifies which signature, what each payload claims (recorded in fixtures.json)

def _keys():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    out = {}
    for name in ("p256", "p384", "rsa", "ed25519", "other"):
        pub = serialization.load_pem_public_key(open(os.path.join(KEYS, name + ".pub"), "rb").read())

        def verify(sig, msg, pub=pub):
            try:
                if isinstance(pub, ec.EllipticCurvePublicKey):
                    pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
                elif isinstance(pub, rsa.RSAPublicKey):
                    pub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
                else:
                    pub.verify(sig, msg)
                return True
            except Exception:
                return False
        out[name] = verify
    return out


def _sig_record(keys, where, payload, sig_b64):
    sig = base64.b64decode(sig_b64)
    p = json.loads(payload)
    return {"in": where, "claims_digest": p["critical"]["image"]["docker-manifest-digest"],
            "identity": p["critical"]["identity"]["docker-reference"],
            "optional_null": p["optional"] is None,
            "verified_by": [k for k, v in keys.items() if v(sig, payload)]}


def _integrity(lay):
    """Walk every descriptor reachable from index.json; return problems (expected only in damaged fixtures)."""
    probs, seen = [], set()

    def walk(desc):
        d = desc["digest"]
        if d in seen:
            return
        seen.add(d)
        p = lay.blob_path(d)
        if not os.path.exists(p):
            probs.append(f"missing {d}")
            return
        b = lay.read(d)
        if len(b) != desc["size"]:
            probs.append(f"size {d}: descriptor {desc['size']}, file {len(b)}")
        if sha(b) != d:
            probs.append(f"digest {d}: content {sha(b)}")
        if desc["mediaType"] in (OCI_INDEX, D_LIST):
            for c in json.loads(b)["manifests"]:
                walk(c)
        elif desc["mediaType"] in (OCI_MANIFEST, D_MANIFEST):
            m = json.loads(b)
            for c in [m["config"]] + m["layers"]:
                walk(c)
    for e in lay.index["manifests"]:
        walk(e)
    for f in sorted(os.listdir(os.path.join(lay.path, "blobs", "sha256"))):
        if "sha256:" + f not in seen:
            probs.append(f"unreferenced sha256:{f}")
    return probs


def self_check():
    keys = _keys()
    for name in sorted(os.listdir(LAYOUTS)):
        lay = Layout(layout(name))
        FACTS["fixtures"].setdefault(name, {})["integrity_problems"] = _integrity(lay)
        recs = []
        image_by_kind = [m["digest"] for m in lay.index["manifests"]
                         if m.get("annotations", {}).get("kind", "").endswith("/image")]
        for m in lay.index["manifests"]:
            ann = m.get("annotations", {})
            rn = ann.get(REFNAME, "")
            if rn.endswith(".sig") or ann.get("kind") == "dev.cosignproject.cosign/sigs":
                where = rn or ("kind=dev.cosignproject.cosign/sigs for " + image_by_kind[0])
                man = json.loads(lay.read(m["digest"]))
                for l in man["layers"]:
                    recs.append(_sig_record(keys, where, lay.read(l["digest"]), l["annotations"][SIG_ANN]))
        # bundles: any manifest blob with a subject
        for f in sorted(os.listdir(os.path.join(lay.path, "blobs", "sha256"))):
            try:
                m = json.loads(lay.read("sha256:" + f))
            except Exception:
                continue
            if isinstance(m, dict) and "subject" in m:
                b = json.loads(lay.read(m["layers"][0]["digest"]))
                env = b["dsseEnvelope"]
                body = base64.b64decode(env["payload"])
                t = env["payloadType"].encode()
                pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)
                st = json.loads(body)
                recs.append({"in": "referrer sha256:" + f, "subject": m["subject"]["digest"],
                             "statement_type": st["_type"], "predicateType": st["predicateType"],
                             "subject_sha256": [s["digest"]["sha256"] for s in st["subject"]],
                             "verified_by": [k for k, v in keys.items()
                                             if v(base64.b64decode(env["signatures"][0]["sig"]), pae)]})
        FACTS["fixtures"].setdefault(name, {})["signatures"] = recs
    for name in sorted(os.listdir(DIRS)):
        recs = []
        for f in sorted(os.listdir(os.path.join(DIRS, name))):
            if "signature-" in f:
                raw = open(os.path.join(DIRS, name, f), "rb").read()
                assert raw.startswith(b"\x00sigstore-json\n"), f
                doc = json.loads(raw[len(b"\x00sigstore-json\n"):])
                recs.append(_sig_record(keys, f, base64.b64decode(doc["payload"]), doc["annotations"][SIG_ANN]))
        FACTS["fixtures"].setdefault("dirs/" + name, {})["signatures"] = recs


def peer_check():
    """containers-image (skopeo 1.18) must accept the dir: copies, and reject them with the wrong key."""
    results = {}
    for d, n in (("single-signed", "single"), ("multi-signed", "multi"), ("dockerlist-signed", "dockerlist")):
        for key, want in (("p256", 0), ("other", 1)):
            pol = os.path.join(WORK, "policy.json")
            with open(pol, "w") as f:
                json.dump({"default": [{"type": "reject"}], "transports": {"dir": {"": [{
                    "type": "sigstoreSigned", "keyPath": os.path.join(KEYS, key + ".pub"),
                    "signedIdentity": {"type": "exactRepository",
                                       "dockerRepository": f"{IDHOST}/airlock/{n}"}}]}}}, f)
            out = os.path.join(WORK, "peer-out")
            shutil.rmtree(out, ignore_errors=True)
            r = run([SKOPEO, "--policy", pol, "copy", "--all", f"dir:{DIRS}/{d}", f"dir:{out}"],
                    capture=True, check=False)
            got = 0 if r.returncode == 0 else 1
            if got != want:
                raise SystemExit(f"peer check: skopeo {'rejected' if got else 'accepted'} dirs/{d} with {key}")
            results[f"dirs/{d} with {key}.pub"] = "accepted" if got == 0 else "rejected"
    FACTS["peer_check_skopeo_1_18"] = results


def main():
    for d in (KEYS, LAYOUTS, DIRS):
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(LAYOUTS)
    os.makedirs(DIRS)
    setup_registries_d()
    write_keys()
    imgs = build_images()
    steps = [make_positive, make_dockerlist, make_cosign, make_replayed, make_negative, make_bundle_v3]
    only = os.environ.get("AIRLOCK_STEPS")
    for s in steps:
        if only and s.__name__ not in only.split(","):
            continue
        s(imgs)
    self_check()
    if not os.environ.get("AIRLOCK_STEPS"):
        peer_check()
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(FACTS, f, indent=2, sort_keys=True)
        f.write("\n")
    import write_fixtures_md  # noqa
    write_fixtures_md.write(FACTS, os.path.join(HERE, "FIXTURES.md"))
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
