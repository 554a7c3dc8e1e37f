#!/usr/bin/env bash
# tests/stress/roles.sh - the figures of two-role workloads say what ran (issue 16 item 12).
#
# Usage: roles.sh path/to/tally BACKEND.  Registered by tests/stress_roles.cmake (ctest
# stress_roles_<backend>, labels "stress;<backend>").  Checks:
#   - readmostly --threads 3: the JSON says 3 threads, 1 writer and 2 readers; reads + writes =
#     ops; both are non-zero; each role's rate is its count over the workload's time (at least
#     the count over the whole run's elapsed_s, which includes the set-up, and within 2x of it);
#     reads per reader = reads per second / readers;
#   - handoff and convoy --threads 2: the JSON says 2, and their role figures add up to 2
#     (handoff_producers + handoff_consumers, 1 sleeper + convoy_cpu_threads);
#   - every workload's JSON names what one operation is ("operation") and the text report prints
#     it ("one op");
#   - the report (tally bench --render of a results.json written here) opens each workload's
#     throughput table with that line and shows readmostly's roles apart, with their counts.
set -euo pipefail
tally=$1
backend=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-roles.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "roles test ($backend): FAILED: $*" >&2; exit 1; }

# value of a top-level JSON number or string member (the stress JSON is one line, flat keys)
jnum() { grep -o "\"$2\":[-0-9.e+]*" "$1" | head -n1 | cut -d: -f2; }
jstr() { grep -o "\"$2\":\"[^\"]*\"" "$1" | head -n1 | cut -d'"' -f4; }
fcmp() { awk "BEGIN { exit !($1) }"; }   # floating-point condition

"$tally" stress --backend "$backend" --workload readmostly --threads 3 --seconds 0.3 --json --quiet >"$work/rm.json" \
    || fail "readmostly run failed"
[ "$(jnum "$work/rm.json" threads)" = 3 ] || fail "readmostly: threads is not 3"
[ "$(jnum "$work/rm.json" readmostly_writers)" = 1 ] || fail "readmostly: writers is not 1"
[ "$(jnum "$work/rm.json" readmostly_readers)" = 2 ] || fail "readmostly: readers is not 2"
ops=$(jnum "$work/rm.json" ops)
reads=$(jnum "$work/rm.json" readmostly_reads)
writes=$(jnum "$work/rm.json" readmostly_writes)
[ $((reads + writes)) -eq "$ops" ] || fail "readmostly: reads $reads + writes $writes != ops $ops"
[ "$reads" -gt 0 ] && [ "$writes" -gt 0 ] || fail "readmostly: reads $reads, writes $writes: both roles must run"
el=$(jnum "$work/rm.json" elapsed_s)
rps=$(jnum "$work/rm.json" readmostly_reads_per_s)
wps=$(jnum "$work/rm.json" readmostly_writes_per_s)
rpr=$(jnum "$work/rm.json" readmostly_reads_per_s_per_reader)
fcmp "$rps >= $reads / $el * 0.999 && $rps <= 2 * $reads / $el" || fail "readmostly: reads_per_s $rps vs $reads reads in $el s"
fcmp "$wps >= $writes / $el * 0.999 && $wps <= 2 * $writes / $el" || fail "readmostly: writes_per_s $wps vs $writes writes in $el s"
fcmp "$rpr * 2 >= $rps * 0.999 && $rpr * 2 <= $rps * 1.001" || fail "readmostly: reads per reader $rpr != $rps / 2"
echo "readmostly: 1 writer ($writes writes, $wps/s), 2 readers ($reads reads, $rps/s)"

"$tally" stress --backend "$backend" --workload handoff --threads 2 --seconds 0.2 --json --quiet >"$work/ho.json" \
    || fail "handoff run failed"
[ "$(jnum "$work/ho.json" threads)" = 2 ] || fail "handoff: threads is not 2"
[ $(($(jnum "$work/ho.json" handoff_producers) + $(jnum "$work/ho.json" handoff_consumers))) -eq 2 ] \
    || fail "handoff: producers + consumers != 2"
"$tally" stress --backend "$backend" --workload convoy --threads 2 --seconds 0.2 --json --quiet >"$work/cv.json" \
    || fail "convoy run failed"
