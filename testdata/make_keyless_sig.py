#!/usr/bin/env python3
"""Old-style cosign `.sig` keyless fixtures, from the private sigstore instance of make_keyless.py.

Usage:
    python3 testdata/make_keyless_sig.py          # regenerate testdata/keyless/sig-layouts/ (keeps sig-verdicts.tsv)
    python3 testdata/make_keyless_sig.py --peer   # ... then push every layout to a throwaway local
                                                  # docker-registry, run cosign 2.5 on it and rewrite
                                                  # testdata/keyless/sig-verdicts.tsv

Only `cryptography` is needed to generate; the output is deterministic (make_keyless's labelled keys, RFC 6979
signatures, fixed times), so a re-run gives byte-identical files. The instance is make_keyless.instance(), so
testdata/keyless/trusted_root.json verifies these fixtures too. Nothing under testdata/keyless/ that
make_keyless.py writes is touched; this script owns only sig-layouts/ and sig-verdicts.tsv.

What `cosign sign` before v3 (and the skopeo/hauler/hangar-era tools that copy its signatures) stores: each
sig-layouts/<name>/ is the signed-p256 image (registry.airlock.test/airlock/single:v1, manifest
sha256:2a4e26d6...1ed3) plus, in index.json, a `.sig` manifest tagged
`registry.airlock.test/airlock/single:sha256-<hex>.sig`, shaped like signed-p256's own key-signed `.sig`
(skopeo's config `{"architecture":"","os":"","config":{},"rootfs":{...}}`, one layer). The layer is
`application/vnd.dev.cosign.simplesigning.v1+json`, blob = the simple-signing payload (cosign's form:
docker-reference without tag, `"optional":null`, no trailing newline), with annotations:
  dev.cosignproject.cosign/signature  base64 DER ECDSA-P256-SHA256 over the payload, by the leaf key
  dev.sigstore.cosign/certificate     PEM leaf from the instance's Fulcio intermediate (SAN URI, issuer in
                                      .1.1 and .1.8, embedded SCT, valid [T0-2m, T0+8m]); fresh leaf labels
                                      "sig/..." (the bundle fixtures' leaves are not reused)
  dev.sigstore.cosign/chain           PEM intermediate, then root
  dev.sigstore.cosign/bundle          the Rekor v1 SET, as cosign writes it:
      {"SignedEntryTimestamp":b64,"Payload":{"body":b64,"integratedTime":int,"logIndex":5,"logID":hex}}
      body = hashedrekord 0.0.1 (RFC 8785) {data.hash sha256(payload), signature.content, publicKey.content =
      b64(leaf PEM)}; SET = the Rekor v1 key's ECDSA-SHA256 DER over RFC 8785 {body,integratedTime,logID,logIndex}.

Fixtures (identity https://github.com/airlock-test/app/.github/workflows/release.yml@refs/heads/main, issuer
https://token.actions.githubusercontent.com):
  sig-keyless                pass  everything valid, integratedTime T0
  sig-keyless-wrong-san      fail  leaf issued to .../airlock-test/other/...
  sig-keyless-expired        fail  SET-signed integratedTime T0+20m, after the leaf's notAfter T0+8m
  sig-keyless-set-other-sig  fail  a valid SET whose hashedrekord body logs another signature (same leaf,
                                   payload for digest sha256:00..00)
  sig-keyless-no-set         fail  no dev.sigstore.cosign/bundle annotation (a Fulcio certificate needs the SET's
                                   time; SPEC §6.5)

--peer: starts /usr/bin/docker-registry (distribution 2.8) on a free 127.0.0.1 port with a temporary storage
directory, pushes each layout byte-exactly over HTTP (blobs, the image manifest as :v1, the .sig manifest as
:sha256-<hex>.sig) to 127.0.0.1:PORT/<fixture>/single, and runs cosign 2.5 (from ../shared/tools/signers.sh,
or $COSIGN) with HOME and TUF_ROOT pointed at the temporary directory:
    SIGSTORE_REKOR_PUBLIC_KEY=rekor.pub SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=ctlog.pub SIGSTORE_ROOT_FILE=fulcio.pem \
    cosign verify --offline --insecure-ignore-tlog=false --certificate-identity I --certificate-oidc-issuer U \
        --allow-insecure-registry --allow-http-registry 127.0.0.1:PORT/<fixture>/single@sha256:2a4e...
The three files are written from testdata/keyless/trusted_root.json (the Rekor v1 key and the CT log key as PEM
SPKI; the Fulcio intermediate + root as PEM). cosign 2.5's `--trusted-root` cannot be used: it is read only with
--new-bundle-format (CheckOpts.TrustedMaterial, "currently only applicable when NewBundleFormat is true"); for
`.sig` signatures cosign 2.5 still calls GetRekorPubs / GetCTLogPubs / fulcio.GetRoots, which go to the public
TUF repository unless these environment variables are set. The peer_command column writes the registry as
$REGISTRY.
"""

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_keyless as mk  # noqa: E402

