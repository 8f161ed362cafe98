#include "core/runtime/pipeline.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace ditstudio {

VelocityFn localGuidedVelocity(const WanDiT& dit, at::Tensor contextPositive, at::Tensor contextNegative,
                               double cfgScale) {
    const bool guided = cfgScale != 1.0;
    if (guided && !contextNegative.defined()) {
        throw ConfigError("classifier-free guidance (cfg scale ≠ 1) needs a negative context");
    }
    return [&dit, posi = std::move(contextPositive), nega = std::move(contextNegative), cfgScale,
            guided](const at::Tensor& latents, const at::Tensor& t) {
        at::Tensor vPos = dit.forward(latents, t, posi); // [1, C, F, H, W]
        if (!guided) {
            return vPos;
        }
        at::Tensor vNeg = dit.forward(latents, t, nega);
        return vNeg + cfgScale * (vPos - vNeg);
    };
}

at::Tensor StepInfo::predictedClean() const {
    return *previous - *velocity * sigma;
}

void normalizeSize(int64_t& height, int64_t& width, int64_t& numFrames) {
    if (height <= 0 || width <= 0 || numFrames <= 0) {
        throw ConfigError(fmt::format("size must be positive (height {}, width {}, frames {})", height, width,
                                      numFrames));
    }
    height = (height + 15) / 16 * 16;
    width = (width + 15) / 16 * 16;
    numFrames = (numFrames + 2) / 4 * 4 + 1; // next value ≡ 1 (mod 4)
}

std::vector<int64_t> latentShape(int64_t height, int64_t width, int64_t numFrames, int64_t latentChannels) {
    normalizeSize(height, width, numFrames);
    return {1, latentChannels, (numFrames - 1) / 4 + 1, height / 8, width / 8};
}

at::Tensor denoise(at::Tensor latents, const FlowMatchScheduler& scheduler, const VelocityFn& velocity,
                   at::ScalarType timestepDtype, const StepCallback& onStep) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const int64_t total = scheduler.steps();
    for (int64_t i = 0; i < total; ++i) {
        const auto stepStart = Clock::now();
        const float t = scheduler.timestep(i);
        // The reference converts the timestep to the pipeline dtype before the DiT (937.5 → 936 in bf16).
        at::Tensor tDit = at::full({1}, t, at::TensorOptions().dtype(at::kFloat).device(latents.device()))
                              .to(timestepDtype);
        at::Tensor v = velocity(latents, tDit).to(latents.scalar_type());
        at::Tensor previous = latents;
        latents = scheduler.step(v, i, latents);
        if (onStep) {
            if (latents.is_cuda()) {
                latents.cpu(); // synchronise so that the step time is the real one
            }
            const auto now = Clock::now();
            StepInfo info;
            info.index = i;
            info.total = total;
            info.timestep = t;
            info.stepSeconds = std::chrono::duration<double>(now - stepStart).count();
            info.elapsedSeconds = std::chrono::duration<double>(now - start).count();
            info.sigma = scheduler.sigma(i);
            info.latents = &latents;
            info.previous = &previous;
            info.velocity = &v;
            if (!onStep(info)) {
                throw CancelledError();
            }
        }
    }
    return latents;
}

} // namespace ditstudio
