// Attention backend selection for the DiT's self-attention (scaled dot-product, no mask, scale 1/sqrt(d)).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace ditstudio::kernels {

enum class AttentionBackend { Auto, Math, Flash, EfficientAttention, CuDNN };

AttentionBackend attentionBackendFromName(const std::string& name); // throws ConfigError listing the names
std::string attentionBackendName(AttentionBackend backend);

// q, k, v [B, L, H, d] → [B, L, H, d].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, AttentionBackend backend);

} // namespace ditstudio::kernels
