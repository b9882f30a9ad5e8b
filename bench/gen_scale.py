#!/usr/bin/env python3
"""gen_scale.py N OUT_DIR [--multi] — an OCI layout of N small distinct signed images for the scale
benchmark, named registry.bench.test/bench/imgK:v1, and its key (OUT_DIR.pub).

Single-platform (default): each image is one manifest with one layer, signed once. --multi: each image is an
index of linux/amd64 and linux/arm64 manifests, signed three times (the index and each platform), as skopeo
`copy --all --sign-by-sigstore` signs it. Signatures are containers-image simple signing as skopeo 1.18
writes them (the payload's critical section, a cosign-style `.sig` manifest per signed digest, ECDSA P-256
over the payload) with a key made for the run. Needs python3 with `cryptography`.
"""
import base64
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
REF = "org.opencontainers.image.ref.name"


class Layout:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)

    def blob(self, data, media_type):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.root, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + d, "size": len(data)}


def compact(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


def platform_manifest(out, k, arch):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        body = f"image {k} {arch}\n".encode() * 16
        info = tarfile.TarInfo(f"etc/bench-{k}")
        info.size, info.mtime = len(body), 0
        t.addfile(info, io.BytesIO(body))
    layer = out.blob(gzip.compress(raw.getvalue(), mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
    diff = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    config = out.blob(compact({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}),
                      CONFIG)
    doc = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [layer]}
    return out.blob(compact(doc), MANIFEST)


def signature(out, key, name, digest):
    """The `.sig` manifest signing `digest` for `name` (skopeo's shape)."""
    payload = compact({"critical": {"identity": {"docker-reference": name},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"},
                       "optional": {"creator": "airlock bench"}})
    sig = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    layer = out.blob(payload, "application/vnd.dev.cosign.simplesigning.v1+json")
    layer["annotations"] = {"dev.cosignproject.cosign/signature": sig}
    config = out.blob(compact({"architecture": "", "os": "", "config": {},
                               "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}), CONFIG)
    desc = out.blob(compact({"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [layer]}),
                    MANIFEST)
    repo = name.rsplit(":", 1)[0]
    desc["annotations"] = {REF: f"{repo}:{digest.replace(':', '-')}.sig"}
    return desc


def main():
    n, root, multi = int(sys.argv[1]), sys.argv[2], "--multi" in sys.argv[3:]
    out = Layout(root)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    key = ec.generate_private_key(ec.SECP256R1())
    with open(root.rstrip("/") + ".pub", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    entries = []
    for k in range(1, n + 1):
        name = f"registry.bench.test/bench/img{k}:v1"
        if multi:
            children = []
            for arch in ["amd64", "arm64"]:
                child = platform_manifest(out, k, arch)
                child["platform"] = {"architecture": arch, "os": "linux"}
                children.append(child)
            top = out.blob(compact({"schemaVersion": 2, "mediaType": INDEX, "manifests": children}), INDEX)
            signed = [top["digest"]] + [c["digest"] for c in children]
        else:
            top = platform_manifest(out, k, "amd64")
            signed = [top["digest"]]
        top["annotations"] = {REF: name}
        entries.append(top)
        entries += [signature(out, key, name, d) for d in signed]
    with open(os.path.join(root, "index.json"), "w") as f:
        f.write(json.dumps({"schemaVersion": 2, "manifests": entries}, separators=(",", ":")))


if __name__ == "__main__":
    main()
