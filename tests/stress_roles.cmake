# tests/stress_roles.cmake - ctest stress_roles_<backend> (labels "stress;<backend>"): the
# figures of the two-role workloads say what ran, every workload says what one operation is, and
# the report shows readmostly's readers and writer apart (tests/stress/roles.sh; issue 16 item
# 12).  Every backend but racy (whose readmostly containers break by design).  Included by
# tests/CMakeLists.txt.
if(TALLY_BUILD_STRESS)
  find_program(TALLY_BASH bash)
  foreach(b ${TALLY_BACKENDS})
    if(b STREQUAL "racy")
      continue()
    endif()
    add_test(NAME stress_roles_${b}
      COMMAND ${TALLY_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/stress/roles.sh $<TARGET_FILE:tally> ${b})
    set_tests_properties(stress_roles_${b} PROPERTIES LABELS "stress;${b}" TIMEOUT 300)
  endforeach()
endif()
