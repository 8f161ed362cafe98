#include "kernels/fused_ops.h"

#include "kernels/cuda_check.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>

#if DITSTUDIO_HAVE_CUDA
#include "kernels/cuda/gated_residual.cuh"
#include "kernels/cuda/layernorm_modulate.cuh"
#include "kernels/cuda/rmsnorm_rope.cuh"
#include "kernels/cuda/vae_norm.cuh"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace ditstudio::kernels {

bool isFusionEnabled() {
    static const bool enabled = [] {
        const char* value = std::getenv("DITSTUDIO_DISABLE_FUSION");
        const bool disabled = value && *value && std::string(value) != "0";
        if (disabled) {
            spdlog::info("DITSTUDIO_DISABLE_FUSION is set: fused kernels take their eager ATen twins");
        }
        return !disabled;
    }();
    return enabled;
}

namespace {

const DiTBlockOps& eager() {
    static const DiTBlockOps ops = DiTBlockOps::eager();
    return ops;
}

// The fused CUDA kernel applies: a CUDA tensor of a kernel's element type, fusion not disabled.
bool takesFusedKernel(const at::Tensor& x) {
#if DITSTUDIO_HAVE_CUDA
    return isFusionEnabled() && x.is_cuda() &&
           (x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kFloat);
#else
    (void)x;
    return false;
#endif
}

#if DITSTUDIO_HAVE_CUDA
cuda::ElementType elementType(const at::Tensor& x) {
    switch (x.scalar_type()) {
    case at::kBFloat16:
        return cuda::ElementType::BFloat16;
    case at::kHalf:
        return cuda::ElementType::Float16;
    default:
        return cuda::ElementType::Float32;
    }
}

// shift/scale/gate [B, 1, D] (chunks of [B, 6, D]): channels contiguous, any batch stride.
void checkModulation(const at::Tensor& m, const char* name, const at::Tensor& x) {
    TORCH_CHECK(m.dim() == 3 && m.size(1) == 1 && m.size(2) == x.size(2) && (m.size(0) == x.size(0) || m.size(0) == 1),
                name, " must be [B, 1, D] matching x ", x.sizes(), ", got ", m.sizes());
    TORCH_CHECK(m.stride(2) == 1, name, " must have contiguous channels");
    TORCH_CHECK(m.scalar_type() == x.scalar_type(), name, " and x must have the same dtype");
    TORCH_CHECK(m.device() == x.device(), name, " and x must be on the same device");
}

int64_t batchStride(const at::Tensor& m) { return m.size(0) == 1 ? 0 : m.stride(0); }
#endif

} // namespace

at::Tensor layerNormModulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
    if (!takesFusedKernel(x)) {
        return eager().layerNormModulate(x, shift, scale, eps);
    }
#if DITSTUDIO_HAVE_CUDA
    TORCH_CHECK(x.dim() == 3, "x must be [B, L, D], got ", x.sizes());
    checkModulation(shift, "shift", x);
    checkModulation(scale, "scale", x);
    const at::Tensor xr = x.stride(2) == 1 && x.stride(0) == x.size(1) * x.stride(1) ? x : x.contiguous();
    const c10::cuda::CUDAGuard guard(x.device());
    at::Tensor out = at::empty(x.sizes(), x.options()); // [B, L, D]
    cuda::LayerNormModulateParams p;
    p.x = xr.data_ptr();
    p.shift = shift.data_ptr();
    p.scale = scale.data_ptr();
    p.out = out.data_ptr();
    p.rows = x.size(0) * x.size(1);
    p.tokens = x.size(1);
    p.dim = x.size(2);
    p.xRowStride = xr.stride(1);
    p.shiftBatchStride = batchStride(shift);
    p.scaleBatchStride = batchStride(scale);
    p.eps = static_cast<float>(eps);
    p.type = elementType(x);
    DS_CUDA_CHECK(cuda::launchLayerNormModulate(p, at::cuda::getCurrentCUDAStream()));
    return out;
#else
    return eager().layerNormModulate(x, shift, scale, eps);
#endif
}

