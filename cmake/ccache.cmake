# ccache, when installed, for every compiler the project uses.
find_program(DITSTUDIO_CCACHE ccache)
if(DITSTUDIO_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${DITSTUDIO_CCACHE}")
  set(CMAKE_C_COMPILER_LAUNCHER "${DITSTUDIO_CCACHE}")
  set(CMAKE_CUDA_COMPILER_LAUNCHER "${DITSTUDIO_CCACHE}")
endif()
