#!/bin/bash
# tests/stress/cli_faults.sh - ctest stress_cli_<case>: what the `tally` command line does when it
# is interrupted, when its output is lost, and with --ops / --threads at the edges (issue 15
# item 9).  Each case failed before the fix that it checks.
#
# Usage: cli_faults.sh path/to/tally CASE, CASE one of
#   sigint         tally stress stopped by SIGINT: the report (JSON, "interrupted": true), exit 130
#   sigterm        the same for SIGTERM: the report, exit 143
#   forkcow_sigint SIGINT while forkcow waits for its children: no EINTR failure, exit 130
#   output         --json, the text report, --help and --version to /dev/full: a message on
#                  stderr and exit status 4 (was 0 and nothing)
#   bench_sigint   SIGINT to `tally bench` while a benchmark child runs: the child (in its own
#                  process group) is gone, results.json and report.md are written and say
#                  interrupted, exit 130 (the child ran on and the output folder stayed empty)
#   graph_ops      --ops N on graph does N operations in all (it did N / threads); on convoy the
#                  CPU-bound threads do N (they did N - N / threads)
#   min_threads    --threads 1 on convoy, handoff and readmostly is refused naming the minimum
#                  (they ran 2 threads while the JSON said 1)
# The processes a case starts are stopped by their process id on the way out.
set -u
tally=$1
case_=$2
out=$(mktemp -d "${TMPDIR:-/tmp}/tally-cli-faults.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$out"
}
trap cleanup EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Start a command in the background with SIGINT and SIGTERM at their default actions (a shell
# script's background jobs ignore SIGINT), as from an interactive shell.
start() {
    env --default-signal=INT,TERM "$@" >"$out/stdout" 2>"$out/stderr" &
    pid=$!
    pids+=("$pid")
}
# wait for $pid at most $1 seconds; rc in $rc (124 when it did not end)
wait_for() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        rc=124
    else
        wait "$pid"
        rc=$?
    fi
}
# wait (at most $2 seconds) until process $1 catches signal $3 (its handler is installed): a
# signal sent before that would end it by the default action, whatever the code under test does
wait_handler() {
    local i mask
    for ((i = 0; i < $2 * 10; i++)); do
        mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
        [ -n "$mask" ] && (( (16#$mask >> ($3 - 1)) & 1 )) && return 0
        sleep 0.1
    done
    return 1
}
json_get() {   # json_get FILE KEY: the value of a top-level key of the last JSON line
    python3 -c 'import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
print(json.loads(lines[-1]).get(sys.argv[2]) if lines else "NO-JSON")' "$1" "$2"
}

signal_case() {   # signal_case SIGNAL EXPECTED_RC workload [args]
    local sig=$1 want=$2
    shift 2
    start "$tally" stress --backend atomic --workload "$@" --seconds 30 --json --quiet
    wait_handler "$pid" 30 "$(kill -l "$sig")" || bad "SIG$sig: the run installed no handler in 30 s"
    sleep 1.5   # into the run (forkcow: into its rounds of children)
    kill -"$sig" "$pid"
    wait_for 60
    [ "$rc" -eq "$want" ] || bad "SIG$sig: exit status $rc, expected $want; stderr: $(tail -3 "$out/stderr")"
    [ "$(json_get "$out/stdout" interrupted)" = "True" ] ||
        bad "SIG$sig: no report saying \"interrupted\": true on stdout: $(head -c 300 "$out/stdout")"
    grep -q "EINTR\|Interrupted system call\|a child failed" "$out/stderr" &&
        bad "SIG$sig: a wait failed on the signal: $(cat "$out/stderr")"
}

case "$case_" in
sigint)
    signal_case INT 130 hammer --threads 2
    ;;
sigterm)
    signal_case TERM 143 hammer --threads 2
    # the text report says it too
    start "$tally" stress --backend atomic --workload private --threads 2 --seconds 30 --quiet
    wait_handler "$pid" 30 15 || bad "SIGTERM (text): the run installed no handler in 30 s"
    sleep 1
    kill -TERM "$pid"
    wait_for 60
    [ "$rc" -eq 143 ] || bad "SIGTERM (text): exit status $rc, expected 143"
    grep -q "INTERRUPTED by SIGTERM" "$out/stdout" || bad "SIGTERM (text): the report does not say INTERRUPTED by SIGTERM"
    ;;
forkcow_sigint)
    signal_case INT 130 forkcow --threads 2 --objects 100000
    ;;
output)
    expect_output_error() {
        "$tally" "$@" >/dev/full 2>"$out/stderr"
        rc=$?
        [ "$rc" -eq 4 ] || bad "tally $* >/dev/full: exit status $rc, expected 4"
        grep -q "cannot write the output: No space left on device" "$out/stderr" ||
            bad "tally $* >/dev/full: stderr does not say so: $(cat "$out/stderr")"
    }
    expect_output_error stress --backend atomic --workload private --threads 1 --seconds 0.1 --json
    expect_output_error stress --backend atomic --workload private --threads 1 --seconds 0.1
    expect_output_error stress --help
    expect_output_error --help
    expect_output_error --version
    expect_output_error bench --help
    # and nothing changes when the output is written
    "$tally" stress --backend atomic --workload private --threads 1 --seconds 0.1 --json >"$out/ok" 2>&1 ||
        bad "a clean run to a file failed: $(cat "$out/ok")"
    ;;
