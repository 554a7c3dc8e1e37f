# collector/bench.cmake - the collector's benchmark targets (included by stress/CMakeLists.txt).
#
# Owns: bench_gc_<backend> when stress/micro/micro.cmake has not defined it already (it builds
# every stress/micro/bench_*.cc), and `bench_gc_all`, which builds all of them.  Each binary runs
# stress/anchors/cpython_gc.py with python3 after its rows and prints CPython's figures beside
# its own (stderr; skipped with --benchmark_format=json or TALLY_BENCH_NO_CPYTHON=1).
if(NOT TALLY_BUILD_BENCH)
  return()
endif()
set(_tally_gc_bench_targets "")
foreach(b ${TALLY_BACKENDS})
  set(t bench_gc_${b})
  if(NOT TARGET ${t})
    add_executable(${t} ${CMAKE_SOURCE_DIR}/stress/micro/bench_gc.cc)
    target_link_libraries(${t} PRIVATE tally::${b} benchmark::benchmark Threads::Threads)
    target_compile_options(${t} PRIVATE ${TALLY_CXX_WARNINGS})
  endif()
  list(APPEND _tally_gc_bench_targets ${t})
endforeach()
if(_tally_gc_bench_targets AND NOT TARGET bench_gc_all)
  add_custom_target(bench_gc_all DEPENDS ${_tally_gc_bench_targets})
endif()
