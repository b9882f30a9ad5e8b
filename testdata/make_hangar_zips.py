#!/usr/bin/env python3
"""Builds hangar `save` zips (hangar >= v1.7, archive index v1.2.0) from the committed OCI layouts.

No hangar binary exists in this environment, so this script writes the zips the way hangar's Go code
does (cnrancher/hangar pkg/hangar/archive/writer.go; see ../shared/research/hangar.md §1.2-§1.3):

* every entry stored (method 0), written with Go's `zip.Writer.CreateHeader(&FileHeader{Name, Method:
  Store, Modified})`: creator host 0, no external attributes, an extended-timestamp extra (0x5455) when
  `Modified` is set, and data descriptors (flag bit 3) on every file — Python's zipfile writes them too
  when its output cannot seek, so the zip is written through a non-seekable wrapper;
* one `<manifestHex>/index.json` (containers/image's OCI index with one descriptor, no platform, no
  ref.name) and `<manifestHex>/oci-layout` per saved platform manifest; every manifest, config and layer
  under `share/sha256/<hex>`, each stored once;
* hangar's own `index.json` last: compact JSON with Go's field order and omitempty, `version` v1.2.0,
  `time` in RFC3339Nano. No original manifest list is stored, and no signatures (hangar removes them).

Writes under testdata/archives/hangar/:
  saved-images.zip  multi (linux/amd64 + linux/arm64 of signed-multi-all: hangar's default platforms),
                    single (signed-p256) and layers3 (signed-layers3), as hangar >= v1.9.2 writes them
  zip64.zip         the same content with ZIP64 everywhere: local and central ZIP64 extras, the ZIP64
                    end record and locator (forced by lowering zipfile's ZIP64 thresholds to 0)
  old-dirs.zip      the same content as v1.7-v1.9.1 wrote it: directory entries (`<hex>/`,
                    `<hex>/blobs/`, `share/`, `share/sha256/`) written once per saved image, so `share/`
                    and `share/sha256/` repeat

The `.sig` manifests of these images stay in the layouts: tests pass a layout beside the zip
(`verify-archive saved-images.zip testdata/layouts/signed-multi-all`) to check signatures. Output is
deterministic (fixed times). Standard library only; run from anywhere.
"""

import contextlib
import hashlib
import io
import json
import os
import struct
import warnings
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
LAYOUTS = os.path.join(HERE, "layouts")
OUT = os.path.join(HERE, "archives", "hangar")

REF_NAME = "org.opencontainers.image.ref.name"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

# (layout, source, tag): the hangar index names each image by `source` and `tag`.
IMAGES = [
    ("signed-multi-all", "registry.airlock.test/airlock/multi", "v1"),
    ("signed-p256", "registry.airlock.test/airlock/single", "v1"),
    ("signed-layers3", "registry.airlock.test/airlock/layers3", "v1"),
]
# hangar save's defaults: --arch amd64,arm64 --os linux.
ARCHES = ("amd64", "arm64")
OSES = ("linux",)

MODIFIED = (2025, 6, 1, 12, 0, 0)
MODIFIED_UNIX = 1748779200  # 2025-06-01T12:00:00Z
SAVE_TIME = "2025-06-01T12:00:05.123456789Z"


def blob(layout, digest, strict=True):
    """A blob of a layout (a name under testdata/layouts or a path). Not strict: damaged blobs are copied
    as they are and missing ones are None (the zip then lacks them, as a damaged save would)."""
    alg, hex_ = digest.split(":", 1)
    path = os.path.join(LAYOUTS, layout, "blobs", alg, hex_)
    if not strict and not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        data = f.read()
    assert not strict or hashlib.new(alg, data).hexdigest() == hex_, digest
    return data


def go_json(value):
    """Go's json.Marshal: compact, HTML-safe escaping is irrelevant for these values."""
    return json.dumps(value, separators=(",", ":")).encode()