[ "$(jnum "$work/cv.json" threads)" = 2 ] || fail "convoy: threads is not 2"
[ "$(jnum "$work/cv.json" convoy_cpu_threads)" = 1 ] || fail "convoy --threads 2: not 1 CPU-bound thread beside the sleeper"
echo "handoff, convoy: --threads 2 ran 2 threads and says so"

# what one operation is: JSON and text, every workload
workloads=$("$tally" stress --help | sed -n '/^workloads:/,$p' | awk 'NR > 1 { print $1 }')
[ -n "$workloads" ] || fail "no workload list in tally stress --help"
for w in $workloads; do
    "$tally" stress --backend "$backend" --workload "$w" --threads 2 --ops 2000 --burst 1000 --json --quiet >"$work/$w.json" \
        || fail "$w: run failed"
    op=$(jstr "$work/$w.json" operation)
    [ "${#op}" -ge 10 ] || fail "$w: the JSON does not say what one operation is"
    "$tally" stress --backend "$backend" --workload "$w" --threads 2 --ops 2000 --burst 1000 --quiet >"$work/$w.txt" \
        || fail "$w: text run failed"
    grep -qF "one op                     $op" "$work/$w.txt" || fail "$w: the text report lacks 'one op  $op'"
done
grep -q "read" <<<"$(jstr "$work/readmostly.json" operation)" || fail "readmostly: the operation does not name the reads"
echo "every workload names its operation: $(echo $workloads)"

# The report: one operation per table, readmostly's roles apart with their counts.
cat >"$work/results.json" <<JSON
{"schema":"tally-bench-results","schema_version":1,"date":"test",
 "parameters":{"backends":["$backend"],"workloads":["readmostly","handoff"],"threads":[2,4]},
 "stress":[
  {"backend":"$backend","workload":"readmostly","threads":2,"crashes":0,"failures":0,"summary":{
    "ops_per_s":{"median":1100,"min":1000,"max":1200,"n":2},
    "readmostly_readers":{"median":1,"min":1,"max":1,"n":2},"readmostly_writers":{"median":1,"min":1,"max":1,"n":2},
    "readmostly_reads_per_s":{"median":1000,"min":900,"max":1100,"n":2},
    "readmostly_writes_per_s":{"median":100,"min":90,"max":110,"n":2}}},
  {"backend":"$backend","workload":"readmostly","threads":4,"crashes":0,"failures":0,"summary":{
    "ops_per_s":{"median":3050,"min":3050,"max":3050,"n":2},
    "readmostly_readers":{"median":3,"min":3,"max":3,"n":2},"readmostly_writers":{"median":1,"min":1,"max":1,"n":2},
    "readmostly_reads_per_s":{"median":3000,"min":3000,"max":3000,"n":2},
    "readmostly_writes_per_s":{"median":50,"min":50,"max":50,"n":2}}},
  {"backend":"$backend","workload":"handoff","threads":2,"crashes":0,"failures":0,"summary":{
    "ops_per_s":{"median":700,"min":700,"max":700,"n":2}}}]}
JSON
"$tally" bench --render "$work/results.json" --out "$work/report" >/dev/null 2>"$work/render.err" \
    || { cat "$work/render.err" >&2; fail "tally bench --render"; }
md=$work/report/report.md
for w in readmostly handoff; do
    op=$(jstr "$work/$w.json" operation)
    grep -qF "One operation: $op." "$md" || fail "report.md: the $w table does not say what one operation is"
done
grep -qF "| $backend | reads per second, all readers | 1000 [900–1100] (1 reader) | 3000 (3 readers) |" "$md" \
    || { grep -A8 "roles apart" "$md" >&2 || true; fail "report.md: no reads row with the reader counts"; }
grep -qF "| $backend | writes per second, the writer | 100 [90–110] (1 writer) | 50 (1 writer) |" "$md" \
    || fail "report.md: no writes row with the writer count"
if command -v gnuplot >/dev/null 2>&1; then
    [ -s "$work/report/roles_readmostly.svg" ] || fail "no roles_readmostly plot"
    grep -qF "![the roles apart vs threads, readmostly](roles_readmostly.svg)" "$md" || fail "report.md does not show the roles plot"
fi
echo "roles test ($backend): passed"
