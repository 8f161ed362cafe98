// The Wan VAE's RMS norm, optionally followed by SiLU, in one pass over a channel-first tensor:
//   out[b, c, s] = [silu](x[b, c, s] / max(‖x[b, :, s]‖₂, 1e-12) · √C · γ[c])
// for x viewed as [batch, channels, positions] (positions: the product of the trailing dims, T·H·W or H·W). fp32
// math (beyond 512 channels fp64 sums of squares), one rounding (the eager path rounds the norm, the quotient, each
// product and the SiLU to the element type). bf16, fp16 and fp32; any channel and position count, 64-bit offsets (a
// whole decoder level holds > 2^31 elements).
#pragma once
#include "kernels/cuda/common.cuh"

namespace ditstudio::kernels::cuda {

struct VaeNormParams {
    const void* __restrict__ x = nullptr;     // [batch, channels, positions] contiguous
    const void* __restrict__ gamma = nullptr; // [channels]
    void* __restrict__ out = nullptr;         // [batch, channels, positions] contiguous
    int64_t batch = 0;
    int64_t channels = 0;
    int64_t positions = 0;
    bool silu = false;
    ElementType type = ElementType::BFloat16;
};

// cudaErrorInvalidValue for negative sizes; an empty tensor launches nothing.
cudaError_t launchVaeNorm(const VaeNormParams& params, cudaStream_t stream);

} // namespace ditstudio::kernels::cuda
