# tests/install_tools.cmake - ctest `install_tools` (labels "install;bench"): the installed
# `tally` command line and every per-backend program it runs work from a temporary prefix, from
# another directory, with no source tree, no build tree and no LD_LIBRARY_PATH
# (tests/install/installed_tools.sh; issue 16 item 7).  "bench" keeps it out of the sanitizer
# suites (they build no benchmark programs); `make test` runs it in the release build.
# Included by tests/CMakeLists.txt (TALLY_BACKENDS, TALLY_USER_BACKENDS in scope).
if(TALLY_BUILD_STRESS AND TALLY_BUILD_BENCH AND TALLY_USER_BACKENDS AND NOT TALLY_SANITIZE)
  find_program(TALLY_BASH bash)
  string(REPLACE ";" " " _tools_backends "${TALLY_BACKENDS}")
  string(REPLACE ";" " " _tools_py_backends "${TALLY_USER_BACKENDS}")
  add_test(NAME install_tools
    COMMAND ${TALLY_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/install/installed_tools.sh
            ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} "${_tools_backends}" "${_tools_py_backends}" ${CMAKE_COMMAND})
  # RUN_SERIAL: tally bench measures; nothing else should run beside it
  set_tests_properties(install_tools PROPERTIES LABELS "install;bench" TIMEOUT 900 RUN_SERIAL TRUE)
endif()
