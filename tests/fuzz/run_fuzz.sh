#!/bin/sh
# tests/fuzz/run_fuzz.sh BINARY WORKDIR CORPUS SECONDS - one bounded libFuzzer run for ctest.
# New inputs go to WORKDIR/new (emptied first), crash inputs to WORKDIR/; the committed CORPUS
# is read, never written.  Fails on any finding (libFuzzer's exit status).
set -eu
bin=$1 work=$2 corpus=$3 secs=$4
rm -rf "$work" && mkdir -p "$work/new"
exec "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/new" "$corpus"
