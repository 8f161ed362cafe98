// Gated residual add: out = x + gate · y, fp32 math, one rounding (the eager path rounds gate·y first).
#pragma once
#include "kernels/cuda/common.cuh"

namespace ditstudio::kernels::cuda {

struct GatedResidualParams {
    const void* __restrict__ x = nullptr;    // [rows, dim] contiguous
    const void* __restrict__ gate = nullptr; // [batch, dim], batch stride gateBatchStride
    const void* __restrict__ y = nullptr;    // [rows, dim] contiguous
    void* __restrict__ out = nullptr;        // [rows, dim] contiguous
    int64_t rows = 0;              // batch · tokens
    int64_t tokens = 0;
    int64_t dim = 0;
    int64_t gateBatchStride = 0;
    ElementType type = ElementType::BFloat16;
};

cudaError_t launchGatedResidual(const GatedResidualParams& params, cudaStream_t stream);

} // namespace ditstudio::kernels::cuda
