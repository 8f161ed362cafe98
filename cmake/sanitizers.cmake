# DITSTUDIO_SANITIZE=address,undefined | thread: instruments the project's own code.
if(DITSTUDIO_SANITIZE)
  add_compile_options(-fsanitize=${DITSTUDIO_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${DITSTUDIO_SANITIZE})
endif()

# DITSTUDIO_FUZZ: the libFuzzer targets of tests/fuzz (clang only). Everything is built with coverage
# instrumentation and ASan + UBSan (UBSan aborts, so libFuzzer records the input); LibTorch stays uninstrumented.
option(DITSTUDIO_FUZZ "Build the libFuzzer targets in tests/fuzz (clang: CC=clang CXX=clang++)" OFF)
if(DITSTUDIO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DITSTUDIO_FUZZ needs clang (libFuzzer): configure with CC=clang CXX=clang++")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()
