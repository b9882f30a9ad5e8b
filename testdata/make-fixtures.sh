#!/usr/bin/env bash
# make-fixtures.sh — regenerate airlock's signed test fixtures under testdata/ from scratch.
#
# Needs (all offline except the Debian mirror):
#   * bash, GNU tar, gzip, curl, python3 (3.11 stdlib) with `cryptography` (no pip packages: the encrypted
#     sigstore private-key format — scrypt + NaCl secretbox — is written by sigstore_key.py in pure Python)
#   * Debian's `docker-registry` (CNCF distribution 2.8): `apt-get update && apt-get install -y docker-registry`
#     (installed automatically when missing and running as root)
#   * ../shared/tools/signers.sh (Debian trixie skopeo 1.18 + cosign 2.5, unpacked into $SIGNERS_DIR,
#     default $HOME/.cache/airlock-signers; reused when already there)
#
# How it works: starts docker-registry on 127.0.0.1:<free port> with a temp config and storage (killed on
# exit), then runs make_fixtures.py, which builds tiny images itself (layer tars with GNU tar --sort=name
# --mtime=@0 --owner=0 --group=0 --numeric-owner, gzip -n; config/manifest/index JSON in Python), pushes them
# over the distribution API, signs them in the registry with skopeo (--sign-identity registry.airlock.test/...
# so identities do not depend on the port) and cosign, exports OCI layouts / dir: copies with skopeo, edits
# copies for the negative cases, self-checks every signature (Python `cryptography`) and every descriptor,
# peer-checks the dir: copies with skopeo's own policy engine, and writes fixtures.json (facts) and
# FIXTURES.md (rendered by write_fixtures_md.py: the expectations the tests are written from).
# Files: make_fixtures.py (the work), sigstore_key.py (encrypted key format), write_fixtures_md.py.
# Output: keys/, layouts/, dirs/, fixtures.json, FIXTURES.md — all deleted and rewritten on every run.
# Image content is reproducible; signatures (and so .sig manifest digests) change on every run.
#
# Usage: testdata/make-fixtures.sh            (from anywhere; writes into the directory of this script)
#        AIRLOCK_STEPS=make_positive,...       run only some steps (debugging; FIXTURES.md then incomplete)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIGNERS_DIR=${SIGNERS_DIR:-$HOME/.cache/airlock-signers}
SIGNERS_SH=${SIGNERS_SH:-$HERE/../../shared/tools/signers.sh}

if ! command -v docker-registry >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null
  else echo "make-fixtures.sh: docker-registry missing (apt-get install docker-registry)" >&2; exit 2; fi
fi
mapfile -t W < <("$SIGNERS_SH" "$SIGNERS_DIR")
SKOPEO=${W[0]} COSIGN=${W[1]}

TMP=$(mktemp -d /tmp/airlock-registry.XXXXXX)
REG_PID=
cleanup() {
  if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$TMP/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TMP/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$TMP/config.yml" >"$TMP/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null || { cat "$TMP/registry.log" >&2; exit 1; }

PYTHONDONTWRITEBYTECODE=1 AIRLOCK_REGISTRY=127.0.0.1:$PORT AIRLOCK_SKOPEO=$SKOPEO AIRLOCK_COSIGN=$COSIGN \
  python3 "$HERE/make_fixtures.py"
du -sh "$HERE" >&2
