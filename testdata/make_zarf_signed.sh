#!/usr/bin/env bash
# make_zarf_signed.sh — testdata/zarf/: the signed zarf package's zarf.yaml (written by make_zarf.py, with
# build.signed and provenanceFiles as zarf writes them when signing) and cosign 2.5 `sign-blob` bundles over
# it, as zarf signs a package (src/pkg/packager/layout/package.go: sign-blob of zarf.yaml, new bundle
# format, no transparency log for a key): zarf.bundle.sig by keys/p256.key, zarf.bundle.other.sig by
# keys/other.key. Needs ../shared/tools/signers.sh (cosign 2.5). Tests build the packages from these with
# make_zarf.py and never need cosign.
set -euo pipefail
cd "$(dirname "$0")"
COSIGN=$(../../shared/tools/signers.sh "${SIGNERS_DIR:-$HOME/.cache/airlock-signers}" 2>/dev/null | tail -n1)
python3 make_zarf.py --yaml-only zarf
export COSIGN_PASSWORD; COSIGN_PASSWORD=$(head -n1 keys/passphrase.txt)
for pair in p256:zarf.bundle.sig other:zarf.bundle.other.sig; do
    key=${pair%%:*} out=zarf/${pair#*:}
    "$COSIGN" sign-blob --key "keys/$key.key" --tlog-upload=false --yes --new-bundle-format --bundle "$out" \
        zarf/zarf.yaml >/dev/null
done
echo "wrote zarf/zarf.yaml, zarf/zarf.bundle.sig, zarf/zarf.bundle.other.sig"