REPO = HERE.parent
OUT = mk.OUT / "sig-layouts"
VERDICTS = mk.OUT / "sig-verdicts.tsv"
TRUSTED_ROOT = "testdata/keyless/trusted_root.json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def payload(digest: str) -> bytes:
    """cosign's simple-signing payload for `digest` (sha256:<hex>) of IMAGE_NAME, exactly as cosign marshals it."""
    return ('{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},'
            '"type":"cosign container image signature"},"optional":null}' % (mk.IMAGE_NAME, digest)).encode()


def hashedrekord_v001_body(logged_payload: bytes, sig: bytes, leaf: x509.Certificate) -> bytes:
    return mk.canon({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": mk.sha(logged_payload).hex()}},
        "signature": {"content": mk.b64(sig), "publicKey": {"content": mk.b64(pem(leaf).encode())}}}})


def set_annotation(rekor: "mk.Rekor", body: bytes, integrated) -> str:
    """The dev.sigstore.cosign/bundle annotation (cosign's RekorBundle JSON) for a logged `body`."""
    it = int(integrated.timestamp())
    setdoc = {"body": mk.b64(body), "integratedTime": it, "logID": rekor.log_id.hex(), "logIndex": rekor.INDEX}
    set_sig = rekor.key.sign(mk.canon(setdoc), mk.ECDSA256)
    return json.dumps({"SignedEntryTimestamp": mk.b64(set_sig),
                       "Payload": {"body": setdoc["body"], "integratedTime": it, "logIndex": rekor.INDEX,
                                   "logID": setdoc["logID"]}}, separators=(",", ":"))


def sig_annotations(fulcio, rekor, leaf, key, digest, *, integrated=mk.T0, logged_digest=None, with_set=True):
    """The simple-signing layer's annotations and payload: signature, certificate, chain, and (optionally) SET.
    `logged_digest`: the Rekor entry is for a signature over another payload (that of `logged_digest`)."""
    data = payload(digest)
    sig = key.sign(data, mk.ECDSA256)
    ann = {"dev.cosignproject.cosign/signature": mk.b64(sig),
           "dev.sigstore.cosign/certificate": pem(leaf),
           "dev.sigstore.cosign/chain": pem(fulcio.intermediate) + pem(fulcio.root)}
    if with_set:
        logged = payload(logged_digest) if logged_digest else data
        logged_sig = key.sign(logged, mk.ECDSA256)
        ann["dev.sigstore.cosign/bundle"] = set_annotation(rekor, hashedrekord_v001_body(logged, logged_sig, leaf),
                                                           integrated)
    return data, ann


def write_sig_layout(dest: Path, data: bytes, annotations: dict) -> None:
    """signed-p256's image plus a `.sig` manifest (skopeo's shape, as in signed-p256) with one signature layer."""
    img = mk.image_descriptor()
    (dest / "blobs" / "sha256").mkdir(parents=True)
    shutil.copy(mk.SRC_LAYOUT / "oci-layout", dest / "oci-layout")
    src = mk.SRC_LAYOUT / "blobs" / "sha256"
    manifest = json.loads((src / img["digest"].split(":")[1]).read_bytes())
    for d in [img["digest"], manifest["config"]["digest"]] + [l["digest"] for l in manifest["layers"]]:
        shutil.copy(src / d.split(":")[1], dest / "blobs" / "sha256" / d.split(":")[1])
    layer = mk.write_blob(dest, data)
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [layer]}}, separators=(",", ":")).encode()
    sig_manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": mk.write_blob(dest, config), "size": len(config)},
        "layers": [{"mediaType": SIMPLESIGNING, "digest": layer, "size": len(data), "annotations": annotations}]},
        separators=(",", ":")).encode()
    sig_desc = {"mediaType": OCI_MANIFEST, "digest": mk.write_blob(dest, sig_manifest), "size": len(sig_manifest),
                "annotations": {REF_NAME: f"{mk.IMAGE_NAME}:{img['digest'].replace(':', '-')}.sig"}}
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [img, sig_desc]},
                                                separators=(",", ":")))


