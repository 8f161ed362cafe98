// LayerNorm (no affine) + adaLN modulate, one pass: out = (x − μ)/σ · (1 + scale) + shift, fp32 math, one rounding.
#pragma once
#include "kernels/cuda/common.cuh"

namespace ditstudio::kernels::cuda {

struct LayerNormModulateParams {
    const void* __restrict__ x = nullptr;     // [rows, dim], row stride xRowStride
    const void* __restrict__ shift = nullptr; // [batch, dim], batch stride shiftBatchStride
    const void* __restrict__ scale = nullptr; // [batch, dim], batch stride scaleBatchStride
    void* __restrict__ out = nullptr;         // [rows, dim] contiguous
    int64_t rows = 0;               // batch · tokens
    int64_t tokens = 0;             // rows per batch item
    int64_t dim = 0;
    int64_t xRowStride = 0;
    int64_t shiftBatchStride = 0;
    int64_t scaleBatchStride = 0;
    float eps = 1e-6f;
    ElementType type = ElementType::BFloat16;
};

// cudaErrorInvalidValue when dim is too large for one block (dim > 32768, or > 4096 unaligned).
cudaError_t launchLayerNormModulate(const LayerNormModulateParams& params, cudaStream_t stream);

} // namespace ditstudio::kernels::cuda
