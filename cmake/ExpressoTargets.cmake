# Helpers every area uses to register its tests and fuzz targets, so that
# adding a test never means editing a shared list.

# expresso_unit_test(NAME SOURCES file.c... LIBS target...)
# Builds a cmocka test binary and registers it with ctest under NAME.
function(expresso_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE PkgConfig::CMOCKA ${ARG_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "EXPRESSO_TEST_DATA=${PROJECT_SOURCE_DIR}/tests/data"
    TIMEOUT 120)
endfunction()

# expresso_fuzz_target(NAME SOURCES file.c... LIBS target...)
# Builds a libFuzzer binary NAME; scripts/test.sh runs every fuzz_* binary
# with tests/fuzz/corpus/NAME as its seed corpus.
function(expresso_fuzz_target name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
endfunction()