def fixtures():
    """Yield (name, expected, reason, payload, annotations)."""
    ct, fulcio, v1, _v2, _tsa = mk.instance()
    digest = mk.image_descriptor()["digest"]
    uri = x509.UniformResourceIdentifier
    leaf, key = fulcio.issue("sig/main", uri(mk.IDENTITY), mk.ISSUER, mk.ISSUED)
    o_leaf, o_key = fulcio.issue("sig/other-san", uri(mk.OTHER_IDENTITY), mk.ISSUER, mk.ISSUED)
    yield ("sig-keyless", "pass", "-", *sig_annotations(fulcio, v1, leaf, key, digest))
    yield ("sig-keyless-wrong-san", "fail", f"leaf SAN is {mk.OTHER_IDENTITY}, not the expected identity",
           *sig_annotations(fulcio, v1, o_leaf, o_key, digest))
    yield ("sig-keyless-expired", "fail", "SET-signed integratedTime is T0+20m, after the leaf's notAfter T0+8m",
           *sig_annotations(fulcio, v1, leaf, key, digest, integrated=mk.T0 + timedelta(minutes=20)))
    yield ("sig-keyless-set-other-sig", "fail",
           "valid SET, but its hashedrekord body logs another signature (same leaf, payload for sha256:00..00)",
           *sig_annotations(fulcio, v1, leaf, key, digest, logged_digest="sha256:" + "00" * 32))
    yield ("sig-keyless-no-set", "fail", "no dev.sigstore.cosign/bundle (Rekor SET) annotation on a Fulcio certificate",
           *sig_annotations(fulcio, v1, leaf, key, digest, with_set=False))


# ---------------------------------------------------------------------------------------------
# --peer: a throwaway docker-registry on 127.0.0.1, byte-exact pushes, cosign verify --offline
# ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(tmp: Path):
    port = free_port()
    (tmp / "storage").mkdir()
    cfg = tmp / "config.yml"
    cfg.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n"
                   f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(tmp / "registry.log", "wb")
    proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/v2/", timeout=1).read()
            return proc, port
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None:
                raise RuntimeError("docker-registry exited: " + (tmp / "registry.log").read_text())
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("docker-registry did not start")


