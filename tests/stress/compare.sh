#!/bin/sh
# tests/stress/compare.sh - ctest stress_bench_compare: `tally bench --compare` on two fixtures.
#
# Owns: the checks of the comparison's contract (stress/bench/bench_compare.c) against
# compare_a.json and compare_b.json beside this script, two small results.json files whose
# differences are known: target status changes listed first, regressions (met -> missed) before
# improvements; only figures present in both runs with a finite median in both; sorted by the
# size of the change; the --threshold (default 5%) hiding smaller changes; the Mann-Whitney U
# test (5 separated runs against 5: p = 2/252 = 0.008, significant; 5 overlapping runs: p =
# 0.222; 3 against 3: never significant, and said so); bad arguments exit 2 naming the value.
# Usage: compare.sh path/to/tally
set -u
tally=$1
dir=$(dirname "$0")
a=$dir/compare_a.json
b=$dir/compare_b.json
out=$(mktemp -d "${TMPDIR:-/tmp}/tally-compare.XXXXXX")
trap 'rm -rf "$out"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# line number of the first line matching a fixed string (0 when absent)
line_of() { grep -n -F -- "$1" "$2" | head -1 | cut -d: -f1 | grep . || echo 0; }

"$tally" bench --compare "$a" "$b" >"$out/cmp" 2>"$out/err"
rc=$?
[ $rc -eq 0 ] || bad "--compare A B: exit $rc: $(cat "$out/err")"
cat "$out/cmp"

# targets: changed ones only, regressions first, before any figure
reg=$(line_of "t_regressed" "$out/cmp"); imp=$(line_of "t_improved" "$out/cmp")
nm=$(line_of "t_measured" "$out/cmp"); figs=$(line_of "Figures whose median changed" "$out/cmp")
[ "$reg" -gt 0 ] || bad "the target that went met -> missed is not listed"
grep -q "met *-> missed *t_regressed" "$out/cmp" || bad "t_regressed is not shown as met -> missed"
grep -q "missed *-> met *t_improved" "$out/cmp" || bad "t_improved is not shown as missed -> met"
[ "$reg" -gt 0 ] && [ "$imp" -gt "$reg" ] || bad "met -> missed must come before missed -> met"
[ "$nm" -gt "$imp" ] || bad "other status changes (not measured -> met) come after the two kinds"
[ "$figs" -gt "$nm" ] || bad "target status changes must come before the figures"
for t in t_same t_only_in_a t_only_in_b; do
    grep -q "$t" "$out/cmp" && bad "target $t did not change status in both runs but is listed"
done

# figures: in both, finite, at least 5%, largest change first
expect_order="micro/gil/zero/ns_per_op micro/gil/rc/pair_own/ns_per_op stress/atomic/hammer/t2/ops_per_s
stress/atomic/cycles/t2/ops_per_s stress/atomic/private/t1/ops_per_s"
prev=0
for id in $expect_order; do
    n=$(line_of "$id " "$out/cmp")
    [ "$n" -gt "$prev" ] || bad "figure $id missing or out of order (line $n after line $prev)"
    prev=$n
done
for id in micro/gil/only_in_a micro/gil/only_in_b gc/gil/full/ns_per_object micro/gil/unchanged \
          micro/gil/anchor/plain_incdec; do
    grep -q "^$id" "$out/cmp" && bad "figure $id must not be listed at the default 5% threshold"
done
grep -q "5 of the 8 in both runs (changed less: 2; without a finite median in one run: 1" "$out/cmp" ||
    bad "the counts of figures in both, below the threshold and not finite are wrong"
grep -q "^micro/gil/zero/ns_per_op .* from 0 " "$out/cmp" || bad "a change from 0 is not shown as 'from 0'"
grep -q "^micro/gil/rc/pair_own/ns_per_op .* +50.0%  -$" "$out/cmp" ||
    bad "a microbenchmark figure (no runs) must show its change and no U test"
grep -q "^stress/atomic/hammer/t2/ops_per_s .* -20.0%  p=0.008 (5, 5) significant$" "$out/cmp" ||
    bad "separated runs: expected p=0.008 (5, 5) significant"
grep -q "^stress/atomic/private/t1/ops_per_s .* +7.0%  p=0.222 (5, 5) not significant$" "$out/cmp" ||
    bad "overlapping runs: expected p=0.222 (5, 5) not significant"
grep -q "^stress/atomic/cycles/t2/ops_per_s .* (3, 3) not significant (too few runs)$" "$out/cmp" ||
    bad "3 runs against 3 must be called too few for significance"

# --threshold 1 lists the 2% change too, last
"$tally" bench --compare "$a" "$b" --threshold 1 >"$out/cmp1" 2>&1 || bad "--threshold 1 failed"
grep -q "^micro/gil/anchor/plain_incdec/ns_per_op .* +2.0%" "$out/cmp1" || bad "--threshold 1 does not list the 2% change"
[ "$(grep -v '^$' "$out/cmp1" | grep '%' | tail -1 | cut -d' ' -f1)" = "micro/gil/anchor/plain_incdec/ns_per_op" ] ||
    bad "--threshold 1: the smallest change must be listed last"

# a file against itself: nothing changed
"$tally" bench --compare "$a" "$a" >"$out/self" 2>&1 || bad "--compare A A failed"
grep -q "none (of 5 targets in both)" "$out/self" || bad "--compare A A lists a target change"
grep -q "changed by 5% or more: 0 of the 9 in both runs" "$out/self" || bad "--compare A A lists a figure"

# bad arguments: exit 2, one line naming the value
expect_2() {
    what=$1; shift
    "$tally" bench "$@" >"$out/o" 2>"$out/e"
    rc=$?
    [ $rc -eq 2 ] || bad "tally bench $*: exit $rc, expected 2"
    grep -q -F -- "$what" "$out/e" || bad "tally bench $*: the error does not name '$what': $(cat "$out/e")"
    [ "$(wc -l <"$out/e")" -eq 1 ] || bad "tally bench $*: expected one line on stderr: $(cat "$out/e")"
}
expect_2 "$out/missing.json" --compare "$a" "$out/missing.json"
printf '{"schema": "x"}\n' >"$out/nofig.json"
expect_2 "not a tally bench results.json" --compare "$out/nofig.json" "$b"
printf '{"figures": [1,\n' >"$out/broken.json"
expect_2 "$out/broken.json" --compare "$a" "$out/broken.json"
expect_2 "invalid value '-1' for --threshold" --compare "$a" "$b" --threshold -1
expect_2 "--threshold" --threshold 3

[ $fail -eq 0 ] && echo "tally bench --compare checks passed"
exit $fail
