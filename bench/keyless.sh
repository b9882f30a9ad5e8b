#!/usr/bin/env bash
# make bench-keyless: N keyless-signed images (BENCH_KEYLESS=100) verified offline, airlock vs sigstore-python,
# in the same run. testdata/make_keyless.py --bench writes ONE OCI layout of N distinct images, each signed like
# fixture keyless-rekor1 (its own Fulcio-style leaf, a cosign v3 referrer bundle: Rekor v1 dsse entry, inclusion
# proof, checkpoint, SET), plus the N bare bundles and digests for the peer.
#   airlock verify-archive LAYOUT, whole run, -j default (= CPUs) and -j 1;
#   sigstore-python `verify identity --offline`: its CLI takes --bundle only with a single input and refuses
#   several sha256: digests, so it runs (1) once over N file inputs (bundles/<i>, a link to image i's manifest,
#   found next to bundles/<i>.sigstore.json: the same statement, subject and checks), and (2) once per image
#   with the documented `--bundle B sha256:HEX` form (BENCH_PEER_LOOP=0 skips this one).
# ratio = sigstore-python (one process) seconds / case seconds: above 1 means faster than the peer.
# Needs python3 with `cryptography`; the peer needs `pip install sigstore`. Writes only under a temp dir.
# BENCH_NO_BUILD=1 uses the existing target/release/airlock. Verification failures are reported, never fatal.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${BENCH_KEYLESS:-100}
DIR=$(mktemp -d /tmp/airlock-bench-keyless.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
[[ ${BENCH_NO_BUILD:-0} == 1 ]] || cargo build --release --quiet
A=$PWD/target/release/airlock
ID=https://github.com/airlock-test/app/.github/workflows/release.yml@refs/heads/main
ISS=https://token.actions.githubusercontent.com
TC=testdata/keyless/trust_config.json
python3 testdata/make_keyless.py --bench "$N" "$DIR/layout" >/dev/null
# timed NAME CMD...: wall seconds on stdout, output in $DIR/NAME.log, exit code in $DIR/NAME.rc
timed() {
  local name=$1 s e rc=0; shift
  s=$(date +%s.%N); "$@" >"$DIR/$name.log" 2>&1 || rc=$?; e=$(date +%s.%N)
  echo "$rc" >"$DIR/$name.rc"; awk -v s="$s" -v e="$e" 'BEGIN{printf "%.3f", e-s}'
}
note=()
check_airlock() { grep -q "^$N passed, 0 failed" "$DIR/$1.log" || note+=("FAILED $1: $(tail -n1 "$DIR/$1.log")"); }
airlock() { "$A" verify-archive "$DIR/layout" --trusted-root testdata/keyless/trusted_root.json \
  --certificate-identity "$ID" --certificate-oidc-issuer "$ISS" --no-progress -q "$@"; }
peer_batch() {
  COLUMNS=400 NO_COLOR=1 python3 -m sigstore --trust-config "$TC" verify identity --offline \
    --cert-identity "$ID" --cert-oidc-issuer "$ISS" $(seq -f "$DIR/bundles/%g" "$N")
}
peer_loop() {
  local i=0 d ok=0
  while read -r d; do
    i=$((i + 1))
    python3 -m sigstore --trust-config "$TC" verify identity --offline --bundle "$DIR/bundles/$i.sigstore.json" \
      --cert-identity "$ID" --cert-oidc-issuer "$ISS" "$d" >/dev/null 2>&1 && ok=$((ok + 1))
  done <"$DIR/digests.txt"
  echo "$ok of $i verified"
}
JN=$(nproc)
t_aj=$(timed airlock_jn airlock); check_airlock airlock_jn
t_a1=$(timed airlock_j1 airlock -j 1); check_airlock airlock_j1
t_pb=- t_pl=-
if python3 -c 'import sigstore' 2>/dev/null; then
  i=0
  while read -r d; do i=$((i + 1)); ln -s "../layout/blobs/sha256/${d#sha256:}" "$DIR/bundles/$i"; done <"$DIR/digests.txt"
  t_pb=$(timed peer_batch peer_batch)
  ok=$(grep -c '^OK: ' "$DIR/peer_batch.log" || true)
  [[ $ok == "$N" && $(cat "$DIR/peer_batch.rc") == 0 ]] ||
    note+=("FAILED sigstore-python one process: $ok of $N OK; $(grep ERROR "$DIR/peer_batch.log" | tail -n1 | sed 's/.*ERROR *//; s/ *[^ ]*\.py:[0-9]*$//')")
  if [[ ${BENCH_PEER_LOOP:-1} != 0 ]]; then
    t_pl=$(timed peer_loop peer_loop)
    grep -q "^$N of $N verified" "$DIR/peer_loop.log" || note+=("FAILED sigstore-python per image: $(cat "$DIR/peer_loop.log")")
  fi
  PEER="sigstore-python $(python3 -c 'import sigstore; print(sigstore.__version__)')"
else
  PEER="sigstore-python"
  note+=("peer skipped: pip install sigstore")
fi
row() { # row CASE SECONDS
  local ratio
  ratio=$(awk -v t="$2" -v p="$t_pb" 'BEGIN{print (p == "-" || t == "-" || t <= 0) ? "-" : sprintf("%.2f", p / t)}')
  table_row keyless "$1" "$2" "$(awk -v t="$2" -v n="$N" 'BEGIN{print (t == "-") ? "-" : sprintf("%.2f ms/image", 1000 * t / n)}')" - "$ratio"
  awk -v c="$1" -v t="$2" -v n="$N" -v p="$t_pb" 'BEGIN{
    if (t == "-") { printf "%-44s %8s %10s %10s %8s\n", c, "-", "-", "-", "-"; exit }
    r = (p == "-" || t <= 0) ? "-" : sprintf(p / t < 0.1 ? "%.3f" : "%.2f", p / t)
    printf "%-44s %8.3f %10.1f %10.2f %8s\n", c, t, (t > 0 ? n / t : 0), 1000 * t / n, r }'
}
echo "$N keyless-signed images, offline; $("$A" --version); $JN CPUs"
printf '%-44s %8s %10s %10s %8s\n' "case" seconds "images/s" "ms/image" ratio
row "$PEER, 1 process, $N inputs" "$t_pb"
row "$PEER, 1 process per image" "$t_pl"
row "airlock verify-archive -j $JN (default)" "$t_aj"
row "airlock verify-archive -j 1" "$t_a1"
echo "(ratio = sigstore-python one-process seconds / case seconds: above 1 means faster than the peer)"
for n in "${note[@]}"; do echo "$n"; done
