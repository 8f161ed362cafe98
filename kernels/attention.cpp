#include "kernels/attention.h"

#include "core/util/error.h"
#include "kernels/autotune_cache.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#if DITSTUDIO_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#endif

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

bool attentionBackendSupports(AttentionBackend backend, at::ScalarType dtype) {
    const bool half = dtype == at::kBFloat16 || dtype == at::kHalf;
    switch (backend) {
    case AttentionBackend::CuDNN:
    case AttentionBackend::Flash:
        return half;
    default:
        return half || dtype == at::kFloat || dtype == at::kDouble;
    }
}

bool attentionOutputAgrees(const at::Tensor& candidate, const at::Tensor& reference) {
    const at::Tensor c = candidate.to(at::kFloat), r = reference.to(at::kFloat);
    if (c.sizes() != r.sizes() || !at::isfinite(c).all().item<bool>()) {
        return false;
    }
    const bool half = candidate.scalar_type() == at::kBFloat16 || candidate.scalar_type() == at::kHalf;
    const double error = ((c - r).norm() / r.norm().clamp_min(1e-30)).item<double>();
    return error <= (half ? 2e-2 : 1e-3);
}

AttentionBackend defaultAttentionBackend(const at::Tensor& q) {
    if (q.is_cuda() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf)) {
        return AttentionBackend::CuDNN;
    }
    return AttentionBackend::Auto;
}

namespace {

std::string shapeKey(const at::Tensor& q, const at::Tensor& k) {
    return fmt::format("sdpa:B{}xLq{}xLk{}xH{}xd{}", q.size(0), q.size(1), k.size(1), q.size(2), q.size(3));
}

[[maybe_unused]] bool isCapturing() {
#if DITSTUDIO_HAVE_CUDA
    return c10::cuda::currentStreamCaptureStatusMayInitCtx() != c10::cuda::CaptureStatus::None;
#else
    return false;
#endif
}

std::string gpuName(const at::Tensor& q) {
#if DITSTUDIO_HAVE_CUDA
    if (q.is_cuda()) {
        return at::cuda::getDeviceProperties(q.device().index())->name;
    }
#endif
    return "cpu";
}

} // namespace

AttentionSelector::AttentionSelector(bool autotune, AutotuneCache* cache) : autotune_(autotune), cache_(cache) {}

AttentionBackend AttentionSelector::backendFor(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    const std::string key =
        AutotuneCache::makeKey(gpuName(q), "attention", shapeKey(q, k), c10::toString(q.scalar_type()));
    {
        std::lock_guard lock(mutex_);
        auto it = chosen_.find(key);
        if (it != chosen_.end()) {
            return it->second;
        }
    }
    AttentionBackend backend = defaultAttentionBackend(q);
    if (autotune_ && q.is_cuda() && !isCapturing()) {
        const auto cached = cache_ ? cache_->lookup(key) : std::nullopt;
        if (cached && attentionBackendSupports(attentionBackendFromName(*cached), q.scalar_type())) {
            backend = attentionBackendFromName(*cached);
            spdlog::debug("autotune: {} → {} (cached)", key, *cached);
        } else {
            backend = measure(key, q, k, v); // nothing cached, or a winner of an earlier version that cannot be
        }
    }
    std::lock_guard lock(mutex_);
    chosen_[key] = backend;
    return backend;
}

AttentionBackend AttentionSelector::measure(const std::string& key, const at::Tensor& q, const at::Tensor& k,
                                            const at::Tensor& v) {
#if DITSTUDIO_HAVE_CUDA
    nlohmann::json timings = nlohmann::json::object();
    AttentionBackend best = AttentionBackend::Auto; // when no candidate runs correctly
    float bestMs = 0;
    // The correctness gate checks the first query rows only (attention is row-independent): the math backend
    // materialises the [rows × L] scores, which for every row of a 32,760-token sequence would be tens of GB.
    const int64_t rows = std::min<int64_t>(q.size(1), 256);
    const at::Tensor reference =
        attention(q.slice(1, 0, rows).to(at::kFloat), k.to(at::kFloat), v.to(at::kFloat), AttentionBackend::Math);
    for (AttentionBackend candidate :
         {AttentionBackend::CuDNN, AttentionBackend::Flash, AttentionBackend::EfficientAttention}) {
        const std::string name = attentionBackendName(candidate);
        if (!attentionBackendSupports(candidate, q.scalar_type())) {
            timings[name] = nullptr;
            continue;
        }
        try {
            // Warm-up (plan building, workspace) and the correctness gate.
            if (!attentionOutputAgrees(attention(q, k, v, candidate).slice(1, 0, rows), reference)) {
                timings[name] = nullptr;
                spdlog::warn("autotune: {} gives a wrong result for {}: not a candidate", name, key);
                continue;
            }
            std::vector<float> ms;
            for (int i = 0; i < 3; ++i) {
                at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
                start.record();
                attention(q, k, v, candidate);
                stop.record();
                stop.synchronize();
                ms.push_back(start.elapsed_time(stop));
            }
            std::sort(ms.begin(), ms.end());
            timings[name] = ms[1];
            if (bestMs == 0 || ms[1] < bestMs) {
                bestMs = ms[1];
                best = candidate;
            }
        } catch (const std::exception& e) {
            timings[name] = nullptr; // unsupported for this shape
            spdlog::debug("autotune: {} does not run {}: {}", name, key, e.what());
        }
    }
    spdlog::info("autotune: {} → {} ({})", key, attentionBackendName(best), timings.dump());
    if (cache_) {
        cache_->store(key, attentionBackendName(best), timings);
        try {
            cache_->save();
        } catch (const Error& e) {
            spdlog::warn("{}", e.what()); // the choice still holds for this process
        }
    }
    std::lock_guard lock(mutex_);
    ++measured_;
    return best;
#else
    (void)key, (void)k, (void)v;
    return defaultAttentionBackend(q);
#endif
}

at::Tensor AttentionSelector::operator()(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    const AttentionBackend backend = backendFor(q, k, v);
    if (backend == AttentionBackend::Auto || isCapturing()) {
        return attention(q, k, v, backend);
    }
    try {
        return attention(q, k, v, backend);
    } catch (const std::exception& e) {
        spdlog::warn("attention backend {} failed for q {} ({}); using auto for this shape",
                     attentionBackendName(backend), c10::str(q.sizes()), e.what());
        const std::string key =
            AutotuneCache::makeKey(gpuName(q), "attention", shapeKey(q, k), c10::toString(q.scalar_type()));
        std::lock_guard lock(mutex_);
        chosen_[key] = AttentionBackend::Auto;
    }
    return attention(q, k, v, AttentionBackend::Auto);
}

} // namespace ditstudio::kernels