def http(method: str, url: str, data: bytes = None, headers: dict = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers, r.read()


def push_layout(base: str, repo: str, layout: Path) -> None:
    """Push every blob and the index.json manifests (tagged by their ref.name tag) byte-exactly."""
    index = json.loads((layout / "index.json").read_bytes())
    manifests = {m["digest"] for m in index["manifests"]}
    for blob in sorted((layout / "blobs" / "sha256").iterdir()):
        if "sha256:" + blob.name in manifests:
            continue
        _, h, _ = http("POST", f"{base}/v2/{repo}/blobs/uploads/")
        loc = h["Location"]
        loc = (loc if loc.startswith("http") else base + loc) + ("&" if "?" in loc else "?") + "digest=sha256:" + blob.name
        http("PUT", loc, blob.read_bytes(), {"Content-Type": "application/octet-stream"})
    for m in index["manifests"]:
        tag = m["annotations"][REF_NAME].rsplit(":", 1)[1]
        body = (layout / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes()
        _, h, _ = http("PUT", f"{base}/v2/{repo}/manifests/{tag}", body, {"Content-Type": m["mediaType"]})
        assert h["Docker-Content-Digest"] == m["digest"], (h["Docker-Content-Digest"], m["digest"])


def find_cosign() -> str:
    if os.environ.get("COSIGN"):
        return os.environ["COSIGN"]
    out = subprocess.run(["bash", str(REPO.parent / "shared" / "tools" / "signers.sh")], capture_output=True,
                         text=True, check=True).stdout.split()
    return [p for p in out if p.endswith("/cosign")][0]


def trust_files(tmp: Path) -> dict:
    """cosign 2.5's inputs for old-style signatures, taken from the committed trusted_root.json: the Rekor v1
    key, the CT log key (PEM SPKI), and the Fulcio chain (PEM, self-signed last). Returns the environment."""
    root = json.loads((REPO / TRUSTED_ROOT).read_text())

    def pem_block(kind: str, raw_b64: str) -> str:
        body = raw_b64.replace("\n", "")
        return f"-----BEGIN {kind}-----\n" + "".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64)) \
            + f"-----END {kind}-----\n"

    (rekor,) = [t for t in root["tlogs"] if t["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"]
    files = {"SIGSTORE_REKOR_PUBLIC_KEY": ("rekor.pub", pem_block("PUBLIC KEY", rekor["publicKey"]["rawBytes"])),
             "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": ("ctlog.pub", "".join(
                 pem_block("PUBLIC KEY", c["publicKey"]["rawBytes"]) for c in root["ctlogs"])),
             "SIGSTORE_ROOT_FILE": ("fulcio.pem", "".join(
                 pem_block("CERTIFICATE", c["rawBytes"]) for ca in root["certificateAuthorities"]
                 for c in ca["certChain"]["certificates"]))}
    env = {}
    for var, (fname, text) in files.items():
        (tmp / fname).write_text(text)
        env[var] = str(tmp / fname)
    return env


ENV_NOTE = ("SIGSTORE_REKOR_PUBLIC_KEY=rekor.pub SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=ctlog.pub "
            "SIGSTORE_ROOT_FILE=fulcio.pem")  # all three are derived from trusted_root.json (see trust_files)


def cosign_args(registry: str, fixture: str, digest: str) -> list:
    return ["cosign", "verify", "--offline", "--insecure-ignore-tlog=false",
            "--certificate-identity", mk.IDENTITY, "--certificate-oidc-issuer", mk.ISSUER,
            "--allow-insecure-registry", "--allow-http-registry", f"{registry}/{fixture}/single@{digest}"]


def peer(rows: list) -> int:
    cosign = find_cosign()
    digest = mk.image_descriptor()["digest"]
    tmp = Path(tempfile.mkdtemp(prefix="airlock-sig-peer-"))
    proc, port = start_registry(tmp)
    out, disagreements = [], []
    try:
        env = dict(os.environ, HOME=str(tmp), TUF_ROOT=str(tmp / "tuf"), NO_COLOR="1", **trust_files(tmp))
        for fname, expected, reason in rows:
            push_layout(f"http://127.0.0.1:{port}", f"{fname}/single", OUT / fname)
            args = cosign_args(f"127.0.0.1:{port}", fname, digest)
            r = subprocess.run([cosign] + args[1:], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
            verdict = "pass" if r.returncode == 0 else "fail"
            lines = r.stderr.strip().splitlines() or [""]
            msg = "; ".join(l.strip("- ") for l in lines if l.startswith("  - ")) if r.returncode == 0 else lines[-1]
            print(f"{fname}\texpected={expected}\tcosign={verdict}\t{msg}")
            if verdict != expected:
                disagreements.append(fname)
            cmd = ENV_NOTE + " " + " ".join(mk.quote(a) for a in cosign_args("$REGISTRY", fname, digest))
            out.append([fname, expected, verdict, reason, cmd])
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    VERDICTS.write_text("fixture\texpected\tcosign\treason\tpeer_command\n" + "".join("\t".join(r) + "\n" for r in out))
    if disagreements:
        print("cosign disagrees on:", ", ".join(disagreements), file=sys.stderr)
        return 1
    return 0


def main() -> int:
    if not (mk.OUT / "trusted_root.json").exists():
        print("run testdata/make_keyless.py first (testdata/keyless/trusted_root.json is missing)", file=sys.stderr)
        return 1
    ct, fulcio, v1, v2, tsa = mk.instance()
    if (mk.OUT / "trusted_root.json").read_text() != json.dumps(mk.trusted_root(fulcio, ct, v1, v2, tsa), indent=2) + "\n":
        print("testdata/keyless/trusted_root.json is not make_keyless's instance; regenerate it first", file=sys.stderr)
        return 1
    shutil.rmtree(OUT, ignore_errors=True)
    rows = []
    for fname, expected, reason, data, annotations in fixtures():
        write_sig_layout(OUT / fname, data, annotations)
        rows.append((fname, expected, reason))
    if "--peer" in sys.argv[1:]:
        return peer(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
