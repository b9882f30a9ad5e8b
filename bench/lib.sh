# Sourced by the bench scripts. `table_row SECTION CASE SECONDS METRIC RSS_MB RATIO` appends one row to the
# combined table `make bench` prints (bench/all.sh sets BENCH_TABLE); without BENCH_TABLE it does nothing.
# Use "-" for a cell that does not apply.
table_row() {
  [[ -n ${BENCH_TABLE:-} ]] || return 0
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_TABLE"
}

# `measure OUT CMD...`: runs CMD with GNU time; writes "seconds peak_rss_kb exit_code" to OUT.
measure() {
  local out=$1 rc=0; shift
  /usr/bin/time -f "%e %M" -o "$out.time" "$@" >"$out.log" 2>&1 || rc=$?
  echo "$(cat "$out.time" | tail -n1) $rc" >"$out"
}
