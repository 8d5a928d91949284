# Runs a test's command and checks more than CTest's PASS_REGULAR_EXPRESSION can (which ignores
# the exit code) or SKIP_REGULAR_EXPRESSION (which wins even over a failure):
#   cmake "-DCOMMAND=<program>;<arg>..." [-DEXPECT=<regex>] [-DSKIP_IF=<regex>] [-DREQUIRES=<file>]
#         -P run_checked.cmake
# Fails when the command exits nonzero or its output does not match EXPECT. When it passed and
# its output matches SKIP_IF, prints "byol-test-skipped" last, for the test's
# SKIP_REGULAR_EXPRESSION: a failed run is never reported as skipped. When the file REQUIRES
# (the data the command reads) does not exist, the command is not run and the test is skipped.
if(DEFINED REQUIRES AND NOT EXISTS "${REQUIRES}")
  # cmake_language(EXIT) needs CMake 3.29 (Debian 12 has 3.25): the marker alone ends this path.
  message("${REQUIRES} does not exist: byol-test-skipped")
  return()
endif()
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exited with ${rc}")
endif()
if(DEFINED EXPECT AND NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "the output does not match '${EXPECT}'")
endif()
if(DEFINED SKIP_IF AND "${out}${err}" MATCHES "${SKIP_IF}")
  message("byol-test-skipped: the output matches '${SKIP_IF}'")
endif()
