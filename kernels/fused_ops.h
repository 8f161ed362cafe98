// The fused ops of the DiT block and the VAE: checked host entry points of kernels/cuda/*.cu. Each takes the fused
// CUDA kernel for CUDA tensors of its dtypes and otherwise (CPU, other dtypes, DITSTUDIO_DISABLE_FUSION=1) its eager
// twin, the ATen path of DiTBlockOps::eager() or eagerVaeNorm, which is also the reference the kernel checks compare
// against.
#pragma once
#include "core/models/wan_dit.h"
#include "core/models/wan_vae.h"

#include <ATen/core/Tensor.h>

namespace ditstudio::kernels {

// LayerNorm over D (no affine) · (1 + scale) + shift. x [B, L, D] (rows may be strided), shift/scale [B, 1, D] →
// [B, L, D] contiguous.
at::Tensor layerNormModulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);

// RMSNorm over D with weight [D], then the 3-D rotation (when rope is given). x [B, L, D] (rows may be strided,
// e.g. a slice of a fused QKV output) → [B, L, H, d] as a transposed view of a contiguous [B, H, L, d] buffer.
at::Tensor qkNormRope(const at::Tensor& x, const at::Tensor& weight, const RopeTable* rope, int64_t heads, double eps);

// x + gate · y. x, y [B, L, D], gate [B, 1, D] → [B, L, D].
at::Tensor gatedResidual(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y);

// ffn2(gelu_tanh(ffn0(x))) with bias + GELU(tanh) in the first GEMM's cuBLASLt epilogue on CUDA. x [B, L, D].
at::Tensor ffnGeluTanh(const at::Tensor& x, const Linear& ffn0, const Linear& ffn2);

// Concatenates q/k/v weights of every self-attention once ([3D, D], [3D]) and points q/k/v at slices of it, so that
// memory does not grow; returns the projection op that runs one GEMM (CUDA) or the three eager ones (CPU).
using QkvProjectionFn = std::function<std::array<at::Tensor, 3>(const at::Tensor&, const DiTSelfAttention&)>;
QkvProjectionFn fuseQkvWeights(WanDiT& dit);

// The fp32 cos/sin tables of a float64 RopeTable, converted once per table (cached by tensor identity).
std::pair<at::Tensor, at::Tensor> ropeTablesFloat32(const RopeTable& rope);

// The VAE's RMS norm (+SiLU), a VaeNormOp: [silu](x / max(‖x‖₂ over dim 1, 1e-12) · √C · γ). x [B, C, …], gamma [C]
// or [C, 1, …] → [B, C, …] contiguous. The kernel takes contiguous bf16/fp16/fp32 x with gamma of x's dtype; other
// inputs, and inputs that need a gradient, take eagerVaeNorm.
at::Tensor vaeRmsNormSilu(const at::Tensor& x, const at::Tensor& gamma, bool silu);

} // namespace ditstudio::kernels
