// The compile layer on the CPU: every mode installs its op table and, through the eager fallbacks, still passes the
// golden DiT cases; a compiled model's output equals the eager one on golden dit_a; fused QKV weights share one
// buffer per block; the model list decides whether the DiT is compiled.
#include "core/io/weight_source.h"
#include "core/models/wan_dit.h"
#include "core/verify/golden.h"
#include "kernels/autotune_cache.h"
#include "kernels/compile.h"
#include "kernels/compile_settings.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <fstream>

using namespace ditstudio;

namespace {
struct GoldenDit {
    io::WeightSource weights;
    WanDiTConfig config;
    io::SafetensorsFile caseFile;
};

GoldenDit loadDitA() {
    const std::string dir = DITSTUDIO_GOLDEN_DIR;
    std::ifstream in(dir + "/manifest.json");
    const auto manifest = nlohmann::json::parse(in);
    const auto& entry = manifest["cases"]["dit_a"];
    return GoldenDit{io::WeightSource::open(dir + "/" + entry["weights"].get<std::string>()),
                     WanDiTConfig::fromJson(entry["config"]),
                     io::SafetensorsFile::open(dir + "/" + entry["case"].get<std::string>())};
}
} // namespace

class CompiledDitTest : public QObject {
    Q_OBJECT
private slots:
    void compiledModelMatchesEagerOnDitA_data() {
        QTest::addColumn<QString>("mode");
        QTest::addColumn<bool>("fullgraph");
        QTest::newRow("default") << "default" << false;
        QTest::newRow("reduce-overhead") << "reduce-overhead" << false;
        QTest::newRow("reduce-overhead fullgraph") << "reduce-overhead" << true;
        QTest::newRow("max-autotune-no-cudagraphs") << "max-autotune-no-cudagraphs" << false;
    }
    void compiledModelMatchesEagerOnDitA() {
        QFETCH(QString, mode);
        QFETCH(bool, fullgraph);
        auto golden = loadDitA();
        const at::Tensor x = golden.caseFile.tensor("input.x"), t = golden.caseFile.tensor("input.timestep"),
                         ctx = golden.caseFile.tensor("input.context");
        WanDiT eager(golden.weights, golden.config, at::kFloat, at::kCPU);
        WanDiT compiled(golden.weights, golden.config, at::kFloat, at::kCPU);
        CompileSettings settings;
        settings.mode = kernels::compileModeFromName(mode.toStdString());
        settings.fullgraph = fullgraph;
        QTemporaryDir cacheDir;
        kernels::AutotuneCache cache(cacheDir.path().toStdString() + "/autotune.json");
        const auto report = kernels::compileDiT(compiled, settings, &cache);
        QVERIFY(report.fused);
        QCOMPARE(report.fusedQkvBlocks, int(golden.config.numLayers));
        const at::Tensor a = eager.forward(x, t, ctx), b = compiled.forward(x, t, ctx);
        const double rel = ((a - b).norm() / a.norm()).item<double>();
        QVERIFY2(rel < 1e-6, qPrintable(QString("compiled vs eager rel L2 %1").arg(rel)));
        const double vsGolden =
            ((b - golden.caseFile.tensor("output")).norm() / golden.caseFile.tensor("output").norm()).item<double>();
        QVERIFY2(vsGolden < verify::kRelL2Tolerance, qPrintable(QString("vs golden rel L2 %1").arg(vsGolden)));
    }
    void fusedQkvSharesOneBufferPerBlock() {
        auto golden = loadDitA();
        WanDiT dit(golden.weights, golden.config, at::kFloat, at::kCPU);
        CompileSettings settings;
        settings.mode = CompileMode::Default;
        kernels::compileDiT(dit, settings);
        for (const auto& block : dit.blocks()) {
            const auto& a = block.selfAttn;
            QCOMPARE(a.k.weight.data_ptr<float>(), a.q.weight.data_ptr<float>() + a.q.weight.numel());
            QCOMPARE(a.v.weight.data_ptr<float>(), a.k.weight.data_ptr<float>() + a.k.weight.numel());
        }
    }
    void goldenCasesPassInEveryMode_data() {
        QTest::addColumn<QString>("mode");
        for (const char* m : {"none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"}) {
            QTest::newRow(m) << QString(m);
        }
    }
    void goldenCasesPassInEveryMode() {
        QFETCH(QString, mode);
        CompileSettings settings;
        settings.mode = kernels::compileModeFromName(mode.toStdString());
        verify::Options options;
        options.prepareDiT = [settings](WanDiT& dit) { kernels::compileDiT(dit, settings); };
        const auto results = verify::runCases(DITSTUDIO_GOLDEN_DIR, {"dit_a", "dit_b"}, options);
        QCOMPARE(results.size(), size_t(2));
        for (const auto& r : results) {
            QVERIFY2(r.status == verify::Status::Pass, verify::formatResult(r).c_str());
        }
    }
    void withoutDitInModelsTheModelStaysEager() {
        auto golden = loadDitA();
        WanDiT dit(golden.weights, golden.config, at::kFloat, at::kCPU);
        const void* before = dit.blocks()[0].selfAttn.q.weight.data_ptr();
        CompileSettings settings;
        settings.mode = CompileMode::MaxAutotune;
        settings.models = {"vae"};
        const auto report = kernels::compileDiT(dit, settings);
        QVERIFY(!report.fused);
        QCOMPARE(dit.blocks()[0].selfAttn.q.weight.data_ptr(), before);
        QVERIFY(!dit.ops().runBlocks);
    }
    void badSettingsAreRejectedBeforeTouchingTheModel() {
        auto golden = loadDitA();
        WanDiT dit(golden.weights, golden.config, at::kFloat, at::kCPU);
        CompileSettings settings;
        settings.mode = CompileMode::Default;
        settings.models = {"dit", "unet"};
        QVERIFY_THROWS_EXCEPTION(ConfigError, kernels::compileDiT(dit, settings));
        QVERIFY(!dit.ops().runBlocks);
    }
};

QTEST_GUILESS_MAIN(CompiledDitTest)
#include "test_compiled_dit.moc"
