#include "core/runtime/scheduler.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

namespace ditstudio {

FlowMatchScheduler::FlowMatchScheduler(int64_t steps, double shift, double denoisingStrength) {
    if (steps < 1) {
        throw ConfigError(fmt::format("steps must be at least 1, got {}", steps));
    }
    if (!(shift > 0.0) || !std::isfinite(shift)) {
        throw ConfigError(fmt::format("shift must be a positive number, got {}", shift));
    }
    if (!(denoisingStrength > 0.0 && denoisingStrength <= 1.0)) {
        throw ConfigError(fmt::format("denoising strength must be in (0, 1], got {}", denoisingStrength));
    }
    // linspace(start, 0, N+1) in float32, evaluated as PyTorch's CPU kernel does: from the start for the first
    // half, from the end for the second half.
    const float start = static_cast<float>(denoisingStrength);
    const int64_t n = steps + 1;
    const float stepSize = (0.0f - start) / static_cast<float>(n - 1);
    const int64_t halfway = n / 2;
    sigmas_ = at::empty({steps}, at::kFloat);
    timesteps_ = at::empty({steps}, at::kFloat);
    auto* s = sigmas_.data_ptr<float>();
    auto* t = timesteps_.data_ptr<float>();
    const float shiftF = static_cast<float>(shift);
    for (int64_t i = 0; i < steps; ++i) {
        const float lin = i < halfway ? start + stepSize * static_cast<float>(i)
                                      : 0.0f - stepSize * static_cast<float>(n - 1 - i);
        const float sigma = shiftF * lin / (1.0f + (shiftF - 1.0f) * lin);
        s[i] = sigma;
        t[i] = sigma * 1000.0f;
    }
}

float FlowMatchScheduler::sigma(int64_t i) const { return sigmas_.data_ptr<float>()[i]; }

float FlowMatchScheduler::timestep(int64_t i) const { return timesteps_.data_ptr<float>()[i]; }

int64_t FlowMatchScheduler::indexOf(float timestep) const {
    const auto* t = timesteps_.data_ptr<float>();
    int64_t best = 0;
    for (int64_t i = 1; i < steps(); ++i) {
        if (std::fabs(t[i] - timestep) < std::fabs(t[best] - timestep)) {
            best = i;
        }
    }
    return best;
}

at::Tensor FlowMatchScheduler::step(const at::Tensor& v, int64_t index, const at::Tensor& x) const {
    if (index < 0 || index >= steps()) {
        throw ConfigError(fmt::format("step index {} out of range [0, {})", index, steps()));
    }
    const float sigmaNow = sigma(index);
    const float sigmaNext = index + 1 < steps() ? sigma(index + 1) : 0.0f;
    const float delta = sigmaNext - sigmaNow;
    return x + v * delta;
}

at::Tensor FlowMatchScheduler::stepAt(const at::Tensor& v, float timestep, const at::Tensor& x) const {
    return step(v, indexOf(timestep), x);
}

} // namespace ditstudio
