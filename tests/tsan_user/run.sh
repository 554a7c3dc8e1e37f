#!/usr/bin/env bash
# tests/tsan_user/run.sh - build tests/tsan_user/user_program.c as an outside program with
# -fsanitize=thread against one backend's library of a TSan build, and run it with only the
# suppressions Tally installs (tests/tsan.supp -> share/tally/tsan.supp): any report fails.
# Usage: run.sh CC SRC_DIR BUILD_DIR BACKEND
set -u
cc=$1 src=$2 build=$3 b=$4
B=$(echo "$b" | tr a-z A-Z)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cc" -fsanitize=thread -g -O1 -DTALLY_BACKEND_$B -I"$src/include" -I"$build/include" \
    "$src/tests/tsan_user/user_program.c" -L"$build" -ltally-$b -Wl,-rpath,"$build" -lpthread \
    -o "$work/prog" || { echo "FAIL: the user program did not build"; exit 1; }
TSAN_OPTIONS="halt_on_error=1 exitcode=66 detect_deadlocks=0 suppressions=$src/tests/tsan.supp" "$work/prog"
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: the user program on $b exited $rc (66: a ThreadSanitizer report)"; exit 1; }
