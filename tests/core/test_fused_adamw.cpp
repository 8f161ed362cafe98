// The trainer's FusedAdamW (core/training/fused_adamw.h) against LibTorch's torch::optim::AdamW and
// torch::nn::utils::clip_grad_norm_ on the same parameters and gradients: the same weights after several steps with
// a changing learning rate, clipping that does and does not bite, and a parameter without a gradient in one step
// (left as it is, its state not advanced); bad parameters refused naming the index.
#include "core/training/fused_adamw.h"
#include "core/util/error.h"

// LibTorch's optimiser headers use `slots` as a method name, which Qt (in the precompiled header) defines as a macro.
#pragma push_macro("slots")
#undef slots
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#pragma pop_macro("slots")

#include <ATen/ATen.h>
#include <QtTest/QtTest>

using namespace ditstudio;
using namespace ditstudio::training;

namespace {

std::vector<at::Tensor> makeParams(uint64_t seed) {
    at::manual_seed(seed);
    return {at::randn({7, 5}).requires_grad_(true), at::randn({5}).requires_grad_(true),
            at::randn({3, 4, 2}).requires_grad_(true)};
}

double relativeError(const at::Tensor& a, const at::Tensor& b) {
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item<double>();
}

} // namespace

class FusedAdamWTest : public QObject {
    Q_OBJECT
private slots:
    void matchesLibTorchAdamW() {
        auto ours = makeParams(3);
        auto theirs = makeParams(3);
        FusedAdamW fused(ours, {.lr = 1e-2, .weightDecay = 1e-4});
        torch::optim::AdamW reference(theirs, torch::optim::AdamWOptions(1e-2).weight_decay(1e-4));
        const std::vector<double> rates = {1e-2, 5e-3, 2e-2, 1e-3, 1e-2, 3e-3};
        for (size_t step = 0; step < rates.size(); ++step) {
            at::manual_seed(100 + step);
            // Gradients large enough that clipping at 1 bites in some steps and not in others.
            const double scale = step % 2 == 0 ? 3.0 : 0.05;
            fused.zeroGrad();
            reference.zero_grad();
            for (size_t i = 0; i < ours.size(); ++i) {
                if (step == 2 && i == 1) {
                    continue; // no gradient for this parameter in this step
                }
                const at::Tensor g = at::randn(ours[i].sizes()) * scale;
                ours[i].mutable_grad() = g.clone();
                theirs[i].mutable_grad() = g.clone();
            }
            fused.setLearningRate(rates[step]);
            for (auto& group : reference.param_groups()) {
                static_cast<torch::optim::AdamWOptions&>(group.options()).lr(rates[step]);
            }
            const double norm = fused.clipGradNorm(1.0).item<double>();
            const double referenceNorm = torch::nn::utils::clip_grad_norm_(theirs, 1.0);
            QVERIFY2(std::abs(norm - referenceNorm) <= 1e-5 * referenceNorm,
                     qPrintable(QString("step %1: norm %2 vs %3").arg(step).arg(norm).arg(referenceNorm)));
            const at::Tensor before = ours[1].detach().clone();
            fused.step();
            reference.step();
            if (step == 2) {
                QVERIFY(at::equal(ours[1].detach(), before)); // no gradient: untouched
            }
            for (size_t i = 0; i < ours.size(); ++i) {
                const double err = relativeError(ours[i].detach(), theirs[i].detach());
                QVERIFY2(err < 1e-6, qPrintable(QString("step %1, parameter %2: relative error %3")
                                                     .arg(step).arg(i).arg(err)));
            }
        }
        // The weights moved (the comparison above is not between two untouched copies).
        QVERIFY(relativeError(ours[0].detach(), makeParams(3)[0].detach()) > 1e-3);
    }

    void refusesParametersItCannotUpdate() {
        try {
            FusedAdamW bad({at::randn({2}).requires_grad_(true), at::randn({2}, at::kDouble).requires_grad_(true)},
                           {});
            QFAIL("a float64 parameter was accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("parameter 1 must be a float32 tensor that requires grad"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(ConfigError, FusedAdamW({at::randn({2})}, {}));
    }
};

QTEST_GUILESS_MAIN(FusedAdamWTest)
#include "test_fused_adamw.moc"
