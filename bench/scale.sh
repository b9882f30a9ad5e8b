#!/usr/bin/env bash
# make bench-scale: the per-image cost at scale. bench/gen_scale.py writes OCI layouts of 2 000 and 20 000
# single-platform images signed once, and 2 000 multi-arch images (an index of two platforms) signed three
# times; each is verified as a directory and as a tar.zst (`zstd -1 -T2`). Printed: seconds, µs per image,
# peak RSS, and the growth factor 20 000 / 2 000 (linear cost: ≤ 10). Next to them, the floor of the
# per-image work: one ECDSA P-256 verification (`openssl speed`, per core) and airlock's own walk without
# signatures (`--blobs exist`, no key: the JSON parses and lookups).
# BENCH_SCALE="2000 20000" sets the sizes. Needs python3 with `cryptography`, zstd, GNU time, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SIZES=(${BENCH_SCALE:-2000 20000})
DIR=$(mktemp -d /tmp/airlock-bench-scale.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
[[ ${BENCH_NO_BUILD:-0} == 1 ]] || cargo build --release --quiet
A=$PWD/target/release/airlock
CORES=$(nproc)
verify_us=$(openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {printf "%.1f", 1e6 / $NF}')
printf '%-36s %7s %8s %9s %8s %7s\n' case images seconds "µs/image" "RSS MB" growth
declare -A per_image
run_case() { # run_case NAME N SOURCE ARGS...
  local name=$1 n=$2; shift 2
  measure "$DIR/m" "$A" verify-archive "$@" --no-progress -q
  read -r secs kb rc <"$DIR/m"
  grep -q "^$n passed, 0 failed" "$DIR/m.log" || echo "FAILED $name: $(tail -n1 "$DIR/m.log")" >&2
  local us growth=-
  us=$(awk -v s="$secs" -v n="$n" 'BEGIN{printf "%.0f", 1e6 * s / n}')
  per_image[$name]=$secs
  local base=${name/${SIZES[-1]}/${SIZES[0]}}
  if [[ $base != "$name" && -n ${per_image[$base]:-} ]]; then
    growth=$(awk -v a="$secs" -v b="${per_image[$base]}" 'BEGIN{printf "%.1f", (b > 0 ? a / b : 0)}')
  fi
  printf '%-36s %7s %8s %9s %8s %7s\n' "$name" "$n" "$secs" "$us" "$((kb / 1024))" "$growth"
  table_row scale "$name ($n images)" "$secs" "$us µs/image" "$((kb / 1024))" "$growth"
}
layouts() { # layouts KIND N: generate, tar, verify both forms
  local kind=$1 n=$2 flag=
  [[ $kind == multi ]] && flag=--multi
  python3 bench/gen_scale.py "$n" "$DIR/$kind-$n" $flag
  tar -C "$DIR/$kind-$n" -cf - . | zstd -q -1 -T2 -o "$DIR/$kind-$n.tar.zst"
  run_case "$kind dir $n" "$n" "$DIR/$kind-$n" -p "$DIR/$kind-$n.pub"
  run_case "$kind tar.zst $n" "$n" "$DIR/$kind-$n.tar.zst" -p "$DIR/$kind-$n.pub"
  if [[ $kind == single && $n == "${SIZES[-1]}" ]]; then
    run_case "single dir $n, no key, exist" "$n" "$DIR/$kind-$n" --blobs exist
  fi
  rm -rf "${DIR:?}/$kind-$n" "$DIR/$kind-$n.tar.zst"
}
for n in "${SIZES[@]}"; do layouts single "$n"; done
layouts multi "${SIZES[0]}"
echo "floor: one ECDSA P-256 verification = $verify_us µs per core (openssl speed), $CORES cores;"
echo "growth = seconds / seconds of the ${SIZES[0]}-image run of the same kind (≤ 10 is linear for 10× the images)"
table_row scale "floor: ECDSA P-256 verify (openssl, 1 core)" - "$verify_us µs" - -
