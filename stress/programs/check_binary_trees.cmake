# stress/programs/check_binary_trees.cmake - the ctest check of one tally-binary-trees-<backend>.
#
# Owns: `cmake -DPROGRAM=<tally-binary-trees-B> -DSCRIPT=<binary_trees.py> [-DDEPTH=8] -P ...`:
#  - the lines the program must print at DEPTH, computed here from the shape (node counts);
#  - when python3 is found, binary_trees.py's output at DEPTH, which must equal those lines;
#  - the program with --threads 1 and --threads 2: exit status 0 and exactly those lines; with
#    --json as well: the lines, then one JSON object naming the backend, depth and threads;
#  - bad arguments: exit status 2 and a message naming the bad value and the accepted range.
if(NOT PROGRAM OR NOT SCRIPT)
  message(FATAL_ERROR "check_binary_trees.cmake: pass -DPROGRAM=<executable> -DSCRIPT=<binary_trees.py>")
endif()
if(NOT DEPTH)
  set(DEPTH 8)
endif()

# Expected lines: check = number of nodes = 2^(d+1) - 1 per tree.
set(min_depth 4)
math(EXPR stretch "${DEPTH} + 1")
math(EXPR n "(1 << (${stretch} + 1)) - 1")
set(expected "stretch tree of depth ${stretch}\t check: ${n}\n")
set(total_nodes ${n})   # every node is one allocation
foreach(d RANGE ${min_depth} ${DEPTH} 2)
  math(EXPR iters "1 << (${DEPTH} - ${d} + ${min_depth})")
  math(EXPR check "${iters} * ((1 << (${d} + 1)) - 1)")
  string(APPEND expected "${iters}\t trees of depth ${d}\t check: ${check}\n")
  math(EXPR total_nodes "${total_nodes} + ${check}")
endforeach()
math(EXPR n "(1 << (${DEPTH} + 1)) - 1")
string(APPEND expected "long lived tree of depth ${DEPTH}\t check: ${n}\n")
math(EXPR total_nodes "${total_nodes} + ${n}")

find_program(PYTHON3 python3)
if(PYTHON3)
  execute_process(COMMAND ${PYTHON3} ${SCRIPT} --depth ${DEPTH}
    RESULT_VARIABLE rc OUTPUT_VARIABLE py ERROR_VARIABLE err TIMEOUT 300)
  if(NOT rc EQUAL 0 OR NOT py STREQUAL expected)
    message(FATAL_ERROR "binary_trees.py --depth ${DEPTH}: exit ${rc}\n${py}${err}\nexpected:\n${expected}")
  endif()
  set(reference "${py}")
  message(STATUS "ok: python3 binary_trees.py --depth ${DEPTH} prints the expected lines")
else()
  set(reference "${expected}")
  message(STATUS "python3 not found: comparing with the lines computed here")
endif()

get_filename_component(name ${PROGRAM} NAME)
string(REGEX REPLACE "^tally-binary-trees-" "" backend "${name}")
foreach(threads 1 2)
  execute_process(COMMAND ${PROGRAM} --depth ${DEPTH} --threads ${threads}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL reference)
    message(FATAL_ERROR "${name} --depth ${DEPTH} --threads ${threads}: exit ${rc}\n${out}${err}\nexpected:\n${reference}")
  endif()
  message(STATUS "ok: ${name} --depth ${DEPTH} --threads ${threads}")
  execute_process(COMMAND ${PROGRAM} --depth ${DEPTH} --threads ${threads} --json
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
  string(FIND "${out}" "{" start)
  if(NOT rc EQUAL 0 OR start EQUAL -1)
    message(FATAL_ERROR "${name} --json: exit ${rc}, no JSON object\n${out}${err}")
  endif()
  string(SUBSTRING "${out}" 0 ${start} lines)
  string(SUBSTRING "${out}" ${start} -1 json)
  if(NOT lines STREQUAL reference)
    message(FATAL_ERROR "${name} --json: the lines before the JSON object differ:\n${lines}")
  endif()
  foreach(key backend depth threads checks_ok wall_s)
    string(JSON v${key} ERROR_VARIABLE jerr GET "${json}" ${key})
    if(jerr)
      message(FATAL_ERROR "${name} --json: ${jerr}\n${json}")
    endif()
  endforeach()
  # The collector's figures are there (at depth 8 no collection needs to run: a young collection
  # is due when 2000 more objects are alive than at the last one, and no tree of depth <= 9 has
  # that many nodes); every node was one allocation of the runtime.
  string(JSON collections ERROR_VARIABLE jerr GET "${json}" gc collections)
  string(JSON allocated ERROR_VARIABLE jerr2 GET "${json}" alloc allocated)
  if(NOT vbackend STREQUAL backend OR NOT vdepth EQUAL DEPTH OR NOT vthreads EQUAL threads
     OR NOT vchecks_ok STREQUAL "ON" OR jerr OR jerr2 OR NOT collections MATCHES "^[0-9]+$"
     OR allocated LESS total_nodes)
    message(FATAL_ERROR "${name} --json: wrong fields (backend ${vbackend}, depth ${vdepth}, threads "
                        "${vthreads}, checks_ok ${vchecks_ok}, collections ${collections}, allocated "
                        "${allocated} of at least ${total_nodes} ${jerr} ${jerr2}):\n${json}")
  endif()
  message(STATUS "ok: ${name} --depth ${DEPTH} --threads ${threads} --json (${allocated} objects allocated, "
                 "${total_nodes} nodes, ${collections} collections)")
endforeach()

# Bad arguments: status 2, the bad value and the accepted range named.
foreach(case "--depth;5;invalid value '5' for --depth: expected an integer from 6 to 22"
             "--depth;x;invalid value 'x' for --depth: expected an integer from 6 to 22"
             "--threads;0;invalid value '0' for --threads: expected an integer from 1 to 64"
             "--depth;missing value for --depth: expected an integer from 6 to 22"
             "--bogus;unknown option '--bogus': accepted options are --depth N (6 to 22)")
  list(POP_BACK case text)
  execute_process(COMMAND ${PROGRAM} ${case} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  string(FIND "${err}" "${text}" pos)
  if(NOT rc EQUAL 2 OR pos EQUAL -1)
    message(FATAL_ERROR "${name} ${case}: exit ${rc}, expected 2 and '${text}' on stderr:\n${out}${err}")
  endif()
  string(REPLACE ";" " " shown "${case}")
  message(STATUS "ok: ${name} ${shown} -> 2")
endforeach()