bench_sigint)
    start "$tally" bench --backends gil --workloads hammer --threads 1 --reps 1 --seconds 20 --out "$out/r"
    # wait for a child of tally bench (a benchmark, the CPython anchor or tally stress)
    child=""
    for ((i = 0; i < 300; i++)); do
        child=$(ps -o pid= --ppid "$pid" | head -1 | tr -d ' ')
        [ -n "$child" ] && break
        sleep 0.1
    done
    [ -n "$child" ] || bad "tally bench started no child in 30 s"
    # the handler is installed before the first child; a SIGINT before it would end tally bench by
    # the default action (what the previous binary always did)
    sleep 1
    child=$(ps -o pid= --ppid "$pid" | head -1 | tr -d ' ')
    child_cmd=$(ps -o args= -p "$child" 2>/dev/null)
    [ -n "$child" ] && pids+=("$child")
    kill -INT "$pid"
    wait_for 60
    [ "$rc" -eq 130 ] || bad "tally bench after SIGINT: exit status $rc, expected 130; $(tail -3 "$out/stderr")"
    sleep 0.5
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        bad "the benchmark child $child ($child_cmd) still runs after tally bench was interrupted"
    fi
    [ -s "$out/r/results.json" ] || bad "no results.json after the interruption (ls: $(ls "$out/r" 2>&1))"
    [ -s "$out/r/report.md" ] || bad "no report.md after the interruption"
    [ "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("interrupted"))' "$out/r/results.json" 2>&1)" = "SIGINT" ] ||
        bad "results.json does not say \"interrupted\": \"SIGINT\""
    grep -q "INTERRUPTED" "$out/r/report.md" || bad "report.md does not say the run was interrupted"
    ;;
graph_ops)
    for t in 1 3 4; do
        "$tally" stress --backend atomic --workload graph --threads $t --ops 20000 --json --quiet >"$out/g" 2>&1 ||
            bad "graph --threads $t --ops 20000 failed: $(tail -3 "$out/g")"
        [ "$(json_get "$out/g" ops)" = "20000" ] ||
            bad "graph --threads $t --ops 20000 did $(json_get "$out/g" ops) operations, expected 20000"
        [ "$(json_get "$out/g" ops_requested)" = "20000" ] || bad "graph: ops_requested is not 20000"
    done
    # convoy: the CPU-bound threads do N in all (they did N / threads each, the sleeper's share
    # unused); the sleeper's wake-ups are counted on top
    for t in 2 4; do
        "$tally" stress --backend atomic --workload convoy --threads $t --ops 20000 --json --quiet >"$out/c" 2>&1 ||
            bad "convoy --threads $t --ops 20000 failed: $(tail -3 "$out/c")"
        cpu=$(python3 -c 'import json, sys; d = json.loads(open(sys.argv[1]).read()); print(d["ops"] - d["convoy_wakeups"])' "$out/c")
        [ "$cpu" = "20000" ] || bad "convoy --threads $t --ops 20000: the CPU-bound threads did $cpu operations"
    done
    ;;
min_threads)
    for w in convoy handoff readmostly; do
        "$tally" stress --backend atomic --workload $w --threads 1 --seconds 0.1 --json >"$out/o" 2>"$out/e"
        rc=$?
        [ "$rc" -eq 2 ] || bad "$w --threads 1: exit status $rc, expected 2 (refused)"
        grep -q "invalid value '1' for --threads: workload $w needs .* accepted values are 2 to 1024" "$out/e" ||
            bad "$w --threads 1: the error does not name the value and the minimum: $(cat "$out/e")"
        [ -s "$out/o" ] && bad "$w --threads 1: printed a report: $(head -c 200 "$out/o")"
        "$tally" stress --backend atomic --workload $w --threads 2 --seconds 0.1 --json --quiet >"$out/o" 2>&1 ||
            bad "$w --threads 2 failed: $(tail -3 "$out/o")"
        [ "$(json_get "$out/o" threads)" = "2" ] || bad "$w --threads 2: the JSON says $(json_get "$out/o" threads) threads"
    done
    # the other workloads still run one thread
    "$tally" stress --backend atomic --workload private --threads 1 --seconds 0.1 --json --quiet >"$out/o" 2>&1 ||
        bad "private --threads 1 failed"
    ;;
*)
    echo "cli_faults.sh: unknown case '$case_'"
    exit 2
    ;;
esac
[ $fail -eq 0 ] && echo "stress_cli_$case_ passed"
exit $fail
