#!/usr/bin/env bash
# make bench-remote: images validated per second against a loopback CNCF registry (Debian's
# docker-registry), airlock -j 1 and -j 8, next to (1) the registry's own throughput for the very requests
# airlock makes (recorded from the registry's log, replayed by wrk at the same concurrency: SPEC §9 wants
# airlock within 90 % of it) and (2) skopeo 1.18's policy-checked copy of the same images, in the same run.
# Needs: docker-registry, wrk, python3, and skopeo 1.18 from ../shared/tools/signers.sh (it signs the images).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
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
log: {level: info, formatter: json}
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
# The requests of one -j 8 run, from the registry's own log, replayed by wrk with 8 connections.
: >"$DIR/registry.log"
"$A" validate -f "$DIR/list.txt" -p "$DIR/key.pub" --tls-verify=false -j 8 -q -o "$DIR/failed.txt" >/dev/null
sleep 0.5
python3 - "$DIR/registry.log" "$DIR/requests.txt" <<'PY'
import json, sys
out = open(sys.argv[2], "w")
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("msg") == "response completed" and e.get("http.request.uri", "").startswith("/v2/"):
        out.write(f'{e["http.request.method"]} {e["http.request.uri"]}\n')
PY
REQS=$(wc -l <"$DIR/requests.txt")
python3 - "$DIR/requests.txt" <<'PY' >&2
import collections, re, sys
kinds = collections.Counter()
for line in open(sys.argv[1]):
    method, path = line.split()
    if path.endswith(".sig"): kinds["GET .sig manifest"] += 1
    elif "/referrers/" in path: kinds["GET referrers API"] += 1
    elif re.search(r"/manifests/sha256-[0-9a-f]{64}$", path): kinds["GET referrers tag"] += 1
    elif "/manifests/" in path: kinds[f"{method} manifest"] += 1
    elif "/blobs/" in path: kinds[f"{method} blob"] += 1
    else: kinds[f"{method} {path}"] += 1
for k, n in kinds.most_common():
    print(f"  {n:6d} {k}")
PY
cat >"$DIR/replay.lua" <<'LUA'
local reqs, i = {}, 0
for line in io.lines(os.getenv("REQUESTS")) do
  local m, p = line:match("^(%S+) (%S+)$")
  reqs[#reqs + 1] = {m, p}
end
-- wrk cannot parse a body-less HEAD answer: a HEAD is replayed as a one-byte ranged GET, the nearest
-- request with the same work on the registry's side
request = function()
  i = i % #reqs + 1
  if reqs[i][1] == "HEAD" then
    return wrk.format("GET", reqs[i][2], {Range = "bytes=0-0"})
  end
  return wrk.format(reqs[i][1], reqs[i][2], {Accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"})
end
LUA
RPS=$(REQUESTS="$DIR/requests.txt" wrk -t 2 -c 8 -d 10s -s "$DIR/replay.lua" "http://$REG" | awk '/Requests\/sec/ {print $2}')
per_image=$(awk -v r="$REQS" -v n="$N" 'BEGIN{printf "%.1f", r/n}')
reg_rate=$(awk -v rps="$RPS" -v r="$REQS" -v n="$N" 'BEGIN{printf "%.1f", rps/(r/n)}')
echo "registry: $REQS requests for $N images ($per_image per image); wrk replays them at $RPS req/s = $reg_rate images/s"
printf '%-40s %8s %12s %8s\n' "case ($N signed images)" seconds "images/s" ratio
printf '%-40s %8s %12s %8s\n' "skopeo 1.18 policy-checked copy" "$t_sk" "$(rate "$t_sk")" 1.00
printf '%-40s %8s %12s %8s\n' "airlock validate -j 1" "$t_a1" "$(rate "$t_a1")" "$(awk -v a="$t_a1" -v s="$t_sk" 'BEGIN{printf "%.1f", s/a}')"
printf '%-40s %8s %12s %8s\n' "airlock validate -j 8" "$t_a8" "$(rate "$t_a8")" "$(awk -v a="$t_a8" -v s="$t_sk" 'BEGIN{printf "%.1f", s/a}')"
printf '%-40s %8s %12s %8s\n' "registry itself (wrk, same requests)" "-" "$reg_rate" "-"
echo "airlock -j 8 / registry: $(awk -v a="$(rate "$t_a8")" -v r="$reg_rate" 'BEGIN{printf "%.2f", (r>0? a/r : 0)}') (target >= 0.9)"
ratio8=$(awk -v a="$(rate "$t_a8")" -v r="$reg_rate" 'BEGIN{printf "%.2f", (r>0? a/r : 0)}')
table_row registry "skopeo 1.18 policy-checked copy ($N images)" "$t_sk" "$(rate "$t_sk") images/s" - -
table_row registry "airlock validate -j 1" "$t_a1" "$(rate "$t_a1") images/s" - -
table_row registry "airlock validate -j 8" "$t_a8" "$(rate "$t_a8") images/s" - "$ratio8"
table_row registry "registry itself (wrk replay)" - "$reg_rate images/s" - 1.00
