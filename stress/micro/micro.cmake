# stress/micro/micro.cmake - the Google Benchmark programs, one per backend.
#
# Owns: bench_rc_<backend> (bench_rc.cc: refcount, allocation, container and read-mostly rows plus
# the machine's anchors) and bench_gc_<backend> (bench_gc.cc, the collector's rows, when that file
# exists).  Each is linked with tally::<backend>, so the inline refcount fast path of that backend
# is what is measured.  They are written next to the `tally` executable, where `tally bench`
# looks for them; building `tally` builds them.  ctest runs each once, briefly (label "bench"),
# to check that every row runs to completion; the figures come from `tally bench`, which ctest
# checks end to end with stress/report/check_bench.sh.
if(NOT TALLY_BUILD_BENCH)
  return()
endif()

set(_tally_micro_dir ${CMAKE_CURRENT_LIST_DIR})
foreach(b ${TALLY_BACKENDS})
  foreach(kind rc gc)
    set(_src ${_tally_micro_dir}/bench_${kind}.cc)
    if(NOT EXISTS ${_src} OR TARGET bench_${kind}_${b})
      continue()
    endif()
    set(t bench_${kind}_${b})
    add_executable(${t} ${_src})
    target_link_libraries(${t} PRIVATE tally::${b} benchmark::benchmark Threads::Threads)
    target_compile_options(${t} PRIVATE ${TALLY_CXX_WARNINGS})
    set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    if(TARGET tally)
      add_dependencies(tally ${t})
    endif()
    if(TALLY_BUILD_TESTS)
      add_test(NAME ${t}_smoke COMMAND ${t} --benchmark_min_time=0.002)
      # bench_gc runs the CPython anchor beside its console output unless told not to.
      set_tests_properties(${t}_smoke PROPERTIES LABELS "bench;${b}" TIMEOUT 300
        ENVIRONMENT "TALLY_BENCH_NO_CPYTHON=1")
    endif()
  endforeach()
endforeach()

# bench_gc_all: every collector benchmark (docs/collector.md).
set(_tally_gc_bench_targets "")
foreach(b ${TALLY_BACKENDS})
  if(TARGET bench_gc_${b})
    list(APPEND _tally_gc_bench_targets bench_gc_${b})
  endif()
endforeach()
if(_tally_gc_bench_targets)
  add_custom_target(bench_gc_all DEPENDS ${_tally_gc_bench_targets})
endif()

if(TALLY_BUILD_TESTS AND TARGET tally)
  add_test(NAME tally_bench_check
    COMMAND sh ${_tally_micro_dir}/../report/check_bench.sh $<TARGET_FILE:tally>)
  set_tests_properties(tally_bench_check PROPERTIES LABELS "bench" TIMEOUT 300)
endif()
