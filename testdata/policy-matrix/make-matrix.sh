#!/usr/bin/env bash
# make-matrix.sh — record skopeo 1.18's (containers-image 5.34's) policy decisions on a scenario matrix
# (issue 8, "Policy parity"). tests/policy_parity.rs replays every recorded row against airlock.
#
# Needs (offline except the Debian mirror):
#   * bash, GNU tar, gzip, curl, gpg, python3 (stdlib only)
#   * Debian's `docker-registry` (CNCF distribution 2.8): installed with apt-get when missing and root
#   * ../../../shared/tools/signers.sh (Debian trixie skopeo 1.18 + cosign 2.5, unpacked into $SIGNERS_DIR,
#     default $HOME/.cache/airlock-signers; reused when already there). Debian bookworm's skopeo cannot sign.
#
# What it does (all of it on every run; nothing in the output is written by hand):
#   1. starts docker-registry on the FIXED address 127.0.0.7:5007 (sigstore signatures embed the image's
#      docker reference, host:port included, and ECDSA signatures are not reproducible: the replay must
#      serve these very bytes at this very address) with an empty temp storage root;
#   2. make_matrix.py `build`: generates keys (keys/), pushes tiny images built from the committed layouts
#      testdata/layouts/unsigned (one platform) and testdata/layouts/signed-multi-all (3 platforms),
#      signs them in the registry with skopeo (and one with cosign);
#   3. stops the registry and exports its storage root as registry.tar.gz;
#   4. starts a fresh registry at the same address over an UNPACKED COPY of registry.tar.gz (exactly what
#      the replay serves) and runs make_matrix.py `record`: writes policies/NNN-name.json and runs
#        skopeo --registries.d registries.d --policy policies/NNN-name.json \
#          --override-os linux --override-arch amd64 copy --src-tls-verify=false [--all] docker://REF dir:OUT
#      from THIS directory (relative keyPaths resolve against the working directory in containers-image)
#      for every row, recording its exit code, decision and one-line message in cases.tsv.
#
# Usage: testdata/policy-matrix/make-matrix.sh     (from anywhere; rewrites keys/, policies/, cases.tsv,
#        registry.tar.gz in the directory of this script). 127.0.0.7:5007 must be free.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SIGNERS_DIR=${SIGNERS_DIR:-$HOME/.cache/airlock-signers}
SIGNERS_SH=${SIGNERS_SH:-$HERE/../../../shared/tools/signers.sh}
ADDR=127.0.0.7:5007

for t in curl gpg python3 tar gzip; do
  command -v "$t" >/dev/null || { echo "make-matrix.sh: $t is missing" >&2; exit 2; }
done
if ! command -v docker-registry >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null
  else echo "make-matrix.sh: docker-registry missing (apt-get install docker-registry)" >&2; exit 2; fi
fi
mapfile -t W < <("$SIGNERS_SH" "$SIGNERS_DIR")
SKOPEO=${W[0]} COSIGN=${W[1]}

TMP=$(mktemp -d /tmp/airlock-policy-matrix.XXXXXX)
REG_PID=
stop_registry() {
  if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  REG_PID=
}
cleanup() { stop_registry; rm -rf "$TMP"; }
trap cleanup EXIT

start_registry() { # ROOTDIR
  cat >"$TMP/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1
  delete:
    enabled: true
http:
  addr: $ADDR
EOF
  if curl -fsS -m 2 "http://$ADDR/v2/" >/dev/null 2>&1; then
    echo "make-matrix.sh: something already answers on $ADDR; stop it first" >&2; exit 2
  fi
  docker-registry serve "$TMP/config.yml" >>"$TMP/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1 && return 0
    kill -0 "$REG_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/registry.log" >&2
  echo "make-matrix.sh: docker-registry did not start on $ADDR" >&2
  exit 1
}

export PYTHONDONTWRITEBYTECODE=1 MATRIX_REGISTRY=$ADDR MATRIX_SKOPEO=$SKOPEO MATRIX_COSIGN=$COSIGN MATRIX_TMP=$TMP

# 1-2: build and sign
mkdir -p "$TMP/storage"
start_registry "$TMP/storage"
python3 "$HERE/make_matrix.py" build

# 3: export the storage root (deterministic tar: sorted, fixed mtime and owner; gzip without a name/time)
stop_registry
find "$TMP/storage" -type d -name _uploads -prune -exec rm -rf {} +
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -C "$TMP/storage" -cf - . |
  gzip -n -9 >"$HERE/registry.tar.gz"

# 4: replay conditions: a fresh registry over an unpacked copy of the tarball, then record every row
mkdir -p "$TMP/replay"
tar -xzf "$HERE/registry.tar.gz" -C "$TMP/replay"
start_registry "$TMP/replay"
(cd "$HERE" && python3 "$HERE/make_matrix.py" record)
stop_registry
du -sh "$HERE/registry.tar.gz" >&2
