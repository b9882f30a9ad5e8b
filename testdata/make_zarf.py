#!/usr/bin/env python3
"""make_zarf.py OUT_DIR [NAME...] — zarf packages in zarf's documented layout, for tests/it/zarf.rs.

A package is a tar (zstd-compressed unless named .tar) whose root holds:
  zarf.yaml          the definition; metadata.aggregateChecksum = sha256(checksums.txt)
  checksums.txt      `<sha256> <path>` for every other file (zarf-dev/zarf
                     src/pkg/packager/layout/package.go, validatePackageIntegrity)
  components/test.tar, sboms.tar
  images/            an OCI layout: testdata/layouts/signed-p256 (image and .sig signed by keys/p256.key),
                     its index.json naming entries by org.opencontainers.image.base.name only, as zarf
                     before v0.50 wrote it (crane's layout)
  zarf.bundle.sig    only in the signed variants: cosign 2.5's bundle over zarf.yaml (make_zarf_signed.sh)

Written: good.tar.zst, good.tar, tampered.tar.zst (a byte of components/test.tar flipped), tampered-layer.tar.zst
(a byte of the image's layer flipped), extra.tar.zst (a
file checksums.txt does not list), aggregate.tar.zst (a wrong aggregateChecksum), dupkey.tar.zst (zarf.yaml
with a duplicate key), listed-twice.tar.zst, escaping.tar.zst (a `../` path in checksums.txt),
split.tar.zst.part000… (good, split as zarf splits: a JSON header, then 1 KiB parts), signed.tar.zst,
signed-other.tar.zst (signed by keys/other.key), signed-tampered.tar.zst (zarf.yaml changed after signing);
only the NAMEs given, when some are.
`make_zarf.py --yaml-only DIR` writes the signed variant's zarf.yaml alone, for make_zarf_signed.sh.
Needs Python 3 (stdlib), GNU tar and zstd. Deterministic: same bytes every run.
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LAYOUT = os.path.join(HERE, "layouts", "signed-p256")
SIGNED = os.path.join(HERE, "zarf")
CHUNK = 1024
LAYER = "dfcaf4028413b329e92cc5da3d024f4f62bccd11e9e8d9a534bcde8bf018e6a8"  # signed-p256's one layer


def small_tar(files):
    """A reproducible tar of {name: bytes} (a component or the SBOM tar: opaque to airlock)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def images(root):
    """images/: the signed layout, named by base.name as zarf (crane) names it."""
    shutil.copytree(LAYOUT, os.path.join(root, "images"))
    path = os.path.join(root, "images", "index.json")
    with open(path) as f:
        index = json.load(f)
    for m in index["manifests"]:
        ann = m.get("annotations", {})
        if "org.opencontainers.image.ref.name" in ann:
            ann["org.opencontainers.image.base.name"] = ann.pop("org.opencontainers.image.ref.name")
    with open(path, "w") as f:
        json.dump(index, f, separators=(",", ":"))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def checksums(root):
    """checksums.txt as zarf writes it: every file but zarf.yaml and the signatures, sorted."""
    lines = []
    for d, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(d, name), root)
            if rel not in ("zarf.yaml", "checksums.txt", "zarf.bundle.sig", "zarf.yaml.sig"):
                lines.append(f"{sha256(os.path.join(root, rel))} {rel}")
    text = "\n".join(sorted(lines)) + "\n"
    with open(os.path.join(root, "checksums.txt"), "w") as f:
        f.write(text)
    return hashlib.sha256(text.encode()).hexdigest()


def zarf_yaml(aggregate, signed=False, duplicate=False):
    name = "  name: airlock-test\n" + ("  name: airlock-other\n" if duplicate else "")
    build = "  signed: true\n  provenanceFiles:\n  - zarf.bundle.sig\n" if signed else ""
    return (
        "kind: ZarfPackageConfig\n"
        "metadata:\n"
        f"{name}"
        "  version: 0.0.1\n"
        "  architecture: amd64\n"
        f"  aggregateChecksum: {aggregate}\n"
        "build:\n"
        "  architecture: amd64\n"
        "  version: v0.0.0-airlock\n"
        f"{build}"
        "components:\n"
        "- name: test\n"
        "  required: true\n"
        "  images:\n"
        "  - registry.airlock.test/airlock/single:v1\n"
    )


def package_dir(root, signed=False, duplicate=False):
    """A package folder; returns its aggregate checksum."""
    os.makedirs(os.path.join(root, "components"))
    with open(os.path.join(root, "components", "test.tar"), "wb") as f:
        f.write(small_tar({"manifests/deployment.yaml": b"kind: Deployment\n"}))
    with open(os.path.join(root, "sboms.tar"), "wb") as f:
        f.write(small_tar({"sbom.json": b"{}\n"}))
    images(root)
    aggregate = checksums(root)
    with open(os.path.join(root, "zarf.yaml"), "w") as f:
        f.write(zarf_yaml(aggregate, signed, duplicate))
    return aggregate


