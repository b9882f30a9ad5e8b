#!/usr/bin/env python3
"""make_matrix.py — the work behind make-matrix.sh (run that, not this).

  make_matrix.py build    keys, images, signatures in the registry at $MATRIX_REGISTRY (empty storage)
  make_matrix.py record   policies/NNN-name.json and cases.tsv: runs skopeo for every row (cwd = this dir)

Environment (set by make-matrix.sh): MATRIX_REGISTRY (127.0.0.7:5007), MATRIX_SKOPEO, MATRIX_COSIGN,
MATRIX_TMP (a private temp dir shared by both steps; private keys and the passphrase live only there).

Every decision in cases.tsv is what skopeo did on that row: its exit code and its message, classified by
the message's own prefix (`Error loading trust policy` → policy-error; `Source image rejected` or an
image that cannot be read → reject; exit 0 → accept). A message that fits none stops the script.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # the crate root
REG = os.environ.get("MATRIX_REGISTRY", "127.0.0.7:5007")
SKOPEO = os.environ.get("MATRIX_SKOPEO", "skopeo")
COSIGN = os.environ.get("MATRIX_COSIGN", "cosign")
TMP = os.environ.get("MATRIX_TMP", "/tmp")
KEYS = os.path.join(HERE, "keys")
POLICIES = os.path.join(HERE, "policies")
REGD = os.path.join(HERE, "registries.d")
STATE = os.path.join(TMP, "state.json")
PASSFILE = os.path.join(TMP, "passphrase.txt")
PASSPHRASE = "policy-matrix-test-passphrase"
LAYOUT_SINGLE = os.path.join(ROOT, "testdata", "layouts", "unsigned")
LAYOUT_MULTI = os.path.join(ROOT, "testdata", "layouts", "signed-multi-all")


def log(*a):
    print("make_matrix:", *a, file=sys.stderr, flush=True)


def run(cmd, check=True, env=None, cwd=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=cwd)
    if check and r.returncode != 0:
        sys.exit(f"make_matrix: command failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r


def skopeo_env():
    home = os.path.join(TMP, "home")
    os.makedirs(home, exist_ok=True)
    regconf = os.path.join(TMP, "registries.conf")
    if not os.path.exists(regconf):
        with open(regconf, "w") as f:
            f.write("")  # no search registries, no mirrors: every reference here is fully qualified
    return {"HOME": home, "CONTAINERS_REGISTRIES_CONF": regconf, "XDG_RUNTIME_DIR": os.path.join(TMP, "xdg"),
            "REGISTRY_AUTH_FILE": os.path.join(TMP, "auth.json")}


# ----------------------------------------------------------------------------------------------------------
# build


def layout_ref(layout):
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)
    m = idx["manifests"][0]
    return m["annotations"]["org.opencontainers.image.ref.name"], m["digest"]


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return f.read()


def registry_digest(repo, ref):
    req = urllib.request.Request(f"http://{REG}/v2/{repo}/manifests/{ref}", method="GET", headers={
        "Accept": ",".join(["application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.list.v2+json",
                            "application/vnd.docker.distribution.manifest.v2+json"])})
    with urllib.request.urlopen(req, timeout=10) as r:
        return "sha256:" + hashlib.sha256(r.read()).hexdigest()


def registry_tags(repo):
    with urllib.request.urlopen(f"http://{REG}/v2/{repo}/tags/list", timeout=10) as r:
        return json.load(r).get("tags") or []


def push(layout, repo_tag, multi):
    src_ref, _ = layout_ref(layout)
    args = [SKOPEO, "--policy", os.path.join(TMP, "accept.json"), "--registries.d", os.path.join(TMP, "rd-none"),
            "copy", "--dest-tls-verify=false", "--preserve-digests"]
    if multi:
        args.append("--all")
    run(args + [f"oci:{layout}:{src_ref}", f"docker://{REG}/{repo_tag}"], env=skopeo_env())


def sign(repo_tag, key, identity=None, multi=None):
    """Sign in place (skopeo copy onto itself, as hangar does); another signature appends a layer."""
    ref = f"docker://{REG}/{repo_tag}"
    args = [SKOPEO, "--policy", os.path.join(TMP, "accept.json"), "--registries.d", REGD, "copy",
            "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests"]
    if multi == "all":
        args.append("--all")
    elif multi == "index-only":
        args += ["--multi-arch", "index-only"]
    args += ["--sign-by-sigstore-private-key", os.path.join(TMP, key + ".private"), "--sign-passphrase-file",
             PASSFILE]
    if identity:
        args += ["--sign-identity", identity]
    run(args + [ref, ref], env=skopeo_env())


def build():
    for d in (KEYS, REGD):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    os.makedirs(os.path.join(TMP, "rd-none"), exist_ok=True)
    with open(os.path.join(TMP, "accept.json"), "w") as f:
        f.write('{"default":[{"type":"insecureAcceptAnything"}]}\n')
    with open(os.path.join(REGD, "policy-matrix.yaml"), "w") as f:
        f.write("# skopeo reads and writes sha256-<hex>.sig attachments for this registry only with this file\n"
                f'docker:\n  "{REG}":\n    use-sigstore-attachments: true\n')
    with open(PASSFILE, "w") as f:
        f.write(PASSPHRASE + "\n")

    # keys: three ECDSA P-256 sigstore keys (public halves committed), a GPG key, a CA, broken files
    for k in ("k1", "k2", "k3"):
        run([SKOPEO, "generate-sigstore-key", "--output-prefix", os.path.join(TMP, k), "--passphrase-file",
             PASSFILE], env=skopeo_env())
        shutil.copy(os.path.join(TMP, k + ".pub"), os.path.join(KEYS, k + ".pub"))
    with open(os.path.join(KEYS, "k2-then-k1.pub"), "wb") as f:
        for k in ("k2", "k1"):
            with open(os.path.join(KEYS, k + ".pub"), "rb") as g:
                f.write(g.read())
    with open(os.path.join(KEYS, "not-pem.pub"), "w") as f:
        f.write("this is not a PEM file\n")
    with open(os.path.join(KEYS, "bad-der.pub"), "w") as f:
        f.write("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(b"not DER at all, just bytes").decode() +
                "\n-----END PUBLIC KEY-----\n")
    gnupg = os.path.join(TMP, "gnupg")
    os.makedirs(gnupg, mode=0o700, exist_ok=True)
    genv = {"GNUPGHOME": gnupg}
    run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
         "airlock policy-matrix test <policy-matrix@airlock.invalid>", "ed25519", "sign", "never"], env=genv)
    with open(os.path.join(KEYS, "gpg-pubring.gpg"), "wb") as f:
        f.write(subprocess.run(["gpg", "--batch", "--export"], env={**os.environ, **genv}, check=True,
                               capture_output=True).stdout)
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         os.path.join(TMP, "ca.key"), "-out", os.path.join(KEYS, "ca.pem"), "-subj", "/CN=airlock policy-matrix CA",
         "-days", "36500"])

    # images
    single_repos = ["ns/app:v1", "ns/app:v2", "ns/other:v1", "ns/unsigned:v1", "ns/ident:v1", "ns/mirrored:v1",
                    "ns/two-sigs:v1", "ns/both:v1", "two:v1", "library/two:v1", "solo:v1", "ns/pinned:v1",
                    "ns/cosigned:v1"]
    for rt in single_repos:
        push(LAYOUT_SINGLE, rt, multi=False)
    for rt in ("ns/multi:v1", "ns/multi-index:v1"):
        push(LAYOUT_MULTI, rt, multi=True)

    _, single = layout_ref(LAYOUT_SINGLE)
    _, index = layout_ref(LAYOUT_MULTI)
    plats = {f"{m['platform']['os']}/{m['platform']['architecture']}" +
             (f"/{m['platform']['variant']}" if m["platform"].get("variant") else ""): m["digest"]
             for m in json.loads(blob(LAYOUT_MULTI, index))["manifests"]}
    for rt in single_repos:
        repo, tag = rt.rsplit(":", 1)
        got = registry_digest(repo, tag)
        assert got == single, (rt, got, single)
    for rt in ("ns/multi:v1", "ns/multi-index:v1"):
        repo, tag = rt.rsplit(":", 1)
        assert registry_digest(repo, tag) == index

    # signatures
    sign("ns/app:v1", "k1")  # ns/app:v2 is the same manifest: it shares this signature (identity :v1)
    sign("ns/other:v1", "k2")
    sign("ns/multi:v1", "k1", multi="all")  # every platform manifest and the index
    sign("ns/multi-index:v1", "k1", multi="index-only")
    sign("ns/ident:v1", "k1", identity=f"{REG}/ns/app:v1")  # names another repository
    sign("ns/mirrored:v1", "k1", identity="registry.example.com/upstream/mirrored:v1")
    sign("ns/two-sigs:v1", "k3")  # untrusted by most policies …
    sign("ns/two-sigs:v1", "k1")  # … then a good one, appended to the same .sig manifest
    sign("ns/both:v1", "k2")
    sign("ns/both:v1", "k1")
    sign("two:v1", "k1")
    sign("library/two:v1", "k1")
    sign("solo:v1", "k1")
    sign("ns/pinned:v1", "k1", identity=f"{REG}/ns/pinned@{single}")  # hangar-1.8 style digest identity
    home = os.path.join(TMP, "home")
    run([COSIGN, "sign", "--key", os.path.join(TMP, "k1.private"), "--tlog-upload=false", "--allow-http-registry",
         "--allow-insecure-registry", "--yes", f"{REG}/ns/cosigned@{single}"],
        env={"COSIGN_PASSWORD": PASSPHRASE, "COSIGN_YES": "true", "HOME": home, "TUF_ROOT": os.path.join(TMP, "tuf"),
             "SIGSTORE_NO_CACHE": "1"})
    # every signature tag exists where expected (and none where not)
    for repo, want in (("ns/app", [single]), ("ns/multi", [index] + list(plats.values())),
                       ("ns/multi-index", [index]), ("ns/unsigned", []), ("ns/cosigned", [single])):
        sigs = sorted(t for t in registry_tags(repo) if t.endswith(".sig"))
        exp = sorted("sha256-" + d.split(":", 1)[1] + ".sig" for d in want)
        assert sigs == exp, (repo, sigs, exp)
    with open(STATE, "w") as f:
        json.dump({"single": single, "index": index, "platforms": plats}, f, indent=1)
    log(f"built: single {single}, index {index}, platforms {plats}")


# ----------------------------------------------------------------------------------------------------------
# record


def b64(path_or_bytes, wrap=None, eol="\n"):
    data = path_or_bytes
    if isinstance(path_or_bytes, str):
        with open(os.path.join(HERE, path_or_bytes), "rb") as f:
            data = f.read()
    s = base64.b64encode(data).decode()
    if wrap:  # as `base64` (coreutils) writes it: 76 columns, a final newline
        s = eol.join(s[i:i + wrap] for i in range(0, len(s), wrap)) + eol
    return s


def ss(**fields):
    """A sigstoreSigned requirement; fields in the order given."""
    d = {"type": "sigstoreSigned"}
    d.update(fields)
    return d


ACCEPT = {"type": "insecureAcceptAnything"}
REJECT = {"type": "reject"}
K1, K2, K3 = "keys/k1.pub", "keys/k2.pub", "keys/k3.pub"
GPG = "keys/gpg-pubring.gpg"
RHEL_KEY = "/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"  # absent here: the scopes never govern our images


def rhel_scopes():
    sb = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": RHEL_KEY}
    return {"registry.access.redhat.com": [sb], "registry.redhat.io": [sb]}


def references(st):
    d, idx = st["single"], st["index"]
    amd64 = st["platforms"]["linux/amd64"]
    r = {
        "A": "ns/app:v1", "A2": "ns/app:v2", "AD": f"ns/app@{d}", "O": "ns/other:v1", "U": "ns/unsigned:v1",
        "M": "ns/multi:v1", "MD": f"ns/multi@{idx}", "MP": f"ns/multi@{amd64}", "MI": "ns/multi-index:v1",
        "ID": "ns/ident:v1", "MR": "ns/mirrored:v1", "TS": "ns/two-sigs:v1", "B": "ns/both:v1", "T2": "two:v1",
        "LT": "library/two:v1", "SO": "solo:v1", "P": "ns/pinned:v1", "PD": f"ns/pinned@{d}",
        "CS": "ns/cosigned:v1", "N": "ns/missing:v1",
    }
    return {k: f"{REG}/{v}" for k, v in r.items()}


# reference sets: "X" = default copy (linux/amd64 instance), "+X" = copy --all
FULL = ["A", "A2", "AD", "O", "U", "M", "MD", "MP", "MI", "ID", "MR", "TS", "B", "T2", "LT", "SO", "P", "PD", "CS",
        "+A", "+M", "+MD", "+MI"]
KEYSET = ["A", "O", "U", "M", "MI", "TS", "B", "CS", "T2", "LT", "+M"]
SCOPE = ["A", "A2", "AD", "O", "U", "M", "MD", "MI", "TS", "T2", "LT", "SO", "+M", "+MD"]
ONE = ["A"]
TWO = ["A", "U"]


def policies(st):
    """(number, name, policy text, reference set). Text is written byte for byte."""
    d, idx = st["single"], st["index"]
    amd64 = st["platforms"]["linux/amd64"]
    out = []

    def add(num, name, pol, refs):
        text = pol if isinstance(pol, str) else json.dumps(pol, indent=2) + "\n"
        out.append((num, name, text, refs))

    def dflt(*reqs, **transports):
        p = {"default": list(reqs)}
        if transports:
            p["transports"] = transports
        return p

    def docker(default, scopes, **other):
        t = {"docker": scopes}
        t.update(other)
        return {"default": default, "transports": t}

    # --- identity types (requirement in `default`, key k1 by keyPath)
    add(1, "default-keypath-no-identity", dflt(ss(keyPath=K1)), FULL)
    add(2, "match-exact", dflt(ss(keyPath=K1, signedIdentity={"type": "matchExact"})), FULL)
    add(3, "match-repo-digest-or-exact", dflt(ss(keyPath=K1, signedIdentity={"type": "matchRepoDigestOrExact"})),
        FULL)
    add(4, "match-repository", dflt(ss(keyPath=K1, signedIdentity={"type": "matchRepository"})), FULL)
    add(5, "exact-reference-tag",
        dflt(ss(keyPath=K1, signedIdentity={"type": "exactReference", "dockerReference": f"{REG}/ns/app:v1"})), FULL)
    add(6, "exact-reference-digest",
        dflt(ss(keyPath=K1, signedIdentity={"type": "exactReference", "dockerReference": f"{REG}/ns/pinned@{d}"})),
        FULL)
    add(7, "exact-repository",
        dflt(ss(keyPath=K1, signedIdentity={"type": "exactRepository", "dockerRepository": f"{REG}/ns/app"})), FULL)
    add(8, "exact-repository-upstream",
        dflt(ss(keyPath=K1, signedIdentity={"type": "exactRepository",
                                            "dockerRepository": "registry.example.com/upstream/mirrored"})), FULL)
    add(9, "remap-namespace",
        dflt(ss(keyPath=K1, signedIdentity={"type": "remapIdentity", "prefix": f"{REG}/ns",
                                            "signedPrefix": "registry.example.com/upstream"})), FULL)
    add(10, "remap-repository",
        dflt(ss(keyPath=K1, signedIdentity={"type": "remapIdentity", "prefix": f"{REG}/ns/mirrored",
                                            "signedPrefix": "registry.example.com/upstream/mirrored"})), FULL)
    add(11, "remap-not-a-path-prefix",
        dflt(ss(keyPath=K1, signedIdentity={"type": "remapIdentity", "prefix": f"{REG}/n",
                                            "signedPrefix": "registry.example.com/upstream"})), FULL)
    add(12, "remap-host",
        dflt(ss(keyPath=K1, signedIdentity={"type": "remapIdentity", "prefix": REG,
                                            "signedPrefix": "registry.example.com"})), FULL)
    add(13, "remap-to-itself",
        dflt(ss(keyPath=K1, signedIdentity={"type": "remapIdentity", "prefix": f"{REG}/ns",
                                            "signedPrefix": f"{REG}/ns"})), FULL)

    # --- key sources
    add(20, "key-paths", dflt(ss(keyPaths=[K2, K1])), KEYSET)
    add(21, "key-data", dflt(ss(keyData=b64(K1))), KEYSET)
    add(22, "key-data-wrapped", dflt(ss(keyData=b64(K1, wrap=76))), KEYSET)
    add(23, "key-data-wrapped-crlf", dflt(ss(keyData=b64(K1, wrap=76, eol="\r\n"))), KEYSET)
    add(24, "key-datas-wrapped", dflt(ss(keyDatas=[b64(K2, wrap=76), b64(K1, wrap=76)])), KEYSET)
    add(25, "key-path-k2", dflt(ss(keyPath=K2)), KEYSET)
    add(26, "key-path-k3", dflt(ss(keyPath=K3)), KEYSET)
    add(27, "key-paths-one-missing", dflt(ss(keyPaths=["keys/missing.pub", K1])), KEYSET)
    add(28, "key-path-missing", dflt(ss(keyPath="keys/missing.pub")), KEYSET)
    add(29, "key-path-not-pem", dflt(ss(keyPath="keys/not-pem.pub")), KEYSET)
    add(30, "key-path-bad-der", dflt(ss(keyPath="keys/bad-der.pub")), KEYSET)
    add(31, "key-path-directory", dflt(ss(keyPath="keys")), KEYSET)
    add(32, "key-data-not-a-key", dflt(ss(keyData=b64(b"not a key\n"))), KEYSET)
    add(33, "key-path-dot-relative", dflt(ss(keyPath="./keys/k1.pub")), KEYSET)
    add(34, "key-path-parent-relative", dflt(ss(keyPath="../policy-matrix/keys/k1.pub")), KEYSET)
    add(35, "key-path-gpg-keyring", dflt(ss(keyPath=GPG)), KEYSET)
    add(36, "key-path-two-pem-blocks", dflt(ss(keyPath="keys/k2-then-k1.pub")), KEYSET)
    add(37, "key-datas-one-not-a-key", dflt(ss(keyDatas=[b64(b"not a key\n"), b64(K1)])), KEYSET)
    add(38, "rekor-key-path", dflt(ss(keyPath=K1, rekorPublicKeyPath=K3)), KEYSET)
    add(39, "rekor-key-data", dflt(ss(keyPath=K1, rekorPublicKeyData=b64(K3))), KEYSET)
    add(40, "rekor-key-paths", dflt(ss(keyPath=K1, rekorPublicKeyPaths=[K3, K2])), KEYSET)
    add(41, "rekor-key-path-missing", dflt(ss(keyPath=K1, rekorPublicKeyPath="keys/missing.pub")), KEYSET)
    add(42, "two-requirements-k1-and-k2", dflt(ss(keyPath=K1), ss(keyPath=K2)), KEYSET)
    add(43, "accept-anything-and-k1", dflt(ACCEPT, ss(keyPath=K1)), KEYSET)
    add(44, "k1-and-reject", dflt(ss(keyPath=K1), REJECT), KEYSET)
    add(45, "key-paths-match-repository", dflt(ss(keyPaths=[K1], signedIdentity={"type": "matchRepository"})),
        KEYSET)
    add(46, "key-path-absolute-missing", dflt(ss(keyPath="/nonexistent/airlock-policy-matrix/k1.pub")), KEYSET)
    add(47, "key-data-k2", dflt(ss(keyData=b64(K2, wrap=76))), KEYSET)
    add(48, "key-datas-single-line", dflt(ss(keyDatas=[b64(K3), b64(K1)])), KEYSET)

    # --- scopes
    add(50, "docker-empty-scope", docker([REJECT], {"": [ss(keyPath=K1)]}), SCOPE)
    add(51, "host-scope-k2", docker([ACCEPT], {REG: [ss(keyPath=K2)]}), SCOPE)
    add(52, "namespace-scope-reject", docker([ACCEPT], {f"{REG}/ns": [REJECT]}), SCOPE)
    add(53, "repository-scope-reject", docker([ACCEPT], {f"{REG}/ns/app": [REJECT]}), SCOPE)
    add(54, "tag-scope-reject", docker([ACCEPT], {f"{REG}/ns/app:v1": [REJECT]}), SCOPE)
    add(55, "digest-scope-reject", docker([ACCEPT], {f"{REG}/ns/app@{d}": [REJECT], f"{REG}/ns/multi@{idx}": [REJECT]}),
        SCOPE)
    add(56, "wildcard-ip-scope", docker([ACCEPT], {"*.0.0.7": [REJECT]}), SCOPE)
    add(57, "wildcard-ip-last-label", docker([ACCEPT], {"*.7": [REJECT]}), SCOPE)
    add(58, "wildcard-with-port", docker([ACCEPT], {"*.0.0.7:5007": [REJECT]}), SCOPE)
    add(59, "wildcard-example-com", docker([ACCEPT], {"*.example.com": [REJECT]}), SCOPE)
    add(60, "host-without-port", docker([ACCEPT], {REG.split(":")[0]: [REJECT]}), SCOPE)
    add(61, "most-specific-wins",
        docker([REJECT], {REG: [REJECT], f"{REG}/ns": [ss(keyPath=K1)], f"{REG}/ns/app": [ACCEPT],
                          f"{REG}/ns/app:v1": [ss(keyPath=K2)]}), SCOPE)
    add(62, "two-segment-scope", docker([ACCEPT], {f"{REG}/two": [REJECT]}), SCOPE)
    add(63, "library-repository-scope", docker([ACCEPT], {f"{REG}/library/two": [REJECT]}), SCOPE)
    add(64, "library-namespace-scope", docker([ACCEPT], {f"{REG}/library": [REJECT]}), SCOPE)
    add(65, "docker-empty-scope-overrides-default", docker([ACCEPT], {"": [REJECT]}), SCOPE)
    add(66, "other-transports-only", {"default": [ss(keyPath=K1)],
                                      "transports": {"oci": {"/abs/oci": [REJECT]}, "dir": {"/abs/dir": [REJECT]},
                                                     "docker-daemon": {"": [REJECT]}}}, SCOPE)
    add(67, "docker-hub-scopes", docker([ACCEPT], {"docker.io": [REJECT], "docker.io/library": [REJECT],
                                                   "docker.io/library/two": [REJECT]}), SCOPE)
    add(68, "uppercase-scope", docker([ACCEPT], {f"{REG}/NS": [REJECT]}), SCOPE)
    add(69, "trailing-slash-scope", docker([ACCEPT], {f"{REG}/ns/": [REJECT]}), SCOPE)
    add(70, "insecure-accept-anything", dflt(ACCEPT), SCOPE + ["N"])
    add(71, "reject", dflt(REJECT), SCOPE + ["N"])
    add(72, "tag-scope-other-repository", docker([ACCEPT], {f"{REG}/ns/other:v1": [ss(keyPath=K1)]}), SCOPE)
    add(73, "platform-digest-scope", docker([ACCEPT], {f"{REG}/ns/multi@{amd64}": [REJECT]}), SCOPE + ["MP"])
    add(74, "docker-empty-scope-and-host", docker([REJECT], {"": [ss(keyPath=K2)], REG: [ss(keyPath=K1)]}), SCOPE)

    # --- GPG signedBy, other requirement types
    add(80, "rhel-stock", {"default": [ACCEPT],
                           "transports": {"docker": rhel_scopes(), "docker-daemon": {"": [ACCEPT]}}}, SCOPE)
    add(81, "rhel-plus-sigstore", {"default": [REJECT],
                                   "transports": {"docker": {**rhel_scopes(), REG: [ss(keyPath=K1)]},
                                                  "docker-daemon": {"": [ACCEPT]}}}, SCOPE)
    add(82, "gpg-signed-by-governing",
        docker([ACCEPT], {f"{REG}/ns": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": GPG}]}), SCOPE)
    add(83, "gpg-signed-by-governing-key-missing",
        docker([ACCEPT], {f"{REG}/ns": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "keys/missing.gpg"}]}),
        SCOPE)
    add(84, "gpg-key-data-unused-scope",
        docker([ss(keyPath=K1)], {"registry.access.redhat.com": [
            {"type": "signedBy", "keyType": "GPGKeys", "keyData": b64(GPG)}]}), TWO)
    add(85, "gpg-key-paths-governing",
        docker([ACCEPT], {f"{REG}/ns/app": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": [GPG]}]}), TWO)
    add(86, "signed-base-layer-governing",
        dflt({"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}}), TWO)
    add(87, "signed-base-layer-unused-scope",
        docker([ACCEPT], {"registry.access.redhat.com": [
            {"type": "signedBaseLayer", "baseLayerIdentity": {"type": "matchRepository"}}]}), TWO)
    add(88, "fulcio-unused-scope",
        docker([ss(keyPath=K1)], {"registry.example.com": [ss(
            fulcio={"caPath": "keys/missing-ca.pem", "oidcIssuer": "https://issuer.example.com",
                    "subjectEmail": "signer@example.com"}, rekorPublicKeyPath=K3)]}), TWO)
    add(89, "fulcio-governing",
        dflt(ss(fulcio={"caPath": "keys/ca.pem", "oidcIssuer": "https://issuer.example.com",
                        "subjectEmail": "signer@example.com"}, rekorPublicKeyPath=K3)), TWO)
    add(90, "pki-governing", dflt(ss(pki={"caRootsPath": "keys/ca.pem", "subjectEmail": "signer@example.com"})), TWO)
    add(91, "pki-unused-scope",
        docker([ss(keyPath=K1)], {"registry.example.com": [ss(pki={"caRootsPath": "keys/missing-ca.pem",
                                                                    "subjectHostname": "signer.example.com"})]}),
        TWO)
    add(92, "signed-by-x509-key-type-governing",
        dflt({"type": "signedBy", "keyType": "X509Certificates", "keyPath": "keys/ca.pem"}), TWO)
    add(93, "gpg-signed-by-identity-governing",
        docker([ACCEPT], {f"{REG}/ns/app": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": GPG,
                                             "signedIdentity": {"type": "matchRepository"}}]}), TWO)

    # --- malformed / edge-of-the-grammar policies (mostly policy errors; a few that parse)
    acc = '[{"type":"insecureAcceptAnything"}]'
    k1 = '{"type":"sigstoreSigned","keyPath":"keys/k1.pub"}'
    add(100, "dup-default", f'{{"default":{acc},"default":[{k1}]}}\n', ONE)
    add(101, "dup-transports", f'{{"default":{acc},"transports":{{}},"transports":{{}}}}\n', ONE)
    add(102, "dup-transport-docker", f'{{"default":{acc},"transports":{{"docker":{{}},"docker":{{}}}}}}\n', ONE)
    add(103, "dup-scope", f'{{"default":{acc},"transports":{{"docker":{{"{REG}":{acc},"{REG}":{acc}}}}}}}\n', ONE)
    add(104, "dup-requirement-field",
        '{"default":[{"type":"sigstoreSigned","keyPath":"keys/k1.pub","keyPath":"keys/k1.pub"}]}\n', ONE)
    add(105, "dup-signed-identity-field",
        '{"default":[{"type":"sigstoreSigned","keyPath":"keys/k1.pub",'
        '"signedIdentity":{"type":"matchRepository","type":"matchRepository"}}]}\n', ONE)
    add(106, "dup-field-in-unused-scope",
        f'{{"default":{acc},"transports":{{"docker":{{"registry.access.redhat.com":'
        '[{"type":"reject","type":"reject"}]}}}\n', TWO)
    add(107, "dup-type-in-accept", '{"default":[{"type":"insecureAcceptAnything","type":"insecureAcceptAnything"}]}\n',
        ONE)
    add(108, "unknown-top-level-field", f'{{"default":{acc},"comment":"hello"}}\n', ONE)
    add(109, "unknown-requirement-field",
        '{"default":[{"type":"sigstoreSigned","keyPath":"keys/k1.pub","comment":"x"}]}\n', ONE)
    add(110, "unknown-requirement-type", '{"default":[{"type":"cosignSigned","keyPath":"keys/k1.pub"}]}\n', ONE)
    add(111, "unknown-requirement-type-unused-scope",
        f'{{"default":{acc},"transports":{{"docker":{{"registry.access.redhat.com":[{{"type":"nope"}}]}}}}}}\n',
        TWO)
    add(112, "unknown-requirement-type-unknown-transport",
        f'{{"default":{acc},"transports":{{"no-such-transport":{{"x":[{{"type":"nope"}}]}}}}}}\n', ONE)
    add(113, "unknown-transport-valid-requirements",
        f'{{"default":[{k1}],"transports":{{"no-such-transport":{{"any thing":[{{"type":"reject"}}]}}}}}}\n', TWO)
    add(114, "unknown-identity-type",
        '{"default":[{"type":"sigstoreSigned","keyPath":"keys/k1.pub","signedIdentity":{"type":"matchAnything"}}]}\n',
        ONE)
    add(115, "unknown-identity-field",
        '{"default":[{"type":"sigstoreSigned","keyPath":"keys/k1.pub",'
        '"signedIdentity":{"type":"matchExact","extra":true}}]}\n', ONE)
    add(116, "oci-relative-scope", f'{{"default":{acc},"transports":{{"oci":{{"relative/dir":[{{"type":"reject"}}]}}}}}}\n',
        ONE)
    add(117, "dir-relative-scope", f'{{"default":{acc},"transports":{{"dir":{{"relative/dir":[{{"type":"reject"}}]}}}}}}\n',
        ONE)
    add(118, "oci-archive-relative-scope",
        f'{{"default":{acc},"transports":{{"oci-archive":{{"a.tar":[{{"type":"reject"}}]}}}}}}\n', ONE)
    add(119, "docker-archive-scope",
        f'{{"default":{acc},"transports":{{"docker-archive":{{"/abs/a.tar":[{{"type":"reject"}}]}}}}}}\n', ONE)
    add(120, "containers-storage-invalid-scope",
        f'{{"default":{acc},"transports":{{"containers-storage":{{"relative":[{{"type":"reject"}}]}}}}}}\n', ONE)
    add(121, "atomic-scope", f'{{"default":{acc},"transports":{{"atomic":{{"Bad//Scope":[{{"type":"reject"}}]}}}}}}\n',
        ONE)
    add(122, "docker-daemon-scope",
        f'{{"default":{acc},"transports":{{"docker-daemon":{{"busybox:latest":[{{"type":"reject"}}]}}}}}}\n', ONE)
    add(123, "docker-odd-scope", f'{{"default":{acc},"transports":{{"docker":{{"Bad//Scope":[{{"type":"reject"}}]}}}}}}\n',
        ONE)
    add(124, "oci-dir-absolute-scopes",
        f'{{"default":{acc},"transports":{{"oci":{{"/abs/layout:tag":[{{"type":"reject"}}]}},'
        '"dir":{"/abs/dir":[{"type":"reject"}]}}}\n', ONE)
    add(125, "oci-unclean-scope", f'{{"default":{acc},"transports":{{"oci":{{"/abs/../x":[{{"type":"reject"}}]}}}}}}\n',
        ONE)
    add(126, "empty-default", '{"default":[]}\n', ONE)
    add(127, "empty-list-unused-scope",
        f'{{"default":{acc},"transports":{{"docker":{{"registry.access.redhat.com":[]}}}}}}\n', TWO)
    add(128, "default-missing", '{"transports":{"docker":{"":[{"type":"insecureAcceptAnything"}]}}}\n', ONE)
    add(129, "default-null", '{"default":null}\n', ONE)
    add(130, "transports-null", f'{{"default":{acc},"transports":null}}\n', ONE)
    add(131, "transport-null", f'{{"default":{acc},"transports":{{"docker":null}}}}\n', ONE)
    add(132, "default-object", '{"default":{"type":"insecureAcceptAnything"}}\n', ONE)
    add(133, "not-json", "default: insecureAcceptAnything\n", ONE)
    add(134, "trailing-garbage", f'{{"default":{acc}}} x\n', ONE)
    add(135, "second-object", f'{{"default":{acc}}}{{"default":{acc}}}\n', ONE)
    add(136, "utf8-bom", f'\ufeff{{"default":{acc}}}\n', ONE)
    add(137, "requirement-string", '{"default":["insecureAcceptAnything"]}\n', ONE)
    add(138, "type-wrong-case", '{"default":[{"type":"InsecureAcceptAnything"}]}\n', ONE)
    add(139, "field-wrong-case", '{"default":[{"type":"sigstoreSigned","keypath":"keys/k1.pub"}]}\n', ONE)
    add(140, "top-level-key-wrong-case", f'{{"Default":{acc}}}\n', ONE)
    add(141, "key-path-and-key-data", dflt(ss(keyPath=K1, keyData=b64(K1))), ONE)
    add(142, "key-path-and-key-paths", dflt(ss(keyPath=K1, keyPaths=[K1])), ONE)
    add(143, "no-key-source", dflt(ss(signedIdentity={"type": "matchRepository"})), ONE)
    add(144, "key-paths-empty", dflt(ss(keyPaths=[])), ONE)
    add(145, "key-datas-empty", dflt(ss(keyDatas=[])), ONE)
    add(146, "key-path-empty-string", dflt(ss(keyPath="")), ONE)
    add(147, "key-data-not-base64", dflt(ss(keyData="this is not base64!")), ONE)
    add(148, "key-data-with-spaces", dflt(ss(keyData=" ".join(b64(K1, wrap=76).split("\n")).strip())), ONE)
    add(149, "key-data-unpadded", dflt(ss(keyData=b64(K1).rstrip("="))), ONE)
    add(150, "key-data-url-alphabet",
        dflt(ss(keyData=base64.urlsafe_b64encode(b"\xfb\xff\xfe" + open(os.path.join(HERE, K1), "rb").read())
                .decode())), ONE)
    add(151, "key-datas-one-not-base64", dflt(ss(keyDatas=[b64(K1), "%%%"])), ONE)
    add(152, "key-data-tabs", dflt(ss(keyData="\t".join(b64(K1, wrap=76).split("\n")).strip())), ONE)
    add(153, "rekor-path-and-data", dflt(ss(keyPath=K1, rekorPublicKeyPath=K3, rekorPublicKeyData=b64(K3))), ONE)
    add(154, "rekor-key-paths-empty", dflt(ss(keyPath=K1, rekorPublicKeyPaths=[])), ONE)
    add(155, "fulcio-without-rekor",
        dflt(ss(fulcio={"caPath": "keys/ca.pem", "oidcIssuer": "https://issuer.example.com",
                        "subjectEmail": "signer@example.com"})), ONE)
    add(156, "pki-with-rekor",
        dflt(ss(pki={"caRootsPath": "keys/ca.pem", "subjectEmail": "signer@example.com"}, rekorPublicKeyPath=K3)), ONE)
    add(157, "key-path-and-fulcio",
        dflt(ss(keyPath=K1, fulcio={"caPath": "keys/ca.pem", "oidcIssuer": "https://issuer.example.com",
                                    "subjectEmail": "signer@example.com"}, rekorPublicKeyPath=K3)), ONE)
    add(158, "exact-reference-name-only",
        dflt(ss(keyPath=K1, signedIdentity={"type": "exactReference", "dockerReference": f"{REG}/ns/app"})), ONE)
    add(159, "exact-reference-invalid",
        dflt(ss(keyPath=K1, signedIdentity={"type": "exactReference", "dockerReference": f"{REG}/NS/App:v1"})), ONE)
    add(160, "exact-repository-with-tag",
        dflt(ss(keyPath=K1, signedIdentity={"type": "exactRepository", "dockerRepository": f"{REG}/ns/app:v1"})), ONE)
    add(161, "remap-missing-signed-prefix",
        dflt(ss(keyPath=K1, signedIdentity={"type": "remapIdentity", "prefix": f"{REG}/ns"})), ONE)
    add(162, "remap-invalid-prefix",
        dflt(ss(keyPath=K1, signedIdentity={"type": "remapIdentity", "prefix": "*",
                                            "signedPrefix": "registry.example.com"})), ONE)
    add(163, "signed-by-missing-key-type", docker([ACCEPT], {"registry.access.redhat.com": [
        {"type": "signedBy", "keyPath": RHEL_KEY}]}), ONE)
    add(164, "signed-by-invalid-key-type", docker([ACCEPT], {"registry.access.redhat.com": [
        {"type": "signedBy", "keyType": "PGPKeys", "keyPath": RHEL_KEY}]}), ONE)
    add(165, "signed-by-no-key", docker([ACCEPT], {"registry.access.redhat.com": [
        {"type": "signedBy", "keyType": "GPGKeys"}]}), ONE)
    add(166, "reject-with-extra-field", '{"default":[{"type":"reject","keyPath":"keys/k1.pub"}]}\n', ONE)
    add(167, "transports-array", f'{{"default":{acc},"transports":[]}}\n', ONE)
    add(168, "scope-value-object", f'{{"default":{acc},"transports":{{"docker":{{"{REG}":{{"type":"reject"}}}}}}}}\n', ONE)
    add(169, "requirement-without-type", '{"default":[{"keyPath":"keys/k1.pub"}]}\n', ONE)
    add(170, "top-level-array", f'[{{"default":{acc}}}]\n', ONE)
    add(171, "empty-file", "", ONE)
    add(172, "invalid-requirement-docker-daemon",
        f'{{"default":{acc},"transports":{{"docker-daemon":{{"":[{{"type":"sigstoreSigned"}}]}}}}}}\n', ONE)
    add(173, "signed-identity-null", '{"default":[{"type":"sigstoreSigned","keyPath":"keys/k1.pub","signedIdentity":null}]}\n',
        ONE)
    add(174, "key-path-number", '{"default":[{"type":"sigstoreSigned","keyPath":1}]}\n', ONE)
    add(175, "dup-scope-unknown-transport",
        f'{{"default":{acc},"transports":{{"no-such-transport":{{"x":{acc},"x":{acc}}}}}}}\n', ONE)
    add(176, "key-path-missing-unused-scope",
        docker([ACCEPT], {"registry.access.redhat.com": [ss(keyPath="keys/missing.pub")]}), TWO)
    add(177, "key-data-null", '{"default":[{"type":"sigstoreSigned","keyData":null}]}\n', ONE)
    add(178, "comment-in-json", f'{{"default":{acc} /* no comments in JSON */}}\n', ONE)
    add(179, "default-with-trailing-comma", '{"default":[{"type":"insecureAcceptAnything"},]}\n', ONE)
    add(180, "rekor-key-path-unused-scope-missing",
        docker([ss(keyPath=K1)], {"registry.example.com": [ss(keyPath=K1, rekorPublicKeyPath="keys/missing.pub")]}),
        TWO)
    add(181, "signed-identity-empty-object", dflt(ss(keyPath=K1, signedIdentity={})), ONE)
    add(182, "exact-repository-missing-field", dflt(ss(keyPath=K1, signedIdentity={"type": "exactRepository"})), ONE)
    add(183, "case-sensitive-identity-type", dflt(ss(keyPath=K1, signedIdentity={"type": "MatchRepository"})), ONE)
    add(184, "nested-dup-deep",
        '{"default":[{"type":"sigstoreSigned","keyPath":"keys/k1.pub","signedIdentity":'
        '{"type":"remapIdentity","prefix":"a.example/x","signedPrefix":"b.example/x","prefix":"a.example/x"}}]}\n', ONE)
    add(185, "key-datas-with-key-path", dflt(ss(keyPath=K1, keyDatas=[b64(K1)])), ONE)
    return out


GO_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def go_unquote(s):
    return re.sub(r'\\(.)', lambda m: GO_ESC.get(m.group(1), "\\" + m.group(1)), s)


def message(stderr, out_dir):
    """skopeo's last fatal message on one line, temp paths stripped."""
    msg = ""
    for line in stderr.splitlines():
        m = re.search(r'level=fatal msg="((?:[^"\\]|\\.)*)"', line)
        if m:
            msg = go_unquote(m.group(1))
    if not msg:
        msg = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    for path, name in ((out_dir, "OUT"), (TMP, "TMP"), (HERE, ".")):
        msg = msg.replace(path, name)
    return re.sub(r"[\t\r\n]+", " ", msg).strip()


