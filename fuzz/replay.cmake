# Corpus replays as ordinary tests (included by tests/CMakeLists.txt):
# each fuzz target is also built with the normal compiler and flags
# (sanitizers too, with ARCA_SANITIZE) against arca_static, with
# fuzz/replay_main.c as main(), and one ctest per target runs it over its
# seeds fuzz/corpus/<target>/ and its reproducers fuzz/crashes/<target>-*.
include(${PROJECT_SOURCE_DIR}/fuzz/targets.cmake)
set(arca_fuzz_dir ${PROJECT_SOURCE_DIR}/fuzz)
foreach(t ${ARCA_FUZZ_TARGETS})
  add_executable(${t}_replay ${arca_fuzz_dir}/${t}.c ${arca_fuzz_dir}/replay_main.c)
  target_link_libraries(${t}_replay PRIVATE arca_static)
  target_include_directories(${t}_replay PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/guest)
  add_test(NAME ${t} COMMAND ${t}_replay ${arca_fuzz_dir}/corpus/${t}
    --only=${t}- ${arca_fuzz_dir}/crashes)
  set_tests_properties(${t} PROPERTIES TIMEOUT 600 LABELS fuzz)
endforeach()
