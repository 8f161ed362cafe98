// q/k RMSNorm over the whole model dim + 3-D RoPE, written straight into the attention layout [B, H, L, d].
//
// Rounding follows the reference where it rounds: the normalised value is rounded to the element type, multiplied
// by the weight and rounded again (DiffSynth's RMSNorm), then rotated. The rotation runs in fp32 from fp32 cos/sin
// tables, where the reference rotates in float64 and rounds once: the two differ by rounding only (the fp32 table
// entries and the fp32 products), at most one unit in the last place of a bf16 output in rare ties; the kernel check
// (kernels/kernel_check.cpp, "rmsnorm_rope") measures it against the float64 path.
#pragma once
#include "kernels/cuda/common.cuh"

namespace ditstudio::kernels::cuda {

struct RmsNormRopeParams {
    const void* __restrict__ x = nullptr;      // [batch, tokens, dim]; rows may be strided (a slice of a fused QKV output)
    const void* __restrict__ weight = nullptr; // [dim]
    const float* __restrict__ cos = nullptr;   // [tokens, headDim/2] fp32, or null: no rotation
    const float* __restrict__ sin = nullptr;   // [tokens, headDim/2] fp32
    void* __restrict__ out = nullptr;          // [batch, heads, tokens, headDim] contiguous
    int64_t batch = 0;
    int64_t tokens = 0;
    int64_t dim = 0;
    int64_t heads = 0;
    int64_t headDim = 0;
    int64_t xBatchStride = 0;
    int64_t xRowStride = 0;
    float eps = 1e-6f;
    ElementType type = ElementType::BFloat16;
};

// cudaErrorInvalidValue for an odd head dim or a dim too large for one block.
cudaError_t launchRmsNormRope(const RmsNormRopeParams& params, cudaStream_t stream);

} // namespace ditstudio::kernels::cuda
