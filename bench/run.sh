#!/usr/bin/env bash
# make bench: airlock against its yardsticks, measured in the same run, with ratios.
#   tar.zst bundles of ~1 GiB and ~4 GiB: `airlock verify-archive` vs `zstd -dc B | openssl dgst -sha256`
#   (throughput of the uncompressed stream, and airlock's peak memory: it must not grow with the bundle);
#   the same layout as a directory: airlock's parallel hashing vs `cat blobs | openssl dgst -sha256`.
# Each case runs BENCH_RUNS times (default 5), alternating with its yardstick; medians are printed.
# Needs: zstd, openssl, GNU time (/usr/bin/time), python3. Writes only under $BENCH_DIR (default: a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SIZES=${BENCH_SIZES:-"1024 4096"}
DIR=${BENCH_DIR:-$(mktemp -d /tmp/airlock-bench.XXXXXX)}
trap 'rm -rf "$DIR"' EXIT
[[ ${BENCH_NO_BUILD:-0} == 1 ]] || cargo build --release --quiet
A=$PWD/target/release/airlock
RUNS=${BENCH_RUNS:-5}
# run CMD...: "seconds peak-KB" of one run (the machine is shared: one run says little, so cases are run RUNS times)
run() { /usr/bin/time -f "%e %M" -o "$DIR/time" "$@" >/dev/null 2>&1 || true; cat "$DIR/time"; }
# pair YARDSTICK AIRLOCK...: RUNS interleaved runs of each; prints "yardstick-median airlock-median airlock-peak-KB"
pair() {
  local y=$1; shift
  for _ in $(seq "$RUNS"); do
    echo "y $(run sh -c "$y")"
    echo "a $(run "$@")"
  done | awk '{t[$1]=t[$1] " " $2; if ($1=="a" && $3>m) m=$3}
    function med(s,  n,v,i,j,x) { n=split(s,v," "); for(i=1;i<=n;i++) for(j=i+1;j<=n;j++) if (v[j]<v[i]) {x=v[i];v[i]=v[j];v[j]=x}
      return (n%2 ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2) }
    END {printf "%.2f %.2f %d\n", med(t["y"]), med(t["a"]), m}'
}
row() { printf '%-28s %10s %10s %12s %10s\n' "$@"; }
row "case" "seconds" "MB/s" "peak RSS MiB" "ratio"
for mib in $SIZES; do
  L=$DIR/layout-$mib B=$DIR/bundle-$mib.tar.zst
  python3 bench/gen_bundle.py "$mib" "$L" >/dev/null
  tar -C "$L" -cf - . | zstd -q -1 -T0 -o "$B"
  bytes=$(du -sb "$L" | cut -f1)
  mbs() { awk -v b="$bytes" -v t="$1" 'BEGIN{printf "%.0f", (t>0? b/t/1e6 : 0)}'; }
  ratio() { awk -v a="$1" -v y="$2" 'BEGIN{printf "%.2f", (y>0? a/y : 0)}'; }
  read -r yt at am < <(pair "zstd -dc '$B' | openssl dgst -sha256" "$A" verify-archive "$B" --no-progress -q)
  row "zstd -dc | openssl ($mib MiB)" "$yt" "$(mbs "$yt")" "-" "1.00"
  row "airlock tar.zst ($mib MiB)" "$at" "$(mbs "$at")" "$((am / 1024))" "$(ratio "$at" "$yt")"
  table_row archive "tar.zst $mib MiB vs zstd -dc | openssl ($yt s)" "$at" "$(mbs "$at") MB/s" "$((am / 1024))" "$(ratio "$at" "$yt")"
  read -r dt ad dm < <(pair "cat '$L'/blobs/sha256/* | openssl dgst -sha256" "$A" verify-archive "$L" --no-progress -q)
  row "cat | openssl (dir)" "$dt" "$(mbs "$dt")" "-" "1.00"
  row "airlock directory" "$ad" "$(mbs "$ad")" "$((dm / 1024))" "$(ratio "$ad" "$dt")"
  table_row archive "directory $mib MiB vs cat | openssl ($dt s)" "$ad" "$(mbs "$ad") MB/s" "$((dm / 1024))" "$(ratio "$ad" "$dt")"
  rm -rf "$L" "$B"
done
echo "(seconds: medians of $RUNS interleaved runs; ratio = airlock time / yardstick time, below 1 means airlock is"
echo " faster: issue 12 targets <= 0.8 for tar.zst and <= 0.6 for the directory; peak RSS must stay <= 64 MiB)"
