#!/usr/bin/env python3
"""gen_images.py N OUT_DIR — an OCI layout of N small distinct single-platform images for the registry
benchmark, named registry.bench.test/bench/imgK:v1. Stdlib only."""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def blob(root, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def layer(k):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        body = f"image {k}\n".encode() * 64
        info = tarfile.TarInfo(f"etc/bench-{k}")
        info.size, info.mtime = len(body), 0
        t.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue(), mtime=0), hashlib.sha256(raw.getvalue()).hexdigest()


def main():
    n, root = int(sys.argv[1]), sys.argv[2]
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    entries = []
    for k in range(1, n + 1):
        data, diff = layer(k)
        l = dict(blob(root, data), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
        c = dict(blob(root, config), mediaType="application/vnd.oci.image.config.v1+json")
        m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": c, "layers": [l]}).encode()
        d = dict(blob(root, m), mediaType="application/vnd.oci.image.manifest.v1+json")
        d["annotations"] = {"org.opencontainers.image.ref.name": f"img{k}"}
        entries.append(d)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": entries}, f)


if __name__ == "__main__":
    main()
