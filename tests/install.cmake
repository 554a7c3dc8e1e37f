# tests/install.cmake - ctest entries that check the build from the outside.
#
#  install          `cmake --install` into a temporary prefix, then build examples/ against it
#                   with pkg-config (make) and with find_package(tally) (CMake) for every user
#                   backend, and run the programs (tests/install/install_test.sh).
#  abi_link_mismatch
#                   a program compiled with TALLY_BACKEND_A fails to link to libtally-B (B != A).
#  tsan_user_program_<backend>
#                   (TSan builds) a correct outside program gets no report with the installed
#                   suppressions alone.
#  abi_header_<lang>_<backend>
#                   every public header compiles on its own as C11 and as C++17 with warnings
#                   as errors, twice (include guards), and tests/abi/header_compile.cc (the same
#                   file compiled as C and as C++) checks the object layout and runs the inline
#                   fast path of the backend against its library.
# Included by tests/CMakeLists.txt, so TALLY_BACKENDS and TALLY_USER_BACKENDS are in scope.

# Programs built from the outside against a sanitized library need the same sanitizer.
set(_tally_outside_flags "")
if(TALLY_SANITIZE)
  set(_tally_outside_flags "-fsanitize=${TALLY_SANITIZE}")
endif()

# ---- install ----------------------------------------------------------------------------------
if(TALLY_USER_BACKENDS)
  find_program(TALLY_BASH bash)
  find_program(TALLY_PKG_CONFIG pkg-config)
  find_program(TALLY_MAKE NAMES make gmake)
  if(TALLY_BASH AND TALLY_PKG_CONFIG AND TALLY_MAKE)
    string(REPLACE ";" " " _tally_user_backends "${TALLY_USER_BACKENDS}")
    add_test(NAME install
      COMMAND ${TALLY_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/install/install_test.sh
              ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}/examples "${_tally_user_backends}"
              ${CMAKE_C_COMPILER} ${CMAKE_COMMAND} "${_tally_outside_flags}")
    set_tests_properties(install PROPERTIES LABELS "install" TIMEOUT 900 RUN_SERIAL TRUE)
  else()
    message(WARNING "tests/install.cmake: bash, pkg-config or make missing; the install test is not registered")
  endif()
endif()

# ---- a program compiled for one backend does not link to another's library ---------------------
if(TALLY_BACKENDS)
  find_program(TALLY_BASH bash)
  string(REPLACE ";" " " _tally_lm_backends "${TALLY_BACKENDS}")
  add_test(NAME abi_link_mismatch
    COMMAND ${TALLY_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/abi/link_mismatch.sh ${CMAKE_C_COMPILER}
            ${CMAKE_SOURCE_DIR}/include ${CMAKE_BINARY_DIR}/include ${CMAKE_BINARY_DIR}
            "${_tally_lm_backends}" "${_tally_outside_flags}")
  set_tests_properties(abi_link_mismatch PROPERTIES LABELS "abi" TIMEOUT 300)
endif()

# ---- public headers as C and C++ ----------------------------------------------------------------
file(GLOB _tally_public_headers RELATIVE ${CMAKE_SOURCE_DIR}/include/tally CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/include/tally/*.h)
list(APPEND _tally_public_headers version.h)   # generated into the build tree
list(REMOVE_DUPLICATES _tally_public_headers)
set(_abi_dir ${CMAKE_CURRENT_BINARY_DIR}/abi)
set(_abi_c_sources ${_abi_dir}/header_compile.c)
set(_abi_cxx_sources ${CMAKE_CURRENT_SOURCE_DIR}/abi/header_compile.cc)
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/abi/header_compile.cc ${_abi_dir}/header_compile.c COPYONLY)
foreach(h ${_tally_public_headers})
  string(MAKE_C_IDENTIFIER ${h} hid)
  # Each header first in its own translation unit, included twice.
  set(_body "#include <tally/${h}>\n#include <tally/${h}>\nint tally_abi_standalone_${hid}(void);\nint tally_abi_standalone_${hid}(void) { return 0; }\n")
  file(CONFIGURE OUTPUT ${_abi_dir}/only_${hid}.c CONTENT "${_body}")
  file(CONFIGURE OUTPUT ${_abi_dir}/only_${hid}.cc CONTENT "extern \"C\" {\n${_body}}\n")
  list(APPEND _abi_c_sources ${_abi_dir}/only_${hid}.c)
  list(APPEND _abi_cxx_sources ${_abi_dir}/only_${hid}.cc)
endforeach()

foreach(b ${TALLY_BACKENDS})
  foreach(lang c cxx)
    set(t abi_header_${lang}_${b})
    add_executable(${t} ${_abi_${lang}_sources})
    target_link_libraries(${t} PRIVATE tally::${b} Threads::Threads)
    if(lang STREQUAL "c")
      set_target_properties(${t} PROPERTIES C_STANDARD 11 C_EXTENSIONS OFF)
      target_compile_options(${t} PRIVATE -Wall -Wextra -Werror -Wpedantic -Wstrict-prototypes -Wshadow)
    else()
      set_target_properties(${t} PROPERTIES CXX_STANDARD 17 CXX_EXTENSIONS OFF)
      target_compile_options(${t} PRIVATE -Wall -Wextra -Werror -Wshadow)
    endif()
    add_test(NAME ${t} COMMAND ${t})
    set_tests_properties(${t} PROPERTIES LABELS "abi;${b}" ENVIRONMENT "TALLY_EXPECT_BACKEND=${b}")
  endforeach()
endforeach()

# ---- a correct user program under ThreadSanitizer gets no report -----------------------------------
# TSan builds only: tests/tsan_user/user_program.c, compiled from the outside against each user
# backend's library, runs with nothing but the installed suppressions (liburcu's own code).
if(TALLY_SANITIZE STREQUAL "thread")
  foreach(b ${TALLY_USER_BACKENDS})
    add_test(NAME tsan_user_program_${b}
      COMMAND ${TALLY_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/tsan_user/run.sh ${CMAKE_C_COMPILER}
              ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR} ${b})
    set_tests_properties(tsan_user_program_${b} PROPERTIES LABELS "threads;${b}" TIMEOUT 600)
  endforeach()
endif()
