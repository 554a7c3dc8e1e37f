#!/usr/bin/env bash
# tests/install/install_test.sh - install the build into a temporary prefix and build and run
# examples/ against it, once per user backend with pkg-config and once with find_package(tally).
#
# Usage: install_test.sh BUILD_DIR EXAMPLES_DIR "BACKENDS" CC CMAKE [EXTRA_CFLAGS]
# Registered by tests/install.cmake as the ctest test `install` (label "install").  This is the
# proof that a program outside the tree compiles and links against the installed headers and
# libraries only: the examples get no include path but the prefix's.
set -euo pipefail

build_dir=$1
examples=$2
backends=$3
cc=$4
cmake=$5
extra_cflags=${6:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/tally-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() { echo "install test: FAILED: $*" >&2; exit 1; }

"$cmake" --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; fail "cmake --install"; }

# The installed tree: headers, one library and one .pc per backend, the CMake package.
[ -f "$prefix/include/tally/tally.h" ] || fail "include/tally/tally.h not installed"
[ -f "$prefix/include/tally/version.h" ] || fail "the generated version.h is not installed"
[ -f "$prefix/include/tally/static/rc_atomic.h" ] || fail "include/tally/static/ not installed"
[ ! -e "$prefix/include/tally/internal.h" ] || fail "runtime/internal.h must not be installed"
pcdir=$(dirname "$(find "$prefix" -name "tally-*.pc" | head -n1)")
[ -d "$pcdir" ] || fail "no tally-<backend>.pc installed"
libdir=$(dirname "$pcdir")
cfgdir=$(dirname "$(find "$prefix" -name tallyConfig.cmake | head -n1)")
[ -f "$cfgdir/tallyConfig.cmake" ] || fail "tallyConfig.cmake not installed"
if ls "$libdir"/libtally-racy* >/dev/null 2>&1; then fail "the racy negative control must not be installed"; fi

# The .pc files carry the configure-time prefix; point them at the temporary one.
pkg() { PKG_CONFIG_PATH="$pcdir" pkg-config "$@"; }

run_examples() { # DIR BACKEND HOW
    local dir=$1 b=$2 how=$3
    for ex in hello threads custom_type; do
        [ -x "$dir/$ex" ] || fail "$how/$b: $ex was not built"
        # The program must load the installed library, not the build tree's, with no
        # LD_LIBRARY_PATH: its RPATH names the prefix's lib/.
        local deps
        deps=$(env -u LD_LIBRARY_PATH ldd "$dir/$ex") || fail "$how/$b: ldd $ex"
        if ! grep -qF "$libdir/libtally-$b.so" <<<"$deps"; then
            echo "$deps" >&2
            fail "$how/$b: $ex does not resolve libtally-$b from the prefix"
        fi
        local out
        if ! out=$(env -u LD_LIBRARY_PATH "$dir/$ex" 2>&1); then
            echo "$out" >&2
            fail "$how/$b: $ex exited with an error"
        fi
        grep -q "backend $b" <<<"$out" || { echo "$out" >&2; fail "$how/$b: $ex did not report backend $b"; }
        grep -q '^ok$' <<<"$out" || { echo "$out" >&2; fail "$how/$b: $ex did not finish"; }
        echo "$how/$b/$ex: $(head -n1 <<<"$out")"
    done
}

for b in $backends; do
    pkg --exists "tally-$b" || fail "pkg-config cannot find tally-$b"
    cflags=$(pkg --cflags "tally-$b")
    B=$(tr '[:lower:]' '[:upper:]' <<<"$b")
    grep -q -- "-DTALLY_BACKEND_$B=1" <<<"$cflags" || fail "tally-$b.pc does not define TALLY_BACKEND_$B ($cflags)"
    # The .pc file is relocatable (prefix from ${pcfiledir}): its include directory must resolve
    # to the prefix's, whatever the spelling.
    incdir=$(pkg --variable=includedir "tally-$b")
    [ "$(realpath -m "$incdir")" = "$(realpath -m "$prefix/include")" ] \
        || fail "tally-$b.pc include path is not the prefix's ($incdir, cflags $cflags)"

    # 1. pkg-config + make
    out=$work/pc-$b
    make -s -C "$examples" BACKEND="$b" OUT="$out" CC="$cc" CFLAGS="-O1 -g $extra_cflags" LDFLAGS="$extra_cflags" \
        PKG_CONFIG="env PKG_CONFIG_PATH=$pcdir pkg-config" \
        >"$work/make-$b.log" 2>&1 || { cat "$work/make-$b.log" >&2; fail "pkg-config/$b: make"; }
    run_examples "$out" "$b" pkg-config

    # 2. find_package(tally) + tally::<backend>
    bdir=$work/cmake-$b
    "$cmake" -S "$examples" -B "$bdir" -DCMAKE_PREFIX_PATH="$prefix" -DTALLY_BACKEND="$b" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$extra_cflags" -DCMAKE_EXE_LINKER_FLAGS="$extra_cflags" \
        -DCMAKE_BUILD_TYPE=Debug >"$work/cmake-$b.log" 2>&1 \
        || { cat "$work/cmake-$b.log" >&2; fail "find_package/$b: configure"; }
    "$cmake" --build "$bdir" >>"$work/cmake-$b.log" 2>&1 || { cat "$work/cmake-$b.log" >&2; fail "find_package/$b: build"; }
    grep -q "tally_DIR:PATH=$cfgdir" "$bdir/CMakeCache.txt" || fail "find_package/$b did not use the installed package"
    run_examples "$bdir" "$b" find_package
done
echo "install test: passed for: $backends"
