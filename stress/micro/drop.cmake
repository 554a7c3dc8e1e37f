# stress/micro/drop.cmake - the plain-C programs of stress/micro: bench_drop_<backend> (bench_drop.c): the time to drop a 10M-element
# list and a 1M-deep chain of lists with one decref, alone and with a second attached thread
# (issue 13).  A plain C program on the public API, linked like an outside user's, written next
# to `tally`; ctest runs it once per backend on small sizes (label "bench") to check that it
# runs and frees everything.
foreach(b ${TALLY_BACKENDS})
  set(t bench_drop_${b})
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/bench_drop.c)
  target_compile_options(${t} PRIVATE ${TALLY_WARNINGS})
  target_link_libraries(${t} PRIVATE tally::${b} Threads::Threads)
  set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  if(TALLY_BUILD_TESTS)
    add_test(NAME ${t}_smoke COMMAND ${t} --list 20000 --chain 20000 --reps 1)
    set_tests_properties(${t}_smoke PROPERTIES LABELS "bench;${b}" TIMEOUT 300)
  endif()
endforeach()

# bench_rss_<backend> (bench_rss.c): RSS before 50M small objects are built, after they are
# freed and collected, and 100 ms later, with 1 and 2 threads (issue 13; `tally bench` reports
# it).  ctest runs it once per backend on 2M objects: it must free everything.
foreach(b ${TALLY_BACKENDS})
  set(t bench_rss_${b})
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/bench_rss.c)
  target_compile_options(${t} PRIVATE ${TALLY_WARNINGS})
  target_link_libraries(${t} PRIVATE tally::${b} Threads::Threads)
  set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  if(TALLY_BUILD_TESTS)
    add_test(NAME ${t}_smoke COMMAND ${t} --objects 2000000 --threads 2)
    set_tests_properties(${t}_smoke PROPERTIES LABELS "bench;${b}" TIMEOUT 300)
  endif()
endforeach()