def saved_image(layout, source, tag, top=None, strict=True):
    """What hangar saves for one image: its index item and the files of its cache dir."""
    if top is None:
        with open(os.path.join(LAYOUTS, layout, "index.json")) as f:
            top = [m for m in json.load(f)["manifests"] if not m["annotations"][REF_NAME].endswith(".sig")]
        assert len(top) == 1, layout
        top = top[0]

    def read(layout, digest):
        return blob(layout, digest, strict)

    if top["mediaType"] in (OCI_INDEX, DOCKER_LIST):
        index = json.loads(read(layout, top["digest"]))
        children = []
        for child in index["manifests"]:
            p = child.get("platform", {})
            if p.get("architecture") in ARCHES and p.get("os") in OSES:
                children.append((child, p))
        annotated = True
    else:
        # A single-platform image: hangar reads the platform from the config.
        manifest = json.loads(read(layout, top["digest"]))
        config = json.loads(read(layout, manifest["config"]["digest"]))
        children = [(top, {"architecture": config["architecture"], "os": config["os"]})]
        annotated = False  # annotations come from manifest-list descriptors only
    specs, files, blobs = [], [], []
    for desc, platform in children:
        manifest_bytes = read(layout, desc["digest"])
        manifest = json.loads(manifest_bytes)
        spec = {"arch": platform["architecture"], "os": platform["os"]}
        for go_key, oci_key in (("osVersion", "os.version"), ("osFeatures", "os.features"), ("variant", "variant")):
            if platform.get(oci_key):
                spec[go_key] = platform[oci_key]
        spec["mediaType"] = desc["mediaType"]
        layers = [l["digest"] for l in manifest["layers"] if not l.get("urls")]
        if layers:
            spec["layers"] = layers
        spec["config"] = manifest["config"]["digest"]
        spec["digest"] = desc["digest"]
        if annotated and desc.get("annotations"):
            spec["annotations"] = desc["annotations"]
        specs.append(spec)
        hex_ = desc["digest"].split(":", 1)[1]
        per_image = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": desc["mediaType"], "digest": desc["digest"], "size": len(manifest_bytes)}],
        }
        files.append((hex_, f"{hex_}/index.json", go_json(per_image)))
        files.append((hex_, f"{hex_}/oci-layout", go_json({"imageLayoutVersion": "1.0.0"})))
        for d in [desc["digest"], manifest["config"]["digest"], *layers]:
            data = read(layout, d)
            if data is not None:
                blobs.append((d.split(":", 1)[1], data))
    item = {
        "source": source,
        "tag": tag,
        "archList": sorted({s["arch"] for s in specs}),
        "osList": sorted({s["os"] for s in specs}),
        "images": specs,
    }
    return item, files, blobs


class NoSeek:
    """A write-only stream with tell() but no seek(): zipfile then writes data descriptors, as Go does."""

    def __init__(self):
        self.buf = io.BytesIO()

    def write(self, data):
        return self.buf.write(data)

    def tell(self):
        return self.buf.tell()

    def flush(self):
        pass


def info(name, modified=True):
    zi = zipfile.ZipInfo(name, date_time=MODIFIED if modified else (1980, 0, 0, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_STORED
    zi.create_system = 0
    zi.external_attr = 0
    if modified:
        zi.extra = struct.pack("<HHBI", 0x5455, 5, 1, MODIFIED_UNIX)
    if name.endswith("/"):
        zi.CRC = zi.file_size = zi.compress_size = 0  # zipfile.mkdir expects them set
    return zi


@contextlib.contextmanager
def zip64_everywhere():
    """zipfile writes ZIP64 records only past its limits; lowering them forces every ZIP64 structure."""
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
    try:
        yield
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


def write_zip(path, saved, *, dirs=False, zip64=False):
    out = io.BytesIO() if zip64 else NoSeek()
    written = set()
    index = {"list": [], "version": "v1.2.0", "time": SAVE_TIME}
    with contextlib.ExitStack() as stack:
        if zip64:
            stack.enter_context(zip64_everywhere())
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")  # "Duplicate name" for the repeated directory entries
        zf = stack.enter_context(zipfile.ZipFile(out, "w", allowZip64=True))

        def put(name, data, modified=True):
            with zf.open(info(name, modified), "w", force_zip64=zip64) as f:
                f.write(data)

        for item, files, blobs in saved:
            # filepath.Walk order over the cache dir: `<hex>/…` sorts before `share/…`.
            done_dirs = set()
            for hex_, name, data in files:
                if dirs and hex_ not in done_dirs:
                    zf.mkdir(info(f"{hex_}/"))
                    zf.mkdir(info(f"{hex_}/blobs/"))
                    done_dirs.add(hex_)
                put(name, data)
            if dirs:
                zf.mkdir(info("share/"))
                zf.mkdir(info("share/sha256/"))
            for hex_, data in sorted(blobs):
                name = f"share/sha256/{hex_}"
                if name not in written:
                    put(name, data)
                    written.add(name)
            index["list"].append(item)
        put("index.json", go_json(index), modified=False)
        zf.close()
    data = out.getvalue() if zip64 else out.buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def from_layout(layout, out):
    """`--from-layout LAYOUT OUT.zip`: every image of any OCI layout (full ref names; signatures and
    referrer tags left out, as hangar save does) as a hangar zip, copying damaged content as it is.
    Used by the tests to run each testdata layout as a hangar zip too. Prints the number of images."""
    with open(os.path.join(layout, "index.json")) as f:
        entries = json.load(f)["manifests"]
    saved = []
    for top in entries:
        name = (top.get("annotations") or {}).get(REF_NAME, "")
        repo, _, tag = name.rpartition(":")
        if "/" not in repo or tag.startswith("sha256-") or "/" in tag:
            continue
        saved.append(saved_image(os.path.abspath(layout), repo, tag, top=top, strict=False))
    write_zip(out, saved)
    print(len(saved))


def main():
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--from-layout":
        from_layout(sys.argv[2], sys.argv[3])
        return
    os.makedirs(OUT, exist_ok=True)
    saved = [saved_image(*image) for image in IMAGES]
    for name, kwargs in (("saved-images.zip", {}), ("zip64.zip", {"zip64": True}), ("old-dirs.zip", {"dirs": True})):
        size = write_zip(os.path.join(OUT, name), saved, **kwargs)
        with zipfile.ZipFile(os.path.join(OUT, name)) as zf:
            assert zf.testzip() is None, name
        print(f"{name}: {size} bytes")


if __name__ == "__main__":
    main()
