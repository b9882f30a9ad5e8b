#!/usr/bin/env bash
# make bench-import: pushing a verified bundle into a registry, airlock vs skopeo 1.18, in the same run.
# One OCI layout of BENCH_IMPORT_MIB MiB (default 1024: 8 images of 4 random 32 MiB layers, bench/gen_bundle.py),
# pushed to a loopback CNCF registry (Debian's docker-registry on 127.0.0.1, a fresh storage per case):
#   airlock import LAYOUT --to REG/a -j 4: every blob hashed and the layout checked first, then each blob
#     HEADed, sent in 8 MiB PATCH chunks while hashed again (committed only if it is the verified bytes),
#     manifests by digest, tags last; 4 images at a time, one blob at a time per image;
#   skopeo copy --all --preserve-digests oci:LAYOUT:REF docker://REG/b/NAME:TAG, one process per image (skopeo
#     copies one image per run), 4 at a time (xargs -P 4, as -j 4), each uploading up to 6 layers at once.
#     --preserve-digests: without it skopeo sees the random layers as uncompressed and gzips them (new
#     digests); with it both tools send the same bytes. skopeo hashes each blob as it streams it (a mismatch
#     fails the copy before the commit) but checks nothing before sending, and no signatures (--insecure-policy);
#   airlock import again into airlock's registry: everything present, the HEAD-only resume path;
#   airlock verify-archive LAYOUT alone: the share of the import that is its verification.
# ratio = skopeo seconds / airlock seconds (above 1: airlock is faster). RSS: airlock's peak; skopeo's is the
# largest single process. Needs docker-registry, python3, GNU time, curl; skopeo 1.18 from
# ../shared/tools/signers.sh (without it the skopeo row is skipped). BENCH_NO_BUILD=1 skips the build.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
MIB=${BENCH_IMPORT_MIB:-1024}
RUNS=${BENCH_RUNS:-3}
DIR=$(mktemp -d /tmp/airlock-bench-import.XXXXXX)
cleanup() { stop_registry; rm -rf "$DIR"; }
trap cleanup EXIT
command -v docker-registry >/dev/null || { echo "bench/import.sh: docker-registry is missing" >&2; exit 2; }
[[ ${BENCH_NO_BUILD:-0} == 1 ]] || cargo build --release --quiet || exit 2
A=$PWD/target/release/airlock
SKOPEO=$(../shared/tools/signers.sh "${SIGNERS_DIR:-$HOME/.cache/airlock-signers}" 2>/dev/null | head -n1)
[[ -n $SKOPEO && -x $SKOPEO ]] || { SKOPEO=; echo "skopeo 1.18 unavailable (../shared/tools/signers.sh failed): skopeo row skipped" >&2; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
# start_registry: a registry on $REG with an empty storage; stop_registry: stops it and drops its storage
start_registry() {
  rm -rf "$DIR/data"
  printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "%s"}\nlog: {level: warn}\n' \
    "$DIR/data" "$REG" >"$DIR/config.yml"
  docker-registry serve "$DIR/config.yml" >>"$DIR/registry.log" 2>&1 & RPID=$!
  for _ in $(seq 50); do curl -sf "http://$REG/v2/" >/dev/null && return 0; sleep 0.1; done
  echo "bench/import.sh: the registry did not start (see its log below)" >&2; tail -n5 "$DIR/registry.log" >&2; exit 2
}
stop_registry() { [[ -n ${RPID:-} ]] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null; RPID=; rm -rf "$DIR/data"; }
python3 bench/gen_bundle.py "$MIB" "$DIR/layout" >&2
N=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["manifests"]))' "$DIR/layout/index.json")
bytes=$(du -sb "$DIR/layout/blobs" | cut -f1)
cat "$DIR"/layout/blobs/sha256/* >/dev/null # page cache warm for every case alike
mbs() { awk -v b="$bytes" -v t="$1" 'BEGIN{printf "%.0f", (t>0? b/t/1e6 : 0)}'; }
ratio() { awk -v s="$1" -v a="$2" 'BEGIN{printf "%.2f", (a>0? s/a : 0)}'; }
# CPU seconds the registry has used so far (utime + stime; the shared machine's load hits wall time, not these)
reg_cpu() { [[ -n ${RPID:-} ]] && awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$RPID/stat" || echo 0; }
# case_ NAME CMD...: measures CMD (lib.sh's measure, plus its CPU), appends "NAME seconds peak-KB cpu-s registry-cpu-s"
# to $DIR/all; a failure is reported, never fatal
case_() {
  local name=$1 c0 rc; shift
  c0=$(reg_cpu)
  measure "$DIR/$name" /usr/bin/time -f "%U %S" -o "$DIR/$name.cpu" "$@"
  read -r secs kb rc <"$DIR/$name"
  echo "$name $secs $kb $(awk '{print $1 + $2}' "$DIR/$name.cpu") $(awk -v a="$(reg_cpu)" -v b="$c0" 'BEGIN{print a - b}')" >>"$DIR/all"
  [[ $rc == 0 ]] || echo "FAILED ($name, exit $rc): $(tail -n3 "$DIR/$name.log")" >&2
}
IMPORT=("$A" import "$DIR/layout" --to "$REG/a" --tls-verify=false -j 4 --no-progress)
# one line per image for skopeo: its ref.name in the layout and its name under /b on the registry
python3 - "$DIR/layout/index.json" "$REG/b" >"$DIR/refs.txt" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    ref = m["annotations"]["org.opencontainers.image.ref.name"]
    print(ref, sys.argv[2] + "/" + ref.rsplit("/", 1)[1])
PY
export SKOPEO DIR
# RUNS rounds (the machine is shared), each: verify alone; airlock into a fresh registry, then again (resume);
# skopeo into another fresh registry. Lines "CASE seconds peak-KB" in $DIR/all; medians printed.
: >"$DIR/all"
for _ in $(seq "$RUNS"); do
  case_ verify "$A" verify-archive "$DIR/layout" --no-progress -q
  start_registry
  case_ airlock "${IMPORT[@]}"
  grep -q "^$N passed, 0 failed" "$DIR/airlock.log" || echo "airlock import: $(tail -n1 "$DIR/airlock.log")" >&2
  case_ resume "${IMPORT[@]}"
  stop_registry
  [[ -n $SKOPEO ]] || continue
  start_registry
  case_ skopeo xargs -a "$DIR/refs.txt" -P 4 -L 1 sh -c '"$SKOPEO" --insecure-policy copy -q --all \
    --preserve-digests --dest-tls-verify=false "oci:$DIR/layout:$0" "docker://$1"'
  [[ $(curl -s "http://$REG/v2/_catalog?n=1000" | grep -o '"b/' | wc -l) == "$N" ]] || echo "skopeo: not all $N images" >&2
  stop_registry
done
# med CASE: "median-seconds max-peak-MiB" of CASE's rounds, or "- -"
# med CASE: "median-seconds max-peak-MiB median-CPU-s median-registry-CPU-s" of CASE's rounds, or "- - - -"
med() {
  awk -v c="$1" 'function m(a,  i,j,x) { for(i=1;i<=n;i++) for(j=i+1;j<=n;j++) if (a[j]<a[i]) {x=a[i];a[i]=a[j];a[j]=x}
      return (n%2 ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2) }
    $1==c {t[++n]=$2; u[n]=$4; g[n]=$5; if ($3>k) k=$3}
    END { if (!n) { print "- - - -"; exit } printf "%.2f %d %.2f %.2f\n", m(t), k/1024, m(u), m(g) }' "$DIR/all"
}
read -r t_v _ c_v _ < <(med verify); read -r t_a kb_a c_a g_a < <(med airlock)
read -r t_r kb_r c_r g_r < <(med resume); read -r t_s kb_s c_s g_s < <(med skopeo)
r=-; [[ $t_s != - ]] && r=$(ratio "$t_s" "$t_a")
row() { printf '%-50s %8s %6s %8s %6s %7s %7s\n' "$@"; }
row "case ($N images, $((bytes >> 20)) MiB of blobs)" seconds MB/s "RSS MiB" ratio "CPU s" "reg CPU"
row "airlock import -j 4" "$t_a" "$(mbs "$t_a")" "$kb_a" "$r" "$c_a" "$g_a"
row "  of which verification (verify-archive alone)" "$t_v" "$(mbs "$t_v")" - - "$c_v" -
row "airlock import again (all present: HEADs only)" "$t_r" - "$kb_r" - "$c_r" "$g_r"
if [[ $t_s != - ]]; then row "skopeo 1.18 copy --preserve-digests, xargs -P 4" "$t_s" "$(mbs "$t_s")" "$kb_s" 1.00 "$c_s" "$g_s"
else row "skopeo 1.18: unavailable, not measured" - - - - - -; fi
echo "(medians of $RUNS rounds; ratio = skopeo seconds / airlock seconds, above 1: airlock is faster; CPU s: the"
echo " client's user+sys, reg CPU: the registry's, during the case; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
table_row import "airlock import -j 4, $MIB MiB, $N images vs skopeo" "$t_a" "$(mbs "$t_a") MB/s" "$kb_a" "$r"
table_row import "airlock import again (all present, HEADs only)" "$t_r" - "$kb_r" -
[[ $t_s != - ]] && table_row import "skopeo 1.18 copy --preserve-digests, -P 4" "$t_s" "$(mbs "$t_s") MB/s" "$kb_s" 1.00
exit 0
