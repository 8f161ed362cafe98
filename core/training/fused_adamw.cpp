#include "core/training/fused_adamw.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

namespace ditstudio::training {

FusedAdamW::FusedAdamW(std::vector<at::Tensor> params, Options options)
    : params_(std::move(params)), state_(params_.size()), options_(options) {
    for (size_t i = 0; i < params_.size(); ++i) {
        const at::Tensor& p = params_[i];
        if (!p.defined() || !p.requires_grad() || p.scalar_type() != at::kFloat ||
            p.device() != params_.front().device()) {
            throw ConfigError(fmt::format("FusedAdamW: parameter {} must be a float32 tensor that requires grad, on {} "
                                          "like the first", i, params_.front().device().str()));
        }
    }
}

void FusedAdamW::zeroGrad() {
    for (auto& p : params_) {
        p.mutable_grad().reset();
    }
}

at::Tensor FusedAdamW::clipGradNorm(double maxNorm) {
    std::vector<at::Tensor> grads;
    for (const auto& p : params_) {
        if (p.grad().defined()) {
            grads.push_back(p.grad());
        }
    }
    if (grads.empty()) {
        return at::zeros({}, params_.empty() ? at::TensorOptions() : params_.front().options());
    }
    const at::Tensor total = at::stack(at::_foreach_norm(grads, 2)).norm();
    const at::Tensor coefficient = at::clamp_max(maxNorm / (total + 1e-6), 1.0);
    at::_foreach_mul_(grads, coefficient);
    return total;
}

void FusedAdamW::step() {
    std::vector<at::Tensor> params, grads, expAvg, expAvgSq, steps;
    for (size_t i = 0; i < params_.size(); ++i) {
        const at::Tensor& p = params_[i];
        if (!p.grad().defined()) {
            continue;
        }
        State& s = state_[i];
        if (!s.step.defined()) {
            s.expAvg = at::zeros_like(p, at::MemoryFormat::Preserve);
            s.expAvgSq = at::zeros_like(p, at::MemoryFormat::Preserve);
            s.step = at::zeros({}, p.options());
        }
        params.push_back(p.detach());
        grads.push_back(p.grad());
        expAvg.push_back(s.expAvg);
        expAvgSq.push_back(s.expAvgSq);
        steps.push_back(s.step);
    }
    if (params.empty()) {
        return;
    }
    at::NoGradGuard noGrad;
    at::_foreach_add_(steps, 1); // the kernel reads the step count; incrementing it is the caller's part
    at::_fused_adamw_(params, grads, expAvg, expAvgSq, {}, steps, options_.lr, options_.beta1, options_.beta2,
                      options_.weightDecay, options_.eps, /*amsgrad=*/false, /*maximize=*/false);
}

} // namespace ditstudio::training
