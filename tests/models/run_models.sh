#!/bin/bash
# tests/models/run_models.sh - verify the Promela models of Tally's protocols with SPIN.
#
# For every entry below: spin -a (with its -D flags) in a temporary directory, cc -O2 -DSAFETY
# pan.c, ./pan with a depth bound.  A correct model must verify with 0 errors and a complete
# search (no "Search not completed", no "max search depth too small"); a broken variant
# (-DBROKEN_<NAME>) must be rejected with errors > 0 (SPIN writes a counterexample trail; with
# -k the trails are kept and replayed with `spin -t -p`).  docs/models.md says what each model
# covers.  spin and a C compiler are required: a missing spin is a failure, not a skip.
#
# usage: tests/models/run_models.sh [-k] [-v] [filter]     (filter: a substring of the entry name)
#   -k  keep the work directory (trails, pan output) and print its path
#   -v  print pan's full output
# environment: MODELS_JOBS (entries at once, 2), MODELS_MEMLIM (MiB per pan, 1024),
#   MODELS_DEPTH (pan -m, 100000), MODELS_TIMEOUT (seconds per pan run, 300), CC
set -u
here=$(cd "$(dirname "$0")" && pwd)
keep=0 verbose=0
while getopts kv o; do
  case $o in
    k) keep=1 ;;
    v) verbose=1 ;;
    *) echo "usage: $0 [-k] [-v] [filter]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
filter=${1:-}

command -v spin >/dev/null || { echo "run_models: spin not found (Debian package spin; scripts/setup-deps.sh)" >&2; exit 1; }
CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "run_models: no C compiler ($CC)" >&2; exit 1; }

MEMLIM=${MODELS_MEMLIM:-1024}        # MiB per pan run
DEPTH=${MODELS_DEPTH:-100000}        # pan -m: far above every model's reachable depth (< 2000)
PER_RUN=${MODELS_TIMEOUT:-300}       # seconds per pan run (a loaded machine: 10x the idle time)

