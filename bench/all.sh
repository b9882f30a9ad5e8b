#!/usr/bin/env bash
# make bench: every benchmark in one run (archives, scale, registry, keyless), each printing its own detailed
# table as it goes, then ONE table of the headline numbers, copied into BENCHMARKS.md by hand. A benchmark
# whose tools are missing says so and the others still run; no number ever fails the run. Never in CI.
set -uo pipefail
cd "$(dirname "$0")/.."
export BENCH_TABLE
BENCH_TABLE=$(mktemp /tmp/airlock-bench-table.XXXXXX)
trap 'rm -f "$BENCH_TABLE"' EXIT
cargo build --release --quiet || exit 2
export BENCH_NO_BUILD=1
for bench in run scale remote keyless import; do
  echo "== bench/$bench.sh"
  bench/"$bench".sh || echo "bench/$bench.sh did not finish (exit $?): its rows are missing below"
  echo
done
echo "== airlock $(target/release/airlock --version | cut -d' ' -f2-), $(nproc) cores, $(uname -srm), $(date -u +%F)"
printf '%-9s %-50s %9s %18s %8s %8s\n' section case seconds metric "RSS MB" ratio
awk -F'\t' '{printf "%-9s %-50s %9s %18s %8s %8s\n", $1, $2, $3, $4, $5, $6}' "$BENCH_TABLE"
echo "ratio: archive rows = airlock time / yardstick time (tar.zst target <= 0.8, directory <= 0.6);"
echo "scale rows = growth, seconds / seconds of the 2 000-image run (<= 10); registry = airlock / registry"
echo "images/s (>= 0.9); keyless = sigstore-python seconds / airlock seconds"
echo "import = skopeo seconds / airlock seconds (above 1: airlock is faster)"
