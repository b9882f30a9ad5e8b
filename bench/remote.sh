#!/usr/bin/env bash
# make bench-remote: images validated per second against a loopback CNCF registry (Debian's
# docker-registry), airlock -j 1 and -j 8, next to skopeo 1.18's policy-checked copy of the same images
# (`skopeo copy --policy sigstoreSigned … docker://… dir:…`, one image at a time), in the same run.
# Needs: docker-registry, python3, and skopeo 1.18 from ../shared/tools/signers.sh (it signs the images).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_IMAGES:-200}
DIR=$(mktemp -d /tmp/airlock-bench-remote.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cleanup() { [[ -n ${RPID:-} ]] && kill "$RPID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
SIGNERS=$(../shared/tools/signers.sh "${SIGNERS_DIR:-$HOME/.cache/airlock-signers}" 2>/dev/null | head -n1)
cargo build --release --quiet
A=$PWD/target/release/airlock
cat >"$DIR/config.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $DIR/data}}
http: {addr: "$REG"}
log: {level: error}
YML
docker-registry serve "$DIR/config.yml" >"$DIR/registry.log" 2>&1 & RPID=$!
for _ in $(seq 50); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
mkdir -p "$DIR/registries.d"
echo "docker: {\"$REG\": {use-sigstore-attachments: true}}" >"$DIR/registries.d/bench.yaml"
printf 'bench\n' >"$DIR/pass"
"$SIGNERS" generate-sigstore-key --output-prefix "$DIR/key" --passphrase-file "$DIR/pass" >/dev/null
python3 bench/gen_images.py "$N" "$DIR/layout"
echo "pushing and signing $N images with skopeo…" >&2
: >"$DIR/list.txt"
for k in $(seq "$N"); do
  "$SIGNERS" --insecure-policy --registries.d "$DIR/registries.d" copy -q --dest-tls-verify=false \
    --sign-by-sigstore-private-key "$DIR/key.private" --sign-passphrase-file "$DIR/pass" \
    "oci:$DIR/layout:img$k" "docker://$REG/bench/img$k:v1"
  echo "$REG/bench/img$k:v1" >>"$DIR/list.txt"
done
cat >"$DIR/policy.json" <<JSON
{"default":[{"type":"reject"}],"transports":{"docker":{"$REG":[{"type":"sigstoreSigned","keyPath":"$DIR/key.pub","signedIdentity":{"type":"matchRepoDigestOrExact"}}]},"dir":{"":[{"type":"insecureAcceptAnything"}]}}}
JSON
rate() { awk -v n="$N" -v t="$1" 'BEGIN{printf "%.1f", (t>0? n/t : 0)}'; }
timed() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; }; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN{printf "%.2f", e-s}'; }
skopeo_all() {
  local k
  for k in $(seq "$N"); do
    "$SIGNERS" --policy "$DIR/policy.json" --registries.d "$DIR/registries.d" copy -q --src-tls-verify=false \
      "docker://$REG/bench/img$k:v1" "dir:$DIR/out" || return 1
    rm -rf "$DIR/out"
  done
}
t_sk=$(timed skopeo_all)
t_a1=$(timed "$A" validate -f "$DIR/list.txt" -p "$DIR/key.pub" --tls-verify=false -j 1 -q -o "$DIR/failed.txt")
t_a8=$(timed "$A" validate -f "$DIR/list.txt" -p "$DIR/key.pub" --tls-verify=false -j 8 -q -o "$DIR/failed.txt")
"$A" validate -f "$DIR/list.txt" -p "$DIR/key.pub" --tls-verify=false -j 8 -q -o "$DIR/failed.txt" | tail -n1
printf '%-40s %8s %12s %8s\n' "case ($N signed images)" seconds "images/s" ratio
printf '%-40s %8s %12s %8s\n' "skopeo 1.18 policy-checked copy" "$t_sk" "$(rate "$t_sk")" 1.00
printf '%-40s %8s %12s %8s\n' "airlock validate -j 1" "$t_a1" "$(rate "$t_a1")" "$(awk -v a="$t_a1" -v s="$t_sk" 'BEGIN{printf "%.1f", s/a}')"
printf '%-40s %8s %12s %8s\n' "airlock validate -j 8" "$t_a8" "$(rate "$t_a8")" "$(awk -v a="$t_a8" -v s="$t_sk" 'BEGIN{printf "%.1f", s/a}')"