# name | model | spin -D flags | expect
#   ok:   verifies (0 errors, complete search)
#   fail: a broken variant, must be rejected
ENTRIES=(
  "stw                       | stw.pml | -DSTEPS=3                  | ok"
  "stw.n3                    | stw.pml | -DN=3 -DSTEPS=1            | ok"
  "stw.BROKEN_NO_COUNTDOWN   | stw.pml | -DBROKEN_NO_COUNTDOWN      | fail"
  "stw.BROKEN_ATTACH_NO_WAIT | stw.pml | -DBROKEN_ATTACH_NO_WAIT    | fail"
  "stw.BROKEN_DETACH_NO_PARK | stw.pml | -DBROKEN_DETACH_NO_PARK    | fail"
  "stw.BROKEN_NO_SIGNAL      | stw.pml | -DBROKEN_NO_SIGNAL         | fail"
  "stw.BROKEN_OWNER_NOT_PARKABLE | stw.pml | -DBROKEN_OWNER_NOT_PARKABLE | fail"
  "stw.BROKEN_RESUME_NO_LOCK | stw.pml | -DBROKEN_RESUME_NO_LOCK    | fail"
  "stw.BROKEN_RESUME_NO_LOCK.sc | stw.pml | -DBROKEN_RESUME_NO_LOCK -DNO_STORE_BUFFERS | ok"
  "qsbr                        | qsbr.pml | -DSTEPS=3                | ok"
  "qsbr.BROKEN_FREE_NOW        | qsbr.pml | -DBROKEN_FREE_NOW        | fail"
  "qsbr.BROKEN_QS_IN_READ      | qsbr.pml | -DBROKEN_QS_IN_READ      | fail"
  "qsbr.BROKEN_BATCH_REUSED    | qsbr.pml | -DBROKEN_BATCH_REUSED    | fail"
  "qsbr.BROKEN_UNREGISTERED_NOW | qsbr.pml | -DBROKEN_UNREGISTERED_NOW | fail"
  "qsbr.BROKEN_ONLINE_LATE     | qsbr.pml | -DBROKEN_ONLINE_LATE     | fail"
  "biased_queue                | biased_queue.pml | -DSTEPS=2        | ok"
  "biased_queue.BROKEN_QUEUE_SUBTRACTS | biased_queue.pml | -DBROKEN_QUEUE_SUBTRACTS | fail"
  "biased_queue.BROKEN_ZERO_LOCAL_AFTER_CAS | biased_queue.pml | -DBROKEN_ZERO_LOCAL_AFTER_CAS | fail"
  "biased_queue.BROKEN_TID_AFTER_MERGED | biased_queue.pml | -DBROKEN_TID_AFTER_MERGED | fail"
  "biased_queue.BROKEN_EXIT_UNLINK_LATE | biased_queue.pml | -DBROKEN_EXIT_UNLINK_LATE | fail"
  "biased_queue.BROKEN_DETACH_EARLY | biased_queue.pml | -DBROKEN_DETACH_EARLY | fail"
  "revival                     | revival.pml | -DREADERS=2           | ok"
  "revival.r1                  | revival.pml | -DREADERS=1           | ok"
  "revival.BROKEN_REREAD_FETCH_ADD | revival.pml | -DREADERS=2 -DBROKEN_REREAD_FETCH_ADD | fail"
  "revival.BROKEN_REREAD_FETCH_ADD.nofinalizer | revival.pml | -DREADERS=2 -DNO_FINALIZER -DBROKEN_REREAD_FETCH_ADD | fail"
  "revival.BROKEN_NO_RMW_REREAD | revival.pml | -DREADERS=1 -DBROKEN_NO_RMW_REREAD | fail"
  "revival.BROKEN_NO_RMW_REREAD.sc | revival.pml | -DREADERS=1 -DBROKEN_NO_RMW_REREAD -DNO_STORE_BUFFERS | ok"
  "revival.BROKEN_TRACK_AFTER_DROP | revival.pml | -DREADERS=1 -DBROKEN_TRACK_AFTER_DROP | fail"
  "revival.fetch_add.r1        | revival.pml | -DREADERS=1 -DBROKEN_REREAD_FETCH_ADD | ok"
  "revival.fetch_add.BROKEN_REVIVAL_ORDER | revival.pml | -DREADERS=1 -DBROKEN_REREAD_FETCH_ADD -DBROKEN_REVIVAL_ORDER | fail"
  "revival.fetch_add.BROKEN_REVIVAL_RELAXED | revival.pml | -DREADERS=1 -DBROKEN_REREAD_FETCH_ADD -DBROKEN_REVIVAL_RELAXED | fail"
  "revival.fetch_add.BROKEN_REVIVAL_RELAXED.sc | revival.pml | -DREADERS=1 -DBROKEN_REREAD_FETCH_ADD -DBROKEN_REVIVAL_RELAXED -DNO_STORE_BUFFERS | ok"
  "revival.fetch_add.BROKEN_NO_ANNOUNCE | revival.pml | -DREADERS=1 -DBROKEN_REREAD_FETCH_ADD -DBROKEN_NO_ANNOUNCE | fail"
  "queued_tryincref            | queued_tryincref.pml |               | ok"
  "queued_tryincref.BROKEN_CPYTHON_RULE | queued_tryincref.pml | -DBROKEN_CPYTHON_RULE | fail"
  "queued_tryincref.BROKEN_NO_MERGE_WAIT | queued_tryincref.pml | -DBROKEN_NO_MERGE_WAIT | fail"
  "queued_tryincref.BROKEN_NO_REREAD | queued_tryincref.pml | -DBROKEN_NO_REREAD | fail"
  "queued_tryincref.BROKEN_NO_INQ_BIT | queued_tryincref.pml | -DBROKEN_NO_INQ_BIT | fail"
  "queued_tryincref.BROKEN_UNQUEUED_PLAIN_DROP | queued_tryincref.pml | -DBROKEN_UNQUEUED_PLAIN_DROP | fail"
  "deferred                    | deferred.pml |                       | ok"
  "deferred.BROKEN_DECS_SAME_EPOCH | deferred.pml | -DBROKEN_DECS_SAME_EPOCH | fail"
  "deferred.BROKEN_NO_ZCT      | deferred.pml | -DBROKEN_NO_ZCT      | fail"
  "deferred.BROKEN_ZCT_BEFORE_INCS | deferred.pml | -DBROKEN_ZCT_BEFORE_INCS | fail"
  "deferred.BROKEN_ONE_GRACE_PERIOD | deferred.pml | -DBROKEN_ONE_GRACE_PERIOD | fail"
  "deferred.BROKEN_DETACH_NO_CUT | deferred.pml | -DBROKEN_DETACH_NO_CUT | fail"
  "deferred.late               | deferred.pml | -DLAST_STARTS_DETACHED -DSTEPS0=2 -DSTEPS=4 | ok"
  "deferred.BROKEN_EPOCH_BEFORE_DECS | deferred.pml | -DLAST_STARTS_DETACHED -DSTEPS0=2 -DSTEPS=4 -DBROKEN_EPOCH_BEFORE_DECS | fail"
)

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-models.XXXXXX")
if [ $keep = 0 ]; then trap 'rm -rf "$work"' EXIT; fi
JOBS=${MODELS_JOBS:-2}               # entries verified at once (each pan run uses one core)

