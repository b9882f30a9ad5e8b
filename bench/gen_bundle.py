#!/usr/bin/env python3
"""gen_bundle.py MIB OUT_DIR — writes an OCI layout of about MIB MiB for the benchmarks.

Images of 4 layers of random (incompressible, like the gzip layers of real images) bytes, 32 MiB each,
with configs, manifests and an index.json naming each image. Stdlib only."""
import hashlib
import json
import os
import sys

LAYER = 32 << 20


def blob(root, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def random_blob(root, size):
    h = hashlib.sha256()
    tmp = os.path.join(root, "blobs", "sha256", "tmp")
    with open(tmp, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    d = h.hexdigest()
    os.rename(tmp, os.path.join(root, "blobs", "sha256", d))
    return {"digest": "sha256:" + d, "size": size}


def main():
    mib, root = int(sys.argv[1]), sys.argv[2]
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    entries, written, n = [], 0, 0
    while written < (mib << 20):
        n += 1
        layers = [dict(random_blob(root, LAYER), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for _ in range(4)]
        written += 4 * LAYER
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()
        cfg = dict(blob(root, config), mediaType="application/vnd.oci.image.config.v1+json")
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": cfg, "layers": layers}).encode()
        m = dict(blob(root, manifest), mediaType="application/vnd.oci.image.manifest.v1+json")
        m["annotations"] = {"org.opencontainers.image.ref.name": f"registry.bench.test/bench/image{n}:v1"}
        entries.append(m)
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}, f)
    print(f"{n} images, {written >> 20} MiB of layers")


if __name__ == "__main__":
    main()
