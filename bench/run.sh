#!/usr/bin/env bash
# make bench: airlock against its yardsticks, measured in the same run, with ratios.
#   tar.zst bundles of ~1 GiB and ~4 GiB: `airlock verify-archive` vs `zstd -dc B | openssl dgst -sha256`
#   (throughput of the uncompressed stream, and airlock's peak memory: it must not grow with the bundle);
#   the same layout as a directory: airlock's parallel hashing vs `cat blobs | openssl dgst -sha256`.
# Needs: zstd, openssl, GNU time (/usr/bin/time), python3. Writes only under $BENCH_DIR (default: a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${BENCH_SIZES:-"1024 4096"}
DIR=${BENCH_DIR:-$(mktemp -d /tmp/airlock-bench.XXXXXX)}
trap 'rm -rf "$DIR"' EXIT
cargo build --release --quiet
A=$PWD/target/release/airlock
secs() { /usr/bin/time -f "%e %M" -o "$DIR/time" "$@" >/dev/null 2>&1 || true; cat "$DIR/time"; }
printf '%-28s %10s %10s %12s %10s\n' "case" "seconds" "MB/s" "peak RSS MB" "ratio"
for mib in $SIZES; do
  L=$DIR/layout-$mib B=$DIR/bundle-$mib.tar.zst
  python3 bench/gen_bundle.py "$mib" "$L" >/dev/null
  tar -C "$L" -cf - . | zstd -q -1 -T0 -o "$B"
  bytes=$(du -sb "$L" | cut -f1)
  read -r yt _ < <(secs sh -c "zstd -dc '$B' | openssl dgst -sha256")
  read -r at am < <(secs "$A" verify-archive "$B" --no-progress -q)
  mbs() { awk -v b="$bytes" -v t="$1" 'BEGIN{printf "%.0f", (t>0? b/t/1e6 : 0)}'; }
  printf '%-28s %10s %10s %12s %10s\n' "zstd -dc | openssl ($mib MiB)" "$yt" "$(mbs "$yt")" "-" "1.00"
  printf '%-28s %10s %10s %12s %10s\n' "airlock tar.zst ($mib MiB)" "$at" "$(mbs "$at")" "$((am / 1024))" \
    "$(awk -v a="$at" -v y="$yt" 'BEGIN{printf "%.2f", (a>0? y/a : 0)}')"
  read -r dt _ < <(secs sh -c "cat '$L'/blobs/sha256/* | openssl dgst -sha256")
  read -r ad dm < <(secs "$A" verify-archive "$L" --no-progress -q)
  printf '%-28s %10s %10s %12s %10s\n' "cat | openssl (dir)" "$dt" "$(mbs "$dt")" "-" "1.00"
  printf '%-28s %10s %10s %12s %10s\n' "airlock directory" "$ad" "$(mbs "$ad")" "$((dm / 1024))" \
    "$(awk -v a="$ad" -v y="$dt" 'BEGIN{printf "%.2f", (a>0? y/a : 0)}')"
  rm -rf "$L" "$B"
done
echo "(ratio = yardstick time / airlock time: above 1 means airlock is faster)"
