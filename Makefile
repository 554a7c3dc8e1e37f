# Makefile - the README's two commands, and the steps behind them.
#   make test    set-up, build (release, asan, ubsan, tsan) and run every test suite
#   make report  set-up, build (release) and write the backend comparison to report/
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST = ctest --output-on-failure --no-tests=error -j$(JOBS)
REPORT_FLAGS ?=

.PHONY: all setup build test test-release test-asan test-ubsan test-tsan test-fuzz report quick-report install clean

all: build

setup:
	@scripts/setup-deps.sh

build: setup
	cmake --preset release >/dev/null
	cmake --build --preset release -j$(JOBS)

build-%: setup
	cmake --preset $* >/dev/null
	cmake --build --preset $* -j$(JOBS)

test-release: build
	cd build/release && $(CTEST)

test-asan: build-asan
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $(CTEST) -LE bench

test-ubsan: build-ubsan
	cd build/ubsan && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CTEST) -LE bench

# ThreadSanitizer: the threaded, collector and stress suites of every backend but racy.
# detect_deadlocks=0: fork() stops the world and then holds every collector shard lock (more
# than the 64 locks TSan's lock-order detector can track per thread); data-race detection stays on.
test-tsan: build-tsan
	cd build/tsan && TSAN_OPTIONS="halt_on_error=1 detect_deadlocks=0 suppressions=$(CURDIR)/tests/tsan.supp" \
	  $(CTEST) -L 'threads|gc|stress' -LE 'racy|bench|notsan'

# libFuzzer targets (clang, ASan; tests/fuzz/, docs/fuzzing.md): each runs TALLY_FUZZ_SECONDS
# (20 s) over the committed corpus; the build preset builds only the fuzz targets and libraries.
test-fuzz: build-fuzz
	cd build/fuzz && $(CTEST) -L fuzz

test: test-release test-asan test-ubsan test-tsan test-fuzz
	@echo "make test: release, asan, ubsan and tsan suites passed"

report: build
	build/release/stress/tally bench --out report $(REPORT_FLAGS)
	@echo "report written to report/report.md"

quick-report: build
	build/release/stress/tally bench --quick --out report

install: build
	cmake --install build/release

clean:
	rm -rf build report
