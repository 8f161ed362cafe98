// GPU (label gpu; skipped without a CUDA device): every fused kernel against its eager twin on random inputs
// (kernels/kernel_check.cpp), and the compiled DiT in every mode against the eager model on golden dit_a in
// float32 and bfloat16, including CUDA-graph re-capture on a shape change.
#include "core/io/weight_source.h"
#include "core/models/wan_dit.h"
#include "kernels/autotune_cache.h"
#include "kernels/compile.h"
#include "kernels/compile_settings.h"
#include "kernels/kernel_check.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <QtTest/QtTest>

#include <fstream>

using namespace ditstudio;

class FusedKernelsTest : public QObject {
    Q_OBJECT
private slots:
    void init() {
        if (!at::hasCUDA()) {
            QSKIP("no CUDA device");
        }
    }
    void everyFusedKernelAgreesWithItsEagerTwin() {
        int failed = 0;
        for (const auto& r : kernels::runKernelChecks(at::Device(at::kCUDA, 0))) {
            qInfo("%s", kernels::formatKernelCheck(r).c_str());
            failed += !r.passed;
        }
        QCOMPARE(failed, 0);
    }
    void compiledDitAgreesWithEagerOnTheGpu_data() {
        QTest::addColumn<QString>("mode");
        QTest::addColumn<bool>("fullgraph");
        QTest::addColumn<bool>("bf16");
        for (bool bf16 : {false, true}) {
            for (const char* m : {"default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"}) {
                QTest::newRow(qPrintable(QString("%1 %2").arg(m, bf16 ? "bf16" : "fp32"))) << QString(m) << false
                                                                                        << bf16;
            }
            QTest::newRow(bf16 ? "fullgraph bf16" : "fullgraph fp32") << "reduce-overhead" << true << bf16;
        }
    }
    void compiledDitAgreesWithEagerOnTheGpu() {
        QFETCH(QString, mode);
        QFETCH(bool, fullgraph);
        QFETCH(bool, bf16);
        at::globalContext().setAllowTF32CuBLAS(false);
        const std::string dir = DITSTUDIO_GOLDEN_DIR;
        std::ifstream in(dir + "/manifest.json");
        const auto entry = nlohmann::json::parse(in)["cases"]["dit_a"];
        const auto weights = io::WeightSource::open(dir + "/" + entry["weights"].get<std::string>());
        const auto caseFile = io::SafetensorsFile::open(dir + "/" + entry["case"].get<std::string>());
        const auto cfg = WanDiTConfig::fromJson(entry["config"]);
        const auto dtype = bf16 ? at::kBFloat16 : at::kFloat;
        const at::Device cuda(at::kCUDA, 0);
        WanDiT reference(weights, cfg, at::kFloat, cuda), compiled(weights, cfg, dtype, cuda);
        CompileSettings settings;
        settings.mode = kernels::compileModeFromName(mode.toStdString());
        settings.fullgraph = fullgraph;
        settings.dynamic = false;
        QTemporaryDir cacheDir;
        kernels::AutotuneCache cache(cacheDir.path().toStdString() + "/autotune.json");
        kernels::compileDiT(compiled, settings, &cache);
        const at::Tensor x = caseFile.tensor("input.x"), t = caseFile.tensor("input.timestep"),
                         ctx = caseFile.tensor("input.context");
        // bf16 against the float32 eager model within the verify bound (1.25 × the reference's own drift + 0.01).
        const double tolerance = bf16 ? 1.25 * entry.value("bf16_cuda_rel_l2_vs_fp32", 0.0) + 0.01 : 1e-4;
        for (int call = 0; call < 3; ++call) { // capture, replay, and a different shape (re-capture)
            const at::Tensor xi = call == 2 ? x.narrow(3, 0, x.size(3) - 2) : x;
            const at::Tensor a = reference.forward(xi, t, ctx);
            const at::Tensor b = compiled.forward(xi, t, ctx).to(at::kFloat);
            const double rel = ((a - b).norm() / a.norm()).item<double>();
            QVERIFY2(rel < tolerance, qPrintable(QString("call %1: compiled vs float32 eager rel L2 %2 (tolerance %3)")
                                                     .arg(call)
                                                     .arg(rel)
                                                     .arg(tolerance)));
        }
    }
};

QTEST_GUILESS_MAIN(FusedKernelsTest)
#include "test_fused_kernels.moc"