def classify(code, msg):
    if code == 0:
        return "accept"
    if msg.startswith("Error loading trust policy"):
        return "policy-error"
    if "Source image rejected" in msg or re.search(r"reading manifest .*: manifest unknown", msg):
        return "reject"
    sys.exit(f"make_matrix: skopeo exit {code} with a message this script does not classify: {msg}")


def record():
    with open(STATE) as f:
        st = json.load(f)
    refs = references(st)
    shutil.rmtree(POLICIES, ignore_errors=True)
    os.makedirs(POLICIES)
    rows = []
    pols = policies(st)
    nums = [p[0] for p in pols]
    assert len(nums) == len(set(nums)), "duplicate policy numbers"
    out_dir = os.path.join(TMP, "out")
    for num, name, text, refset in pols:
        rel = f"policies/{num:03d}-{name}.json"
        with open(os.path.join(HERE, rel), "w", encoding="utf-8", newline="") as f:
            f.write(text)
        keys = list(refset)
        # a two-segment reference (REG/two) is always recorded with its hangar twin (REG/library/two):
        # airlock verifies both candidates (SPEC §4), so the replay needs both decisions
        for k in list(keys):
            if k.lstrip("+") == "T2" and (("+" if k.startswith("+") else "") + "LT") not in keys:
                keys.append(("+" if k.startswith("+") else "") + "LT")
        for i, k in enumerate(keys, 1):
            allflag = k.startswith("+")
            ref = refs[k.lstrip("+")]
            shutil.rmtree(out_dir, ignore_errors=True)
            cmd = [SKOPEO, "--registries.d", "registries.d", "--policy", rel, "--override-os", "linux",
                   "--override-arch", "amd64", "copy", "--src-tls-verify=false"]
            if allflag:
                cmd.append("--all")
            cmd += [f"docker://{ref}", f"dir:{out_dir}"]
            r = run(cmd, check=False, env=skopeo_env(), cwd=HERE)
            msg = message(r.stderr, out_dir) if r.returncode != 0 else ""
            dec = classify(r.returncode, msg)
            rows.append((f"{num:03d}.{i:02d}", rel, ref, "1" if allflag else "0", str(r.returncode), dec, msg))
        log(f"{rel}: {len(keys)} rows")
    shutil.rmtree(out_dir, ignore_errors=True)
    with open(os.path.join(HERE, "cases.tsv"), "w") as f:
        f.write("id\tpolicy\treference\tall\tskopeo_exit\tdecision\tskopeo_message\n")
        for row in rows:
            assert not any("\t" in c or "\n" in c for c in row), row
            f.write("\t".join(row) + "\n")
    counts = {}
    for row in rows:
        counts[row[5]] = counts.get(row[5], 0) + 1
    log(f"{len(rows)} rows: {counts}")


if __name__ == "__main__":
    {"build": build, "record": record}[sys.argv[1]]()
