#include "kernels/attention.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace ditstudio::kernels {

namespace {
struct Entry {
    AttentionBackend backend;
    const char* name;
};
constexpr Entry kBackends[] = {{AttentionBackend::Auto, "auto"},
                               {AttentionBackend::Math, "math"},
                               {AttentionBackend::Flash, "flash"},
                               {AttentionBackend::EfficientAttention, "efficient"},
                               {AttentionBackend::CuDNN, "cudnn"}};
} // namespace

AttentionBackend attentionBackendFromName(const std::string& name) {
    for (const auto& e : kBackends) {
        if (name == e.name) {
            return e.backend;
        }
    }
    throw ConfigError(fmt::format("unknown attention backend '{}' (expected auto, math, flash, efficient or cudnn)",
                                  name));
}

std::string attentionBackendName(AttentionBackend backend) {
    for (const auto& e : kBackends) {
        if (backend == e.backend) {
            return e.name;
        }
    }
    return "auto";
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, AttentionBackend backend) {
    TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "q, k and v must be [B, L, H, d]");
    TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
                "query, key and value must have the same dtype");
    at::Tensor qt = q.transpose(1, 2), kt = k.transpose(1, 2), vt = v.transpose(1, 2); // [B, H, L, d]
    at::Tensor out;
    switch (backend) {
    case AttentionBackend::Auto:
        out = at::scaled_dot_product_attention(qt, kt, vt);
        break;
    case AttentionBackend::Math:
        out = std::get<0>(at::_scaled_dot_product_attention_math(qt, kt, vt));
        break;
    case AttentionBackend::Flash:
        out = std::get<0>(at::_scaled_dot_product_flash_attention(qt, kt, vt));
        break;
    case AttentionBackend::EfficientAttention:
        out = std::get<0>(at::_scaled_dot_product_efficient_attention(qt, kt, vt, {}, false));
        break;
    case AttentionBackend::CuDNN:
        out = std::get<0>(at::_scaled_dot_product_cudnn_attention(qt, kt, vt, {}, false));
        break;
    }
    return out.transpose(1, 2);
}

} // namespace ditstudio::kernels