std::pair<at::Tensor, at::Tensor> ropeTablesFloat32(const RopeTable& rope) {
    struct Entry {
        at::Tensor cos, sin, cosF, sinF;
    };
    static std::mutex mutex;
    static std::vector<Entry> entries; // guarded by mutex; the newest last, at most kEntries
    constexpr size_t kEntries = 8;
    std::lock_guard lock(mutex);
    for (const auto& e : entries) {
        if (e.cos.is_same(rope.cos) && e.sin.is_same(rope.sin)) {
            return {e.cosF, e.sinF};
        }
    }
    Entry e{rope.cos, rope.sin, rope.cos.to(at::kFloat).contiguous(), rope.sin.to(at::kFloat).contiguous()};
    if (entries.size() == kEntries) {
        entries.erase(entries.begin());
    }
    entries.push_back(e);
    return {e.cosF, e.sinF};
}

at::Tensor qkNormRope(const at::Tensor& x, const at::Tensor& weight, const RopeTable* rope, int64_t heads,
                      double eps) {
    if (!takesFusedKernel(x)) {
        return eager().qkNormRope(x, weight, rope, heads, eps);
    }
#if DITSTUDIO_HAVE_CUDA
    TORCH_CHECK(x.dim() == 3 && x.stride(2) == 1, "x must be [B, L, D] with contiguous channels, got ", x.sizes(),
                " strides ", x.strides());
    const int64_t B = x.size(0), L = x.size(1), D = x.size(2);
    TORCH_CHECK(heads > 0 && D % heads == 0 && (D / heads) % 2 == 0, "dim ", D, " must split into ", heads,
                " heads of even size");
    TORCH_CHECK(weight.dim() == 1 && weight.size(0) == D && weight.is_contiguous(), "weight must be [", D, "], got ",
                weight.sizes());
    TORCH_CHECK(weight.scalar_type() == x.scalar_type(), "weight and x must have the same dtype");
    const int64_t d = D / heads;
    const c10::cuda::CUDAGuard guard(x.device());
    at::Tensor out = at::empty({B, heads, L, d}, x.options()); // [B, H, L, d]
    cuda::RmsNormRopeParams p;
    at::Tensor cosF, sinF;
    if (rope) {
        std::tie(cosF, sinF) = ropeTablesFloat32(*rope); // [L, d/2] each
        TORCH_CHECK(cosF.dim() == 2 && cosF.size(0) == L && cosF.size(1) == d / 2 && sinF.sizes() == cosF.sizes(),
                    "rope tables must be [", L, ", ", d / 2, "], got ", cosF.sizes());
        TORCH_CHECK(cosF.device() == x.device(), "rope tables and x must be on the same device");
        p.cos = cosF.data_ptr<float>();
        p.sin = sinF.data_ptr<float>();
    }
    p.x = x.data_ptr();
    p.weight = weight.data_ptr();
    p.out = out.data_ptr();
    p.batch = B;
    p.tokens = L;
    p.dim = D;
    p.heads = heads;
    p.headDim = d;
    p.xBatchStride = x.stride(0);
    p.xRowStride = x.stride(1);
    p.eps = static_cast<float>(eps);
    p.type = elementType(x);
    DS_CUDA_CHECK(cuda::launchRmsNormRope(p, at::cuda::getCurrentCUDAStream()));
    return out.transpose(1, 2); // [B, L, H, d] view of [B, H, L, d]
#else
    return eager().qkNormRope(x, weight, rope, heads, eps);
#endif
}

at::Tensor gatedResidual(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y) {
    if (!takesFusedKernel(x) || x.sizes() != y.sizes() || x.scalar_type() != y.scalar_type()) {
        return eager().gatedResidual(x, gate, y);
    }
#if DITSTUDIO_HAVE_CUDA
    TORCH_CHECK(x.dim() == 3, "x must be [B, L, D], got ", x.sizes());
    checkModulation(gate, "gate", x);
    const at::Tensor xc = x.contiguous(), yc = y.contiguous();
    const c10::cuda::CUDAGuard guard(x.device());
    at::Tensor out = at::empty(x.sizes(), x.options()); // [B, L, D]
    cuda::GatedResidualParams p;
    p.x = xc.data_ptr();
    p.y = yc.data_ptr();
    p.gate = gate.data_ptr();
    p.out = out.data_ptr();
    p.rows = x.size(0) * x.size(1);
    p.tokens = x.size(1);
    p.dim = x.size(2);
    p.gateBatchStride = batchStride(gate);
    p.type = elementType(x);
    DS_CUDA_CHECK(cuda::launchGatedResidual(p, at::cuda::getCurrentCUDAStream()));
    return out;
#else
    return eager().gatedResidual(x, gate, y);
#endif
}

