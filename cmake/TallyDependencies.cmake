# cmake/TallyDependencies.cmake - find every dependency Tally builds against (Debian packages).
#   pthreads (libc), mimalloc (libmimalloc-dev), liburcu QSBR flavour + cds (liburcu-dev),
#   googletest (libgtest-dev), Google Benchmark (libbenchmark-dev), json-c (libjson-c-dev: the
#   stress harness's --json output and everything `tally bench` reads and writes).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(mimalloc REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(URCU REQUIRED IMPORTED_TARGET liburcu-qsbr liburcu-cds)
if(TALLY_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TALLY_BUILD_BENCH OR TALLY_BUILD_STRESS)
  find_package(benchmark REQUIRED)
endif()
if(TALLY_BUILD_STRESS)
  pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c)
endif()
