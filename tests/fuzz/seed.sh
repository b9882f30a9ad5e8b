#!/usr/bin/env bash
# Builds the seed corpora for the fuzz targets from testdata/ into tests/fuzz/corpus/<target>/.
# Idempotent: seeds are named by the sha256 of their content, so re-running adds nothing twice and
# never removes what the fuzzer has found. Needs GNU tar, gzip and zstd.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
td="$root/testdata"
corpus="$here/corpus"
small=65536   # blobs and archives larger than this are not seeds

# add TARGET FILE...: copies each file into the target's corpus under its content hash.
add() {
    local target="$1"; shift
    mkdir -p "$corpus/$target"
    local f
    for f in "$@"; do
        [ -f "$f" ] || continue
        [ "$(stat -c %s "$f")" -le "$small" ] || continue
        cp -f "$f" "$corpus/$target/$(sha256sum "$f" | cut -c1-40)"
    done
}

# add_text TARGET TEXT: one seed from a string.
add_text() {
    local tmp
    tmp="$(mktemp)"
    printf '%s' "$2" > "$tmp"
    add "$1" "$tmp"
    rm -f "$tmp"
}

# JSON documents: every *.json in testdata, and every small blob of the shipped layouts (manifests,
# indexes, configs, simple-signing payloads, bundles; layers too, as non-JSON noise).
mapfile -d '' json_files < <(find "$td" -name '*.json' -type f -print0)
mapfile -d '' blob_files < <(find "$td"/layouts/*/blobs/sha256 -type f -size -64k -print0)
for t in strict_json manifest payload; do
    add "$t" "${json_files[@]}" "${blob_files[@]}"
done
for f in "$td"/layouts/*/oci-layout; do add strict_json "$f"; done

# skopeo dir: signature-N bodies.
mapfile -d '' sig_files < <(find "$td/dirs" -name 'signature-*' -type f -print0)
add skopeo_signature "${sig_files[@]}"
add_text skopeo_signature '{"mimeType":"text/plain","payload":"aGk=","annotations":null}'

# Sigstore bundles and trusted roots: the conformance suite (read in place, never committed) and the
# shipped referrer bundles.
conformance="$root/../shared/interop/sigstore-conformance/test/assets/bundle-verify"
mapfile -d '' bundle_files < <(find "$conformance" -name '*.json' -type f -print0 2>/dev/null)
add sigstore_bundle "${bundle_files[@]}" "${blob_files[@]}"

# References: hand-written shapes, plus every reference the fixtures name (annotations, payloads).
refs=(
    "nginx" "library/nginx:1.25" "docker.io/library/nginx:latest" "index.docker.io/nginx"
    "localhost/app" "localhost:5000/a/b/c:v1" "registry.example:5000/proj/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    "r.example/p/app:v1@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    "[::1]:5000/app:tag" "a__b/c-d.e:x.Y_z-1" "Upper/case" "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    "reg.example/app@sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
while IFS= read -r r; do refs+=("$r"); done < <(
    grep -rhoE '"(io\.containerd\.image\.name|org\.opencontainers\.image\.ref\.name|docker-reference)" *: *"[^"]+"' \
        "$td"/layouts "$td"/dirs 2>/dev/null | sed -E 's/.*: *"([^"]+)"$/\1/' | sort -u | head -n 200
)
for r in "${refs[@]}"; do add_text reference "$r"; done

# Image lists (hangar's format): the references above one per line, and the edge shapes parse_list knows.
list="$(printf '%s\n' "${refs[@]}")"
add_text image_list "$list"
add_text image_list $'\xef\xbb\xbf# comment\n// also a comment\n\nnginx\n  busybox:1.36  \nsrc.example/a dst.example/b v1\nreg.example/proj/sub/app:v2\na/b/c\n'
add_text image_list $'reg.example/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nindex.docker.io/app\nlocalhost/app:t\n/\n:tag\n@\n'
for r in "${refs[@]:0:12}"; do add_text image_list "$r"; done

# Archives. Tar, tar.gz and tar.zst of a small signed layout (at its root and under one folder), the
# docker-archives, and the shipped tar.zst bundle.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
layout="$td/layouts/signed-p256"
tar_opts=(--format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0)
tar "${tar_opts[@]}" -C "$layout" -cf "$work/root.tar" .
tar "${tar_opts[@]}" -C "$td/layouts" -cf "$work/folder.tar" signed-p256
tar --format=ustar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$layout" -cf "$work/ustar.tar" .
gzip -9 -n -c "$work/root.tar" > "$work/root.tar.gz"
zstd -q -19 -c "$work/root.tar" > "$work/root.tar.zst"
gzip -9 -n -c "$work/folder.tar" > "$work/folder.tar.gz"
tar "${tar_opts[@]}" -C "$td/archives/docker/single-dir" -cf "$work/docker-dir.tar" .
add tar_archive "$work"/*.tar "$work"/*.tar.gz "$work"/*.tar.zst "$td"/archives/docker/*.tar "$td"/archives/oci/*.tar.zst

# Hangar zips.
add zip_archive "$td"/archives/hangar/*.zip

for t in "$corpus"/*/; do
    printf '%-18s %4d seeds\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)"
done
