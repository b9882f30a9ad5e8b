#!/usr/bin/env python3
"""make_examples.py — testdata/examples/, the files the README's workflow commands run on.

Everything is assembled from fixtures real signers made (see ../FIXTURES.md): no signature is forged here.
  bundle/               an OCI layout (what `skopeo copy --all docker://… oci:bundle:NAME` writes): the
                        multi, single and layers3 images of layouts/signed-multi-all, signed-p256 and
                        signed-layers3, with their skopeo-made `.sig` manifests
  sigstore.pub          the key that signed them (keys/p256.pub); images.txt the hangar list naming them
  rancher-images-digests.txt  the images' top digests in Rancher's digests-list format (`REF DIGEST`, sorted)
  cluster-policy.yaml   a policy-controller ClusterImagePolicy requiring that key for registry.airlock.test/airlock/**
  kyverno-policy.yaml   a Kyverno ClusterPolicy (Enforce) whose verifyImages rule requires that key there
  policy.json           a containers-policy.json(5) requiring that key for registry.airlock.test/airlock
  haul.tar.zst          a hauler-shaped haul of the same images: `kind` / `io.containerd.image.name`
                        annotations, ref names without the registry, the docker-style manifest.json hauler
                        writes for `docker load`, tar at the root, zstd
  parts/haul.tar.zst.00N  the same haul split in three (`hauler store save --chunk-size`)
  SHA256SUMS            `sha256sum haul.tar.zst`; haul.tar.zst.sig and haul.tar.zst.sigstore.json: cosign 2.5
                        `sign-blob` by keys/p256.key (a plain signature and a sigstore bundle)
  saved-images.zip      a hangar `save` zip of the bundle (make_hangar_zips.py): hangar stores no signatures
  signatures/           the `.sig` manifests alone, as `skopeo copy` of each `sha256-<hex>.sig` tag writes them
  single-dir/           a skopeo `dir:` copy of the single image (dirs/single-signed): no name inside
  zarf-package-airlock-test-amd64-0.0.1.tar.zst  a zarf package of the single image, zarf.yaml signed by
                        cosign 2.5 with keys/p256.key (make_zarf.py's signed.tar.zst)
  copied/               layouts/copied-repo: an image whose signature was made for another repository
  keyless/              layouts/keyless-rekor1 of ../keyless (a cosign v3 keyless bundle as a referrer) and the
                        trusted_root.json of the private sigstore instance that signed it; single.sigstore.json
                        the same bundle as a file, for verify-blob over the image digest

Needs python3, GNU tar, zstd, split and ../shared/tools/signers.sh (cosign 2.5). Run it after
make-fixtures.sh and make_keyless.py (it copies their output). Usage: python3 testdata/make_examples.py
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "examples")
LAYOUTS = ["signed-multi-all", "signed-p256", "signed-layers3"]
REGISTRY = "registry.airlock.test"
REF = "org.opencontainers.image.ref.name"
ZARF = "zarf-package-airlock-test-amd64-0.0.1.tar.zst"


def load(path):
    with open(path, "rb") as f:
        return json.loads(f.read())


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_layout(path, manifests, blob_sources):
    """An OCI layout at `path` holding `manifests`, with every blob of the `blob_sources` layouts."""
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    for src in blob_sources:
        blobs = os.path.join(src, "blobs", "sha256")
        for name in sorted(os.listdir(blobs)):
            shutil.copyfile(os.path.join(blobs, name), os.path.join(path, "blobs", "sha256", name))
    write(os.path.join(path, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}')
    write(os.path.join(path, "index.json"), json.dumps({"schemaVersion": 2, "manifests": manifests}))


def bundle_manifests():
    manifests = []
    for layout in LAYOUTS:
        manifests += load(os.path.join(HERE, "layouts", layout, "index.json"))["manifests"]
    return manifests


def images(manifests):
    return [m["annotations"][REF] for m in manifests if not m["annotations"][REF].endswith(".sig")]


def hauler_store(path, manifests, bundle):
    """The bundle as hauler stores it, with the manifest.json `hauler store save` adds for `docker load`."""
    stored, items = [], []
    for m in manifests:
        name = m["annotations"][REF]
        sig = name.endswith(".sig")
        entry = dict(m)
        entry["annotations"] = {
            "io.containerd.image.name": name,
            "kind": "dev.hauler/sigs" if sig else
            ("dev.hauler/imageIndex" if m["mediaType"].endswith("index.v1+json") else "dev.hauler/image"),
            REF: name[len(REGISTRY) + 1:],
        }
        stored.append(entry)
        if not sig:
            items += docker_load_items(bundle, m, name)
    write_layout(path, stored, [bundle])
    write(os.path.join(path, "manifest.json"), json.dumps(items))


def docker_load_items(bundle, desc, name):
    """manifest.json items for one image: one per platform manifest, each named like the image."""
    def blob(digest):
        return load(os.path.join(bundle, "blobs", "sha256", digest[len("sha256:"):]))

    doc = blob(desc["digest"])
    children = [c["digest"] for c in doc["manifests"]] if "manifests" in doc else [desc["digest"]]
    items = []
    for child in children:
        m = blob(child)
        layers = ["blobs/sha256/" + layer["digest"][len("sha256:"):] for layer in m["layers"]]
        items.append({"Config": "blobs/sha256/" + m["config"]["digest"][len("sha256:"):],
                      "RepoTags": [name], "Layers": layers})
    return items


def run(args, **kw):
    subprocess.run(args, check=True, **kw)


def haul(store):
    archive = os.path.join(OUT, "haul.tar.zst")
    tar = subprocess.Popen(["tar", "-C", store, "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                            "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE)
    run(["zstd", "-q", "-19", "-f", "-o", archive], stdin=tar.stdout)
    if tar.wait() != 0:
        sys.exit("make_examples.py: tar failed")
    os.makedirs(os.path.join(OUT, "parts"))
    run(["split", "-n", "3", "-d", "-a", "3", "--numeric-suffixes=1", archive,
         os.path.join(OUT, "parts", "haul.tar.zst.")])
    with open(archive, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    write(os.path.join(OUT, "SHA256SUMS"), f"{digest}  haul.tar.zst\n")
    signers = os.path.join(HERE, "..", "..", "shared", "tools", "signers.sh")
    cache = os.environ.get("SIGNERS_DIR", os.path.expanduser("~/.cache/airlock-signers"))
    cosign = subprocess.run([signers, cache], check=True, capture_output=True, text=True).stdout.split()[-1]
    with open(os.path.join(HERE, "keys", "passphrase.txt")) as f:
        env = dict(os.environ, COSIGN_PASSWORD=f.readline().rstrip("\n"))
    key = os.path.join(HERE, "keys", "p256.key")
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    run([cosign, "sign-blob", "--key", key, "--tlog-upload=false", "--yes", "--output-signature", archive + ".sig",
         archive], **quiet)
    run([cosign, "sign-blob", "--key", key, "--tlog-upload=false", "--yes", "--new-bundle-format", "--bundle",
         archive + ".sigstore.json", archive], **quiet)
    for signature in [archive + ".sig", archive + ".sigstore.json"]:
        os.chmod(signature, 0o644)


def cluster_policy():
    """A policy-controller ClusterImagePolicy requiring sigstore.pub for the bundle's repositories."""
    with open(os.path.join(HERE, "keys", "p256.pub")) as f:
        key = "".join("        " + line for line in f)
    return (f"apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: airlock-release\n"
            f"spec:\n  images:\n  - glob: \"{REGISTRY}/airlock/**\"\n  authorities:\n  - name: release-key\n"
            f"    key:\n      data: |\n{key}")


