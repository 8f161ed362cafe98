// AdamW for the trainer: ATen's multi-tensor fused kernel (_fused_adamw_: the update of every parameter in a few
// launches on CUDA, one vectorised loop on the CPU) and gradient-norm clipping that never reads the norm back to the
// host (torch::nn::utils::clip_grad_norm_ does, once per call: the CPU then waits for the GPU every step and cannot
// queue the next one ahead). The update is torch::optim::AdamW's: decoupled weight decay, bias-corrected moments
// (tests/core/test_fused_adamw.cpp compares the two). The optimiser state is not saved: a resumed run starts it
// afresh, as the trainer always has.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

namespace ditstudio::training {

class FusedAdamW {
public:
    struct Options {
        double lr = 1e-3;
        double weightDecay = 1e-2;
        double beta1 = 0.9;
        double beta2 = 0.999;
        double eps = 1e-8;
    };
    // `params`: leaf tensors of one device and dtype (float32), requires_grad. ConfigError otherwise.
    FusedAdamW(std::vector<at::Tensor> params, Options options);

    void setLearningRate(double lr) { options_.lr = lr; }
    double learningRate() const { return options_.lr; }
    // Drops every gradient (the next backward allocates them afresh).
    void zeroGrad();
    // Scales the gradients in place so that their global L2 norm is at most maxNorm; returns that norm before
    // scaling, as a device scalar (reading it is the caller's choice: it waits for the device).
    at::Tensor clipGradNorm(double maxNorm);
    // One AdamW step for the parameters that have a gradient (the others keep their values and state).
    void step();

private:
    struct State {
        at::Tensor expAvg, expAvgSq, step; // step: a float32 scalar on the parameter's device, as the kernel wants
    };
    std::vector<at::Tensor> params_;
    std::vector<State> state_;
    Options options_;
};

} // namespace ditstudio::training
