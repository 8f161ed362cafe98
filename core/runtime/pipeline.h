// The text-to-video denoising loop of Wan 2.1 (spec §7.2) over given text embeddings: seeded noise → N Euler
// steps of the flow-matching scheduler with classifier-free guidance → VAE decode. Where the velocity comes
// from is a `VelocityFn`, so that sequence parallelism and CFG parallelism (parallel/) plug in without the loop
// knowing; `localGuidedVelocity` is the single-process form.
#pragma once
#include "core/models/wan_dit.h"
#include "core/runtime/scheduler.h"

#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>
#include <vector>

namespace ditstudio {

class WanVAE;
struct TileSettings;

// latents [1, 16, F, H, W], timestep [1] (in the model dtype, as the reference feeds it) → guided velocity.
using VelocityFn = std::function<at::Tensor(const at::Tensor& latents, const at::Tensor& timestep)>;

// v = v⁻ + cfg·(v⁺ − v⁻) (exactly this association); one DiT call when cfg == 1.
VelocityFn localGuidedVelocity(const WanDiT& dit, at::Tensor contextPositive, at::Tensor contextNegative,
                               double cfgScale);

struct StepInfo {
    int64_t index = 0; // 0-based step just finished
    int64_t total = 0;
    float timestep = 0;
    double stepSeconds = 0;
    double elapsedSeconds = 0;
    float sigma = 0;                      // σ of this step
    const at::Tensor* latents = nullptr;  // x after this step
    const at::Tensor* previous = nullptr; // x_t before this step
    const at::Tensor* velocity = nullptr; // the guided velocity v of this step
    // The predicted clean latent x0 = x_t − σ·v: what the video is becoming (live previews show this).
    at::Tensor predictedClean() const;
};
// Called after every step; return false to cancel (the loop throws CancelledError within that step).
using StepCallback = std::function<bool(const StepInfo&)>;

struct DenoiseSettings {
    int64_t steps = 50;
    double shift = 5.0;
    double denoisingStrength = 1.0;
};

class CancelledError : public std::runtime_error {
public:
    CancelledError() : std::runtime_error("cancelled") {}
};

// Latent shape of a request: (1, 16, (frames−1)/4 + 1, height/8, width/8); the pipeline's size rules (height and
// width rounded up to multiples of 16, frames to 4k+1) are applied by `normalizeSize`.
std::vector<int64_t> latentShape(int64_t height, int64_t width, int64_t numFrames, int64_t latentChannels = 16);
void normalizeSize(int64_t& height, int64_t& width, int64_t& numFrames);

// Runs the loop from `latents` (the seeded noise) and returns the final latents. The DiT's timestep is
// scheduler.timesteps[i] converted to `timestepDtype`; the Euler step uses the float32 value.
at::Tensor denoise(at::Tensor latents, const FlowMatchScheduler& scheduler, const VelocityFn& velocity,
                   at::ScalarType timestepDtype, const StepCallback& onStep = {});

} // namespace ditstudio
