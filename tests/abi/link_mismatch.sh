#!/usr/bin/env bash
# tests/abi/link_mismatch.sh - a program compiled for one backend must not link to another's
# library (include/tally/object.h's tally_linked_backend_<name> reference).
# Usage: link_mismatch.sh CC SRC_INCLUDE BUILD_INCLUDE LIBDIR "BACKENDS" "EXTRA_FLAGS"
# For every ordered pair of backends: compiled for A, linked to libtally-A must link and run and
# name A; linked to libtally-B must fail to link, naming tally_linked_backend_A.
set -u
cc=$1 inc=$2 binc=$3 libdir=$4 backends=($5) extra=${6:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/p.c" <<'PROG'
#include <tally/tally.h>
#include <stdio.h>
int main(void)
{
    if (tally_init(NULL) != 0)
        return 1;
    tally_object *l = tally_list_new();
    tally_decref(l);
    printf("%s\n", tally_backend());
    tally_fini();
    return 0;
}
PROG
fail=0
for a in "${backends[@]}"; do
  A=$(echo "$a" | tr a-z A-Z)
  for b in "${backends[@]}"; do
    # shellcheck disable=SC2086
    out=$("$cc" $extra -DTALLY_BACKEND_$A -I"$inc" -I"$binc" "$work/p.c" -L"$libdir" -ltally-$b \
          -Wl,-rpath,"$libdir" -o "$work/p" 2>&1)
    rc=$?
    if [ "$a" = "$b" ]; then
      if [ $rc -ne 0 ]; then echo "FAIL: $a against its own library did not link: $out"; fail=1; continue; fi
      got=$("$work/p")
      [ "$got" = "$a" ] || { echo "FAIL: $a program ran and printed '$got'"; fail=1; }
    else
      if [ $rc -eq 0 ]; then echo "FAIL: compiled for $a, linked to libtally-$b"; fail=1; continue; fi
      echo "$out" | grep -q "tally_linked_backend_$a" ||
        { echo "FAIL: $a against libtally-$b failed without naming tally_linked_backend_$a: $out"; fail=1; }
    fi
    rm -f "$work/p"
  done
done
[ $fail -eq 0 ] && echo "link_mismatch: ${#backends[@]} backends, every mismatched pair refused at link time"
exit $fail
