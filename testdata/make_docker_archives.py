#!/usr/bin/env python3
"""Builds the docker-archive fixtures (`docker save` legacy format) from the committed OCI layouts.

Writes under testdata/archives/docker/:
  single-dir/  one image (registry.airlock.test/airlock/single:v1), unpacked
  single.tar   the same as a plain GNU tar with deterministic metadata
  two-dir/     single + layers3 (registry.airlock.test/airlock/layers3:v1), unpacked
  two.tar      the same as a tar

Each layout's gzip layers are decompressed to the uncompressed tars `docker save` stores, and each
tar's sha256 is checked against the config's rootfs.diff_ids. Standard library only; run from anywhere.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
LAYOUTS = os.path.join(HERE, "layouts")
OUT = os.path.join(HERE, "archives", "docker")

OCI_INDEX_NAME = "org.opencontainers.image.ref.name"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def blob(layout, digest):
    alg, hexpart = digest.split(":", 1)
    with open(os.path.join(LAYOUTS, layout, "blobs", alg, hexpart), "rb") as f:
        data = f.read()
    assert sha256(data) == hexpart, f"{layout}: blob {digest} is damaged"
    return data


def image_of(layout):
    """The one image entry of a layout: (ref name, config bytes, [uncompressed layer tars])."""
    with open(os.path.join(LAYOUTS, layout, "index.json")) as f:
        index = json.load(f)
    entries = [m for m in index["manifests"] if not m["annotations"][OCI_INDEX_NAME].endswith(".sig")]
    assert len(entries) == 1, f"{layout}: expected one image entry"
    entry = entries[0]
    manifest = json.loads(blob(layout, entry["digest"]))
    config = blob(layout, manifest["config"]["digest"])
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    layers = []
    for desc, diff_id in zip(manifest["layers"], diff_ids, strict=True):
        data = blob(layout, desc["digest"])
        if desc["mediaType"].endswith("gzip"):
            data = gzip.decompress(data)
        assert "sha256:" + sha256(data) == diff_id, f"{layout}: layer {desc['digest']} does not match {diff_id}"
        layers.append(data)
    return entry["annotations"][OCI_INDEX_NAME], config, layers


def files_for(layouts):
    """{relative path: bytes} of a legacy docker-archive holding the images of `layouts`."""
    files, manifest, repositories = {}, [], {}
    for layout in layouts:
        name, config, layers = image_of(layout)
        config_name = sha256(config) + ".json"
        files[config_name] = config
        parent, layer_names = "", []
        for i, data in enumerate(layers):
            # Legacy v1 layer ids: any stable hex works; docker derives them from the chain.
            layer_id = sha256(f"{parent}\n{sha256(data)}\n{config_name if i == len(layers) - 1 else ''}".encode())
            v1 = {"id": layer_id, "created": "1970-01-01T00:00:00Z", "os": "linux"}
            if parent:
                v1["parent"] = parent
            files[f"{layer_id}/VERSION"] = b"1.0"
            files[f"{layer_id}/json"] = json.dumps(v1, separators=(",", ":")).encode()
            files[f"{layer_id}/layer.tar"] = data
            layer_names.append(f"{layer_id}/layer.tar")
            parent = layer_id
        manifest.append({"Config": config_name, "RepoTags": [name], "Layers": layer_names})
        repo, tag = name.rsplit(":", 1)
        repositories.setdefault(repo, {})[tag] = parent
    files["manifest.json"] = json.dumps(manifest, separators=(",", ":")).encode()
    files["repositories"] = json.dumps(repositories, separators=(",", ":")).encode()
    return files


def write_dir(path, files):
    shutil.rmtree(path, ignore_errors=True)
    for rel, data in files.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)


def write_tar(path, files):
    """A plain GNU tar, entries in name order (directories before their files), fixed metadata."""
    dirs = sorted({rel.split("/")[0] for rel in files if "/" in rel})
    names = sorted(list(files) + [d + "/" for d in dirs])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel in names:
            info = tarfile.TarInfo(rel.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if rel.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(files[rel])
                tar.addfile(info, io.BytesIO(files[rel]))
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, layouts in [("single", ["signed-p256"]), ("two", ["signed-p256", "signed-layers3"])]:
        files = files_for(layouts)
        write_dir(os.path.join(OUT, name + "-dir"), files)
        write_tar(os.path.join(OUT, name + ".tar"), files)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
