#!/usr/bin/env bash
# make_signed_archive.sh — testdata/archives/oci/signed-p256.tar.zst (the signed-p256 layout, tarred
# reproducibly with GNU tar and compressed with zstd) and its cosign 2.5 `sign-blob` signatures by
# keys/p256.key: a plain base64 signature (.sig) and a sigstore bundle (.bundle), for --archive-signature.
# Needs ../shared/tools/signers.sh (cosign 2.5); no network besides the Debian mirror signers.sh uses.
set -euo pipefail
cd "$(dirname "$0")"
COSIGN=$(../../shared/tools/signers.sh "${SIGNERS_DIR:-$HOME/.cache/airlock-signers}" 2>/dev/null | tail -n1)
out=archives/oci/signed-p256.tar.zst
tar -C layouts/signed-p256 --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | zstd -q -19 -f -o "$out"
export COSIGN_PASSWORD; COSIGN_PASSWORD=$(head -n1 keys/passphrase.txt)
"$COSIGN" sign-blob --key keys/p256.key --tlog-upload=false --yes --output-signature "$out.sig" "$out" >/dev/null
"$COSIGN" sign-blob --key keys/p256.key --tlog-upload=false --yes --new-bundle-format --bundle "$out.bundle" "$out" >/dev/null
echo "wrote $out, $out.sig, $out.bundle"
