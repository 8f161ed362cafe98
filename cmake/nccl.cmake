# NCCL for c10d::ProcessGroupNCCL (parallel/, CUDA builds only). The copy the torch wheel brings
# (site-packages/nvidia/nccl) comes first: ProcessGroupNCCL's class layout depends on the NCCL version macros, so the
# header must match the library torch was built with. Else NCCL_HOME, then the system's (GPU machine: /usr/include,
# /usr/lib/x86_64-linux-gnu).
if(TARGET ditstudio::nccl)
  return()
endif()
get_filename_component(_torch_site "${DITSTUDIO_TORCH_PREFIX}/../../.." ABSOLUTE) # torch/share/cmake → site-packages
find_path(DITSTUDIO_NCCL_INCLUDE_DIR nccl.h PATHS "${_torch_site}/nvidia/nccl/include" NO_DEFAULT_PATH)
find_library(DITSTUDIO_NCCL_LIBRARY NAMES nccl libnccl.so.2 PATHS "${_torch_site}/nvidia/nccl/lib" NO_DEFAULT_PATH)
find_path(DITSTUDIO_NCCL_INCLUDE_DIR nccl.h HINTS ENV NCCL_HOME PATH_SUFFIXES include
          PATHS /usr/include /usr/local/include ${CUDAToolkit_INCLUDE_DIRS})
find_library(DITSTUDIO_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ENV NCCL_HOME PATH_SUFFIXES lib lib64
             PATHS /usr/lib/x86_64-linux-gnu /usr/local/lib)
if(NOT DITSTUDIO_NCCL_INCLUDE_DIR OR NOT DITSTUDIO_NCCL_LIBRARY)
  message(FATAL_ERROR "DITSTUDIO_CUDA=ON needs NCCL (nccl.h and libnccl): set NCCL_HOME "
                      "(found include '${DITSTUDIO_NCCL_INCLUDE_DIR}', library '${DITSTUDIO_NCCL_LIBRARY}')")
endif()
add_library(ditstudio::nccl INTERFACE IMPORTED)
target_include_directories(ditstudio::nccl INTERFACE ${DITSTUDIO_NCCL_INCLUDE_DIR})
target_link_libraries(ditstudio::nccl INTERFACE ${DITSTUDIO_NCCL_LIBRARY})
message(STATUS "NCCL: ${DITSTUDIO_NCCL_INCLUDE_DIR}/nccl.h, ${DITSTUDIO_NCCL_LIBRARY}")
