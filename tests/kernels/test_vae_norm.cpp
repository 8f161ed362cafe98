// The VAE's norm op on the CPU (CI has no GPU): kernels::vaeRmsNormSilu's eager fallback equals the formula in
// float64 (all-zero columns included) and the eager twin for inputs the kernel does not take; the VAE runs every
// norm through its installed op; with kernels::vaeRmsNormSilu installed, golden vae_tiny decodes and encodes exactly
// as the eager VAE. The CUDA kernel itself is checked on the GPU (kernels/kernel_check.cpp, label gpu).
#include "core/io/weight_source.h"
#include "core/models/wan_vae.h"
#include "kernels/fused_ops.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <cmath>

using namespace ditstudio;

namespace {

const std::string kWeights = std::string(DITSTUDIO_GOLDEN_DIR) + "/vae_tiny.weights.safetensors";

// The definition, in float64: [silu](x / max(‖x‖₂ over dim 1, 1e-12) · √C · γ).
at::Tensor formula(const at::Tensor& x, const at::Tensor& gamma, bool silu) {
    const at::Tensor xd = x.to(at::kDouble), gd = gamma.to(at::kDouble);
    const at::Tensor norm = (xd * xd).sum(1, true).sqrt().clamp_min(1e-12); // [B, 1, …]
    const at::Tensor y = xd / norm * std::sqrt(static_cast<double>(x.size(1))) * gd;
    return silu ? y / (1 + at::exp(-y)) : y;
}

} // namespace

class VaeNormTest : public QObject {
    Q_OBJECT
private slots:
    void fallbackEqualsTheFormula_data() {
        QTest::addColumn<QList<qint64>>("shape");
        QTest::addColumn<bool>("silu");
        const QList<qint64> video{2, 5, 3, 4, 6}, frames{3, 7, 4, 5}, tiny{1, 3, 1, 1, 2};
        QTest::newRow("video, norm + silu") << video << true;
        QTest::newRow("video, norm only") << video << false;
        QTest::newRow("attention frames, norm only") << frames << false;
        QTest::newRow("three channels, norm + silu") << tiny << true;
    }
    void fallbackEqualsTheFormula() {
        QFETCH(QList<qint64>, shape);
        QFETCH(bool, silu);
        const std::vector<int64_t> sizes(shape.begin(), shape.end());
        std::vector<int64_t> gammaSizes(sizes.size() - 1, 1);
        gammaSizes[0] = sizes[1];
        at::manual_seed(7);
        at::Tensor x = at::randn(sizes) * 3 + 0.25;        // [B, C, …]
        x.narrow(-1, 0, 1).narrow(0, 0, 1).zero_();         // all-zero columns: the 1e-12 clamp
        const at::Tensor gamma = at::rand(gammaSizes) + 0.5; // [C, 1, …]

        const at::Tensor y = kernels::vaeRmsNormSilu(x, gamma, silu);
        QCOMPARE(y.sizes().vec(), sizes);
        QCOMPARE(y.scalar_type(), at::kFloat);
        const at::Tensor expected = formula(x, gamma, silu);
        const double maxError = (y.to(at::kDouble) - expected).abs().max().item<double>();
        const double scale = expected.abs().max().item<double>();
        QVERIFY2(maxError <= 1e-6 * scale, qPrintable(QString("max |Δ| %1 vs max |y| %2").arg(maxError).arg(scale)));
        QVERIFY(at::isfinite(y).all().item<bool>());
        QVERIFY(at::equal(y.narrow(-1, 0, 1).narrow(0, 0, 1), at::zeros_like(y.narrow(-1, 0, 1).narrow(0, 0, 1))));
    }

    void inputsTheKernelDoesNotTakeGoToTheEagerTwin() {
        at::manual_seed(8);
        const at::Tensor gamma = at::rand({6, 1, 1, 1}) + 0.5;
        const at::Tensor permuted = at::randn({2, 3, 4, 5, 6}).permute({0, 4, 1, 2, 3}); // [2, 6, 3, 4, 5] strided
        QVERIFY(!permuted.is_contiguous());
        QVERIFY(at::equal(kernels::vaeRmsNormSilu(permuted, gamma, true), eagerVaeNorm(permuted, gamma, true)));
        const at::Tensor xd = at::randn({1, 6, 2, 3, 3}, at::kDouble);
        const at::Tensor gd = gamma.to(at::kDouble);
        QVERIFY(at::equal(kernels::vaeRmsNormSilu(xd, gd, false), eagerVaeNorm(xd, gd, false)));
    }

    void theVaeRunsEveryNormThroughItsOp() {
        const auto source = io::WeightSource::open(kWeights);
        WanVAE vae(source, WanVAEConfig::fromWeights(source), at::kFloat, at::kCPU);
        at::manual_seed(9);
        const at::Tensor z = at::randn({1, 16, 2, 3, 5}); // [B, z, T, h, w]: two decoder calls
        const at::Tensor eager = vae.decode(z);
        int normSilu = 0, normOnly = 0;
        vae.setNormOp([&](const at::Tensor& x, const at::Tensor& gamma, bool silu) {
            ++(silu ? normSilu : normOnly);
            return eagerVaeNorm(x, gamma, silu);
        });
        QVERIFY(at::equal(vae.decode(z), eager));
        // Per decoder call: 14 residual blocks (middle 2, upsamples 4 levels × 3) × 2 norms + the head's; the
        // attention block's norm without SiLU.
        QCOMPARE(normSilu, 2 * 29);
        QCOMPARE(normOnly, 2 * 1);
        vae.setNormOp({});
        QVERIFY(!vae.normOp());
    }

    void vaeWithTheFusedOpDecodesAndEncodesAsTheEagerVae() {
        const auto source = io::WeightSource::open(kWeights);
        const auto config = WanVAEConfig::fromWeights(source);
        const WanVAE eager(source, config, at::kFloat, at::kCPU);
        WanVAE hooked(source, config, at::kFloat, at::kCPU);
        hooked.setNormOp(kernels::vaeRmsNormSilu);
        at::manual_seed(10);
        const at::Tensor z = at::randn({1, 16, 3, 2, 3}); // [B, z, T, h, w]
        QVERIFY(at::equal(hooked.decode(z), eager.decode(z)));
        QVERIFY(at::equal(hooked.decodeChunked(z, 3), eager.decodeChunked(z, 3)));
        const at::Tensor video = at::rand({1, 3, 5, 16, 24}) * 2 - 1; // [B, 3, T, H, W]
        QVERIFY(at::equal(hooked.encode(video), eager.encode(video)));
    }
};

QTEST_GUILESS_MAIN(VaeNormTest)
#include "test_vae_norm.moc"