# One entry: writes its verdict line to $d/verdict ("ok ..." or "FAIL ...", maybe more lines).
run_entry() {
  local name=$1 model=$2 flags=$3 expect=$4 d=$5
  local t0 t rc out errors stored depth what summary
  mkdir -p "$d"
  cp "$here/$model" "$d/"
  t0=$(date +%s%N)
  exec >"$d/verdict"
  # shellcheck disable=SC2086
  if ! (cd "$d" && spin -a $flags "$model" >spin.out 2>&1); then
    echo "FAIL $name: spin -a $flags $model"; cat "$d/spin.out"; return
  fi
  if ! (cd "$d" && "$CC" -O2 -DSAFETY -DCOLLAPSE -DMEMLIM="$MEMLIM" -o pan pan.c >cc.out 2>&1); then
    echo "FAIL $name: cc pan.c"; cat "$d/cc.out"; return
  fi
  (cd "$d" && timeout "$PER_RUN" nice ./pan -m"$DEPTH" >pan.out 2>&1)
  rc=$?
  t=$(( ($(date +%s%N) - t0) / 1000000 ))
  out="$d/pan.out"
  [ $verbose = 1 ] && cat "$out"
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | head -1)
  stored=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out" | head -1)
  depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" | head -1)
  what=$(grep -m1 -E "assertion violated|invalid end state|acceptance cycle|non-progress cycle" "$out" | sed 's/^pan:[0-9]*: *//')
  summary=$(printf "states %s, depth %s, %d.%02ds" "${stored:-?}" "${depth:-?}" $((t / 1000)) $((t % 1000 / 10)))
  if [ $rc = 124 ] || [ -z "$errors" ]; then
    echo "FAIL $name: pan did not finish (rc $rc, ${PER_RUN}s limit)"; tail -5 "$out"; return
  fi
  case $expect in
    ok)
      if [ "$errors" != 0 ]; then
        echo "FAIL $name: expected to verify, SPIN found: $what ($summary)"
        echo "     replay: cd $d && spin -t -p $flags $model   (run with -k to keep $d)"
      elif grep -q -E "Search not completed|max search depth too small|out of memory" "$out"; then
        echo "FAIL $name: search incomplete ($summary)"; grep -E "not completed|too small|memory" "$out"
      else
        echo "ok   $name: verified, 0 errors ($summary)"
      fi ;;
    *)
      if [ "$errors" = 0 ]; then
        echo "FAIL $name: broken variant NOT rejected by SPIN ($summary)"
      else
        echo "ok   $name: rejected: $what ($summary)"
      fi ;;
  esac
}

t_all=$(date +%s%N)
dirs=()
for e in "${ENTRIES[@]}"; do
  IFS='|' read -r name model flags expect <<<"$e"
  name=$(echo $name) model=$(echo $model) expect=$(echo $expect)
  flags=$(echo $flags)
  if [ -n "$filter" ] && [[ $name != *"$filter"* ]]; then continue; fi
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  run_entry "$name" "$model" "$flags" "$expect" "$work/$name" &
  dirs+=("$work/$name")
done
wait
runs=${#dirs[@]} fails=0
for d in "${dirs[@]}"; do
  cat "$d/verdict"
  grep -q '^FAIL' "$d/verdict" && fails=$((fails + 1))
done
t=$(( ($(date +%s%N) - t_all) / 1000000 ))
if [ $runs = 0 ]; then echo "run_models: no entry matches '$filter'"; exit 1; fi
[ $keep = 1 ] && echo "work directory: $work"
printf "run_models: %d runs, %d failed, %d.%02ds (%d at a time)\n" $runs $fails $((t / 1000)) $((t % 1000 / 10)) "$JOBS"
[ $fails = 0 ]
