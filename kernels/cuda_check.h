// Errors of the kernels layer and the CUDA call check (FA's CHECK_CUDA, c10d's C10D_NCCL_CHECK): every CUDA runtime
// call and kernel launch is wrapped so that a failure throws KernelError with file:line and CUDA's own text.
#pragma once
#include "core/util/error.h"

#include <fmt/format.h>

namespace ditstudio::kernels {

// A kernel could not run (launch failure, unsupported shape, uncapturable op under CUDA graphs).
class KernelError : public Error {
public:
    using Error::Error;
};

// True unless DITSTUDIO_DISABLE_FUSION is set to a non-empty value other than 0: then every fused op takes its eager
// twin (the ATen path), for A/B checks without rebuilding.
bool isFusionEnabled();

} // namespace ditstudio::kernels

#if DITSTUDIO_HAVE_CUDA
#include <cuda_runtime_api.h>

#define DS_CUDA_CHECK(call)                                                                                        \
    do {                                                                                                           \
        const cudaError_t dsStatus_ = (call);                                                                      \
        if (dsStatus_ != cudaSuccess) {                                                                            \
            throw ::ditstudio::kernels::KernelError(fmt::format("{}:{}: {} failed: {} ({})", __FILE__, __LINE__,   \
                                                                #call, cudaGetErrorString(dsStatus_),              \
                                                                cudaGetErrorName(dsStatus_)));                     \
        }                                                                                                          \
    } while (false)
#endif