def kyverno_policy():
    """A Kyverno ClusterPolicy (Enforce) requiring sigstore.pub for the bundle's repositories, no Rekor entry."""
    with open(os.path.join(HERE, "keys", "p256.pub")) as f:
        key = "".join("              " + line for line in f)
    return ("apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: airlock-release\nspec:\n"
            "  validationFailureAction: Enforce\n  rules:\n  - name: release-key\n    match:\n      any:\n"
            "      - resources:\n          kinds: [Pod]\n    verifyImages:\n"
            f"    - imageReferences: [\"{REGISTRY}/airlock/*\"]\n      attestors:\n      - entries:\n        - keys:\n"
            f"            publicKeys: |\n{key}            rekor:\n              url: https://rekor.sigstore.dev\n"
            "              ignoreTlog: true\n            ctlog:\n              ignoreSCT: true\n")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    manifests = bundle_manifests()
    bundle = os.path.join(OUT, "bundle")
    write_layout(bundle, manifests, [os.path.join(HERE, "layouts", name) for name in LAYOUTS])
    shutil.copyfile(os.path.join(HERE, "keys", "p256.pub"), os.path.join(OUT, "sigstore.pub"))
    write(os.path.join(OUT, "images.txt"), "".join(name + "\n" for name in images(manifests)))
    write(os.path.join(OUT, "cluster-policy.yaml"), cluster_policy())
    write(os.path.join(OUT, "kyverno-policy.yaml"), kyverno_policy())
    tops = sorted((m["annotations"][REF], m["digest"]) for m in manifests if not m["annotations"][REF].endswith(".sig"))
    write(os.path.join(OUT, "rancher-images-digests.txt"), "".join(f"{n} {d}\n" for n, d in tops))
    policy = {
        "default": [{"type": "reject"}],
        "transports": {"docker": {f"{REGISTRY}/airlock": [
            {"type": "sigstoreSigned", "keyPath": "sigstore.pub", "signedIdentity": {"type": "matchRepoDigestOrExact"}}
        ]}},
    }
    write(os.path.join(OUT, "policy.json"), json.dumps(policy, indent=2) + "\n")
    store = os.path.join(OUT, "store")
    hauler_store(store, manifests, bundle)
    haul(store)
    shutil.rmtree(store)
    run([sys.executable, os.path.join(HERE, "make_hangar_zips.py"), "--from-layout", bundle,
         os.path.join(OUT, "saved-images.zip")], stdout=subprocess.DEVNULL)
    sigs = [m for m in manifests if m["annotations"][REF].endswith(".sig")]
    write_layout(os.path.join(OUT, "signatures"), sigs, [bundle])
    prune(os.path.join(OUT, "signatures"), sigs)
    shutil.copytree(os.path.join(HERE, "dirs", "single-signed"), os.path.join(OUT, "single-dir"))
    shutil.copytree(os.path.join(HERE, "keyless", "layouts", "keyless-rekor1"), os.path.join(OUT, "keyless", "bundle"))
    for name, to in [("trusted_root.json", "trusted_root.json"),
                     ("bundles/keyless-rekor1.sigstore.json", "single.sigstore.json")]:
        shutil.copyfile(os.path.join(HERE, "keyless", name), os.path.join(OUT, "keyless", to))
    shutil.copytree(os.path.join(HERE, "layouts", "copied-repo"), os.path.join(OUT, "copied"))
    run([sys.executable, os.path.join(HERE, "make_zarf.py"), OUT, "signed.tar.zst"])
    os.rename(os.path.join(OUT, "signed.tar.zst"), os.path.join(OUT, ZARF))
    print(f"wrote {OUT}")


def prune(layout, manifests):
    """Keeps only the blobs `manifests` reach (a signature manifest, its config and its layers)."""
    blobs = os.path.join(layout, "blobs", "sha256")
    keep = set()
    for m in manifests:
        hex_ = m["digest"][len("sha256:"):]
        keep.add(hex_)
        doc = load(os.path.join(blobs, hex_))
        keep.update(d["digest"][len("sha256:"):] for d in [doc["config"], *doc["layers"]])
    for name in os.listdir(blobs):
        if name not in keep:
            os.remove(os.path.join(blobs, name))


if __name__ == "__main__":
    main()