def pack(root, out):
    """GNU tar, reproducibly, the root's entries without a ./ prefix (as zarf writes them)."""
    names = sorted(os.listdir(root))
    tar = ["tar", "-C", root, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", "-"]
    data = subprocess.run(tar + names, check=True, stdout=subprocess.PIPE).stdout
    if not out.endswith(".tar"):
        data = subprocess.run(["zstd", "-q", "-c"], input=data, check=True, stdout=subprocess.PIPE).stdout
    with open(out, "wb") as f:
        f.write(data)


def split(path):
    """zarf's split (src/internal/split/split.go): .part001… chunks, then the .part000 header."""
    with open(path, "rb") as f:
        data = f.read()
    count = 0
    for i in range(0, len(data), CHUNK):
        count += 1
        with open(f"{path}.part{count:03d}", "wb") as f:
            f.write(data[i : i + CHUNK])
    header = {"Sha256Sum": hashlib.sha256(data).hexdigest(), "Bytes": len(data), "Count": count}
    with open(f"{path}.part000", "w") as f:
        f.write(json.dumps(header, separators=(",", ":")))
    os.remove(path)


def variant(out, name, change=None, **kw):
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "pkg")
        os.makedirs(root)
        package_dir(root, **kw)
        if change:
            change(root)
        pack(root, os.path.join(out, name))


def flip_component(root):
    path = os.path.join(root, "components", "test.tar")
    with open(path, "r+b") as f:
        f.seek(600)
        b = f.read(1)
        f.seek(600)
        f.write(bytes([b[0] ^ 0x01]))


def flip_layer(root):
    """A byte of the image's layer flipped: the layout's blob check finds it (checksums.txt lists the blob)."""
    path = os.path.join(root, "images", "blobs", "sha256", LAYER)
    with open(path, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0x01]))


def add_extra(root):
    with open(os.path.join(root, "extra.txt"), "w") as f:
        f.write("not listed\n")


def edit(root, old, new, name="zarf.yaml"):
    path = os.path.join(root, name)
    with open(path) as f:
        text = f.read()
    assert old in text, (old, name)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def wrong_aggregate(root):
    with open(os.path.join(root, "checksums.txt"), "rb") as f:
        right = hashlib.sha256(f.read()).hexdigest()
    edit(root, right, "0" * 64)


def relist(root, extra_line):
    """checksums.txt with one more line, and zarf.yaml's aggregate following it (so only the line is wrong)."""
    path = os.path.join(root, "checksums.txt")
    with open(path, "rb") as f:
        old = hashlib.sha256(f.read()).hexdigest()
    with open(path, "a") as f:
        f.write(extra_line + "\n")
    edit(root, old, sha256(path))


def listed_twice(root):
    with open(os.path.join(root, "checksums.txt")) as f:
        first = f.readline().strip()
    relist(root, first)


def escaping(root):
    relist(root, f"{sha256(os.path.join(root, 'sboms.tar'))} components/../sboms.tar")


def signed_files(signature):
    """The committed signed zarf.yaml and a bundle over it (made by make_zarf_signed.sh)."""

    def change(root):
        for name, dest in (("zarf.yaml", "zarf.yaml"), (signature, "zarf.bundle.sig")):
            shutil.copyfile(os.path.join(SIGNED, name), os.path.join(root, dest))

    return change


def signed_then_tampered(root):
    signed_files("zarf.bundle.sig")(root)
    edit(root, "required: true", "required: false")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--yaml-only"]:
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "pkg")
            os.makedirs(root)
            package_dir(root, signed=True)
            shutil.copyfile(os.path.join(root, "zarf.yaml"), os.path.join(args[1], "zarf.yaml"))
        return
    out, wanted = args[0], set(args[1:])
    os.makedirs(out, exist_ok=True)
    variants = {
        "good.tar.zst": {},
        "good.tar": {},
        "tampered.tar.zst": {"change": flip_component},
        "tampered-layer.tar.zst": {"change": flip_layer},
        "extra.tar.zst": {"change": add_extra},
        "aggregate.tar.zst": {"change": wrong_aggregate},
        "dupkey.tar.zst": {"duplicate": True},
        "listed-twice.tar.zst": {"change": listed_twice},
        "escaping.tar.zst": {"change": escaping},
        "split.tar.zst": {},
        "signed.tar.zst": {"change": signed_files("zarf.bundle.sig"), "signed": True},
        "signed-other.tar.zst": {"change": signed_files("zarf.bundle.other.sig"), "signed": True},
        "signed-tampered.tar.zst": {"change": signed_then_tampered, "signed": True},
    }
    for name, kw in variants.items():
        if not wanted or name in wanted:
            variant(out, name, **kw)
    if not wanted or "split.tar.zst" in wanted:
        split(os.path.join(out, "split.tar.zst"))

if __name__ == "__main__":
    main()
