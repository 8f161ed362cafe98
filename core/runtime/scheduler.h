// The flow-matching scheduler of Wan 2.1 ("Wan" template of DiffSynth's FlowMatchScheduler):
// sigmas = shift·s / (1 + (shift−1)·s) over linspace(strength, 0, N+1)[:-1], timesteps = sigma·1000, Euler step.
#pragma once
#include <ATen/core/Tensor.h>

namespace ditstudio {

class FlowMatchScheduler {
public:
    // steps ≥ 1, shift > 0, 0 < denoisingStrength ≤ 1; throws ConfigError otherwise.
    FlowMatchScheduler(int64_t steps, double shift = 5.0, double denoisingStrength = 1.0);

    const at::Tensor& sigmas() const { return sigmas_; }       // [N] float32
    const at::Tensor& timesteps() const { return timesteps_; } // [N] float32
    int64_t steps() const { return sigmas_.size(0); }
    float sigma(int64_t i) const;
    float timestep(int64_t i) const;

    // x_next = x + v·(σ_{i+1} − σ_i), σ_N := 0; computed in the dtype of x.
    at::Tensor step(const at::Tensor& v, int64_t index, const at::Tensor& x) const;
    // The reference's step(model_output, timestep, sample): index = argmin |timesteps − t| (first on ties).
    at::Tensor stepAt(const at::Tensor& v, float timestep, const at::Tensor& x) const;
    int64_t indexOf(float timestep) const;

private:
    at::Tensor sigmas_;
    at::Tensor timesteps_;
};

} // namespace ditstudio
