# The fuzz targets: fuzz/<name>.c each defines LLVMFuzzerTestOneInput.
# Shared by fuzz/CMakeLists.txt (libFuzzer builds) and fuzz/replay.cmake
# (corpus replays in the normal build).
set(ARCA_FUZZ_TARGETS fuzz_manifest fuzz_record fuzz_artifact_rec fuzz_env_rec fuzz_chunker fuzz_ref fuzz_pack fuzz_layout fuzz_rpack fuzz_agent)
# needs libarchive (ARCA_WITH_BUNDLE)
if(ARCA_WITH_BUNDLE)
  list(APPEND ARCA_FUZZ_TARGETS fuzz_bundle)
endif()
# needs libcurl (ARCA_WITH_S3)
if(ARCA_WITH_S3)
  list(APPEND ARCA_FUZZ_TARGETS fuzz_s3)
endif()