at::Tensor ffnGeluTanh(const at::Tensor& x, const Linear& ffn0, const Linear& ffn2) {
    if (!takesFusedKernel(x) || !ffn0.bias.defined()) {
        return eager().ffnGeluTanh(x, ffn0, ffn2);
    }
    // bias + GELU(tanh) run in the GEMM's epilogue (cuBLASLt GELU_BIAS) where ATen's Lt path takes the shapes.
    const at::Tensor x2 = x.reshape({-1, x.size(-1)});                                            // [B·L, D]
    at::Tensor h = at::_addmm_activation(ffn0.bias, x2, ffn0.weight.t(), 1, 1, /*use_gelu=*/true); // [B·L, F]
    at::Tensor out = at::linear(h, ffn2.weight, ffn2.bias);                                      // [B·L, D]
    auto sizes = x.sizes().vec();
    sizes.back() = out.size(-1);
    return out.view(sizes); // [B, L, D]
}

at::Tensor vaeRmsNormSilu(const at::Tensor& x, const at::Tensor& gamma, bool silu) {
#if DITSTUDIO_HAVE_CUDA
    const auto type = x.scalar_type();
    const bool needsGradient = c10::GradMode::is_enabled() && (x.requires_grad() || gamma.requires_grad());
    const bool fused = isFusionEnabled() && x.is_cuda() && x.dim() >= 2 && x.is_contiguous() && !needsGradient &&
                       (type == at::kBFloat16 || type == at::kHalf || type == at::kFloat) &&
                       gamma.scalar_type() == type;
    if (fused) {
        const int64_t B = x.size(0), C = x.size(1);
        TORCH_CHECK(gamma.dim() >= 1 && gamma.numel() == C && gamma.size(0) == C, "gamma must be [", C, "] or [", C,
                    ", 1, …] for x ", x.sizes(), ", got ", gamma.sizes());
        TORCH_CHECK(gamma.device() == x.device(), "gamma and x must be on the same device");
        const at::Tensor g = gamma.contiguous(); // [C]
        const c10::cuda::CUDAGuard guard(x.device());
        at::Tensor out = at::empty(x.sizes(), x.options()); // [B, C, …] contiguous
        cuda::VaeNormParams p;
        p.x = x.data_ptr();
        p.gamma = g.data_ptr();
        p.out = out.data_ptr();
        p.batch = B;
        p.channels = C;
        p.positions = 1;
        for (int64_t d = 2; d < x.dim(); ++d) {
            p.positions *= x.size(d); // T·H·W or H·W
        }
        p.silu = silu;
        p.type = elementType(x);
        DS_CUDA_CHECK(cuda::launchVaeNorm(p, at::cuda::getCurrentCUDAStream()));
        return out;
    }
#endif
    return eagerVaeNorm(x, gamma, silu);
}

QkvProjectionFn fuseQkvWeights(WanDiT& dit) {
    struct Fused {
        at::Tensor weight, bias; // [3D, D], [3D]
    };
    auto fused = std::make_shared<std::unordered_map<const DiTSelfAttention*, Fused>>();
    for (auto& block : dit.blocks()) {
        auto& a = block.selfAttn;
        if (!a.q.bias.defined() || !a.k.bias.defined() || !a.v.bias.defined()) {
            continue;
        }
        const int64_t D = a.q.weight.size(0);
        Fused f{at::cat({a.q.weight, a.k.weight, a.v.weight}, 0), at::cat({a.q.bias, a.k.bias, a.v.bias}, 0)};
        a.q.weight = f.weight.narrow(0, 0, D); // the eager twin reads the same memory
        a.k.weight = f.weight.narrow(0, D, D);
        a.v.weight = f.weight.narrow(0, 2 * D, D);
        a.q.bias = f.bias.narrow(0, 0, D);
        a.k.bias = f.bias.narrow(0, D, D);
        a.v.bias = f.bias.narrow(0, 2 * D, D);
        (*fused)[&a] = f;
    }
    return [fused](const at::Tensor& x, const DiTSelfAttention& attn) {
        auto it = fused->find(&attn);
        if (it == fused->end() || !takesFusedKernel(x)) {
            return eager().qkvProjection(x, attn);
        }
        const int64_t D = attn.q.weight.size(0);
        at::Tensor y = at::linear(x, it->second.weight, it->second.bias); // [B, L, 3D]
        return std::array<at::Tensor, 3>{y.narrow(-1, 0, D), y.narrow(-1, D, D), y.narrow(-1, 2 * D, D)};
    };
}

} // namespace ditstudio::kernels
