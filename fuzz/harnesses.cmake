# The libFuzzer harnesses, one source of truth: fuzz/CMakeLists.txt builds
# them (and writes the list to BUILD/fuzz/harnesses.txt for fuzz/run.sh),
# tests/mutate.cmake builds each as a plain regression test.
set(OD_FUZZ_HARNESSES fuzz_header fuzz_apply fuzz_lzma fuzz_inflate fuzz_roundtrip fuzz_srv)
