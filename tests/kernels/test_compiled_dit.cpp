// The compile layer on the CPU: every mode installs its op table and, through the eager fallbacks, still passes the
// golden DiT cases; a compiled model's output equals the eager one on golden dit_a; fused QKV weights share one
// buffer per block; the model list decides whether the DiT is compiled; generation applies a request's compile
// settings through the installed compiler (and refuses them without one).
#include "core/io/weight_source.h"
#include "core/models/wan_dit.h"
#include "core/presets/preset_store.h"
#include "core/runtime/generation.h"
#include "core/runtime/model_locator.h"
#include "core/util/error.h"
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

    void generationAppliesTheRequestsCompileSettings() {
        GenerationSettings settings = PresetStore(PresetStore::defaultBuiltinDir(), {}).load("demo-cpu");
        settings.prompt = "a red circle moving right";
        settings.steps = 2;
        settings.numFrames = 5;
        Generator generator(defaultModelDir(), at::kCPU, at::kFloat);

        // No compiler installed: a compiling mode is refused, not run eagerly.
        settings.compile.mode = CompileMode::Default;
        try {
            generator.generate(settings);
            QFAIL("compile.mode default ran without a compiler");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("compile.mode default") && QString(e.what()).contains("none"),
                     e.what());
        }

        int calls = 0;
        CompileSettings last;
        generator.setDiTCompiler([&](WanDiT& dit, const CompileSettings& compile) {
            ++calls;
            last = compile;
            return kernels::compileDiT(dit, compile).summary;
        });
        settings.compile.mode = CompileMode::None;
        const at::Tensor eager = generator.generate(settings).latents;
        QCOMPARE(calls, 0); // a model loads eager

        settings.compile.mode = CompileMode::Default;
        const at::Tensor compiled = generator.generate(settings).latents;
        QCOMPARE(calls, 1);
        QVERIFY(last == settings.compile);
        const double rel = ((compiled - eager).norm() / eager.norm()).item<double>();
        QVERIFY2(rel < 1e-4, qPrintable(QString("compiled vs eager latents: rel L2 %1").arg(rel)));

        generator.generate(settings); // same settings: not applied again
        QCOMPARE(calls, 1);

        settings.compile.mode = CompileMode::None; // back to eager
        const at::Tensor again = generator.generate(settings).latents;
        QCOMPARE(calls, 2);
        QVERIFY(at::equal(again, eager));
    }

    void vaeIsCompiledOnlyWhenAskedOnCuda() {
        CompileSettings s;
        s.mode = CompileMode::MaxAutotune;
        s.models = {"dit", "vae"};
        QVERIFY(compilesVae(s, at::Device(at::kCUDA, 0)));
        QVERIFY(!compilesVae(s, at::kCPU));
        s.models = {"dit"};
        QVERIFY(!compilesVae(s, at::Device(at::kCUDA, 0)));
        s.models = {"vae"};
        s.mode = CompileMode::None;
        QVERIFY(!compilesVae(s, at::Device(at::kCUDA, 0)));

        const bool before = at::globalContext().benchmarkCuDNN();
        {
            const ConvolutionAutotuneScope scope(true);
            QVERIFY(at::globalContext().benchmarkCuDNN());
        }
        QCOMPARE(at::globalContext().benchmarkCuDNN(), before);
    }
};

QTEST_GUILESS_MAIN(CompiledDitTest)
#include "test_compiled_dit.moc"
