// The benches on the CPU at toy sizes: what they report is complete and sane (real numbers come from the GPU
// machine, docs/performance.md), and bad sizes are refused naming the setting. The per-kernel profile
// (kernels/bench_profile.h) is checked on a few ATen ops, then through `ditstudio-cli bench --profile` on one layer
// of the 1.3B config, as a user runs it.
#include "core/presets/preset_store.h"
#include "core/runtime/model_locator.h"
#include "core/util/error.h"
#include "core/util/json_file.h"
#include "kernels/bench_profile.h"
#include "kernels/t2v_bench.h"
#include "kernels/vae_bench.h"

#include <QtTest/QtTest>

#include <cmath>

using namespace ditstudio;
using namespace ditstudio::kernels;

namespace {

const QString kCli = QString(DITSTUDIO_BINARY_DIR) + "/app/cli/ditstudio-cli";

// One layer of the 1.3B config, 1 frame of 32×32: latent [1, 16, 1, 4, 4] → 4 tokens.
QStringList tinyDiTBench() {
    return {"bench",    "--model-config", "1.3B", "--frames", "1",        "--height", "32",      "--width",
            "32",       "--layers",       "1",    "--text-len", "8",      "--device", "cpu",     "--dtype",
            "float32",  "--iters",        "1",    "--warmup",   "0"};
}

struct CliRun {
    int exitCode = -1;
    QString output; // stdout, then stderr
};

CliRun runCli(const QStringList& arguments) {
    QProcess cli;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert("OMP_NUM_THREADS", "1");
    cli.setProcessEnvironment(environment);
    cli.start(kCli, arguments);
    CliRun run;
    if (!cli.waitForFinished(180000)) {
        run.output = "ditstudio-cli did not finish: " + cli.errorString();
        return run;
    }
    run.exitCode = cli.exitStatus() == QProcess::NormalExit ? cli.exitCode() : -1;
    run.output = QString::fromUtf8(cli.readAllStandardOutput() + cli.readAllStandardError());
    return run;
}

const nlohmann::json* findRow(const nlohmann::json& profile, const std::string& name) {
    for (const auto& row : profile.at("kernels")) {
        if (row.at("name") == name) {
            return &row;
        }
    }
    return nullptr;
}

} // namespace

class BenchesTest : public QObject {
    Q_OBJECT
private slots:
    void vaeDecodeReportsTheVideoItDecoded_data() {
        QTest::addColumn<bool>("tiled");
        QTest::addColumn<bool>("compiled");
        QTest::newRow("streaming") << false << false;
        QTest::newRow("tiled") << true << false;
        QTest::newRow("streaming, compiled (eager fallbacks on the CPU)") << false << true;
    }

    void vaeDecodeReportsTheVideoItDecoded() {
        QFETCH(bool, tiled);
        QFETCH(bool, compiled);
        VaeBenchOptions o;
        o.frames = 5;
        o.height = 48;
        o.width = 64;
        o.dtype = at::kFloat;
        o.iterations = 1;
        o.tiled = tiled;
        o.compiled = compiled;
        o.tiles = {4, 6, 2, 4}; // 2×2 overlapping tiles at 6×8 latents
        const auto r = runVaeDecodeBench(o);
        QCOMPARE(r["output_shape"], nlohmann::json({1, 3, 5, 48, 64}));
        QCOMPARE(r["latent"], nlohmann::json({1, 16, 2, 6, 8}));
        QVERIFY(r["output_finite"].get<bool>());
        QCOMPARE(r["all_s"].size(), size_t(1));
        QVERIFY(r["median_s"].get<double>() > 0);
        QVERIFY(r["first_call_s"].get<double>() > 0);
        QCOMPARE(r["tiled"].get<bool>(), tiled);
        QCOMPARE(r.contains("tiles"), tiled);
        QCOMPARE(r["conv_autotune"].get<bool>(), compiled);
        QVERIFY(!r["fused_norm"].get<bool>()); // CPU: the norms take their eager twin
        QVERIFY(!r.contains("peak_mem_GiB")); // CPU: no allocator statistics
    }

    void vaeDecodeRefusesBadSizes() {
        VaeBenchOptions o;
        o.frames = 6;
        try {
            runVaeDecodeBench(o);
            QFAIL("6 frames were accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("6 is not of the form 4k+1"), e.what());
        }
        o.frames = 5;
        o.width = 60;
        try {
            runVaeDecodeBench(o);
            QFAIL("width 60 was accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("width 60 must be positive multiples of 8"), e.what());
        }
    }

    // Whole generations with the demo model at a toy size: every stage timed for every call, the frames asked for.
    void t2vTimesWholeGenerationsPerStage() {
        T2VBenchOptions o;
        o.modelDir = defaultModelDir();
        QVERIFY2(!o.modelDir.empty(), "the demo model (resources/demo-model) was not found");
        o.settings = PresetStore(PresetStore::defaultBuiltinDir(), {}).load("demo-cpu");
        o.settings.prompt = "a red circle moving left";
        o.settings.numFrames = 5;
        o.settings.height = o.settings.width = 32;
        o.settings.steps = 2;
        o.iterations = 2;
        o.warmup = 1;
        const auto r = runT2VBench(o);
        QCOMPARE(QString::fromStdString(r.at("bench").get<std::string>()), QString("t2v"));
        QCOMPARE(r.at("output_frames").get<std::vector<int64_t>>(), (std::vector<int64_t>{5, 32, 32, 3}));
        QCOMPARE(r.at("all_s").size(), size_t(2));
        for (const char* stage : {"encode", "denoise", "decode"}) {
            QVERIFY2(r.at("stage_median_s").at(stage).get<double>() > 0, stage);
            QVERIFY2(r.at("first_call_stages_s").at(stage).get<double>() > 0, stage);
        }
        const double denoise = r.at("stage_median_s").at("denoise").get<double>();
        QVERIFY(std::abs(r.at("denoise_step_median_s").get<double>() - denoise / 2) < 1e-12);
        QVERIFY(r.at("median_s").get<double>() >= denoise);
        QVERIFY(r.at("load_s").get<double>() > 0);
        o.iterations = 0;
        QVERIFY_THROWS_EXCEPTION(ConfigError, runT2VBench(o));
    }

    void profileCategoriesFollowTheNameTable_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("category");
        QTest::newRow("cpu linear") << "aten::linear" << "gemm";
        QTest::newRow("cpu addmm") << "aten::addmm" << "gemm";
        QTest::newRow("cpu addmm backward") << "autograd::engine::evaluate_function: AddmmBackward0" << "gemm";
        QTest::newRow("cpu sdpa backward")
            << "autograd::engine::evaluate_function: ScaledDotProductFlashAttentionForCpuBackward0" << "attention";
        QTest::newRow("cpu gelu backward") << "autograd::engine::evaluate_function: GeluBackward0"
                                           << "elementwise/other";
        QTest::newRow("cublasLt gemm") << "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64" << "gemm";
        QTest::newRow("nvjet") << "nvjet_hsh_256x128_64x4_2x1_v_bz_coopA_TNN" << "gemm";
        QTest::newRow("cudnn sdpa, wgmma is not mm")
            << "cudnn_generated_fort_native_sdpa_sm90_flash_fprop_wgmma_f16_knob_7_64x128x128_4x1x1_kernel0_0"
            << "attention";
        QTest::newRow("efficient attention names cutlass") << "fmha_cutlassF_bf16_aligned_64x128_rf_sm80"
                                                           << "attention";
        QTest::newRow("cpu sdpa") << "aten::scaled_dot_product_attention" << "attention";
        QTest::newRow("own kernel") << "rmsNormRopeKernel(ditstudio::kernels::RmsNormRopeParams)" << "fused";
        QTest::newRow("own templated kernel")
            << "void gatedResidualKernel<__nv_bfloat16, 8>(ditstudio::kernels::GatedResidualParams)" << "fused";
        QTest::newRow("own VAE norm kernel")
            << "void ditstudio::kernels::cuda::vaeNormCachedKernel<__nv_bfloat16, 2, 8, true>"
               "(ditstudio::kernels::cuda::VaeNormParams)"
            << "fused";
        QTest::newRow("memcpy") << "Memcpy HtoD (Pageable -> Device)" << "copy";
        QTest::newRow("cat kernel") << "void at::native::(anonymous namespace)::CatArrayBatchedCopy<float>" << "copy";
        QTest::newRow("cpu cat") << "aten::cat" << "copy";
        QTest::newRow("cpu gelu") << "aten::gelu" << "elementwise/other";
        QTest::newRow("cuda add")
            << "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>>"
            << "elementwise/other";
    }

    void profileCategoriesFollowTheNameTable() {
        QFETCH(QString, name);
        QFETCH(QString, category);
        QCOMPARE(QString::fromStdString(std::string(profileCategory(name.toStdString()))), category);
    }

    void cpuProfileCountsTopLevelOpsOnce() {
        const at::Tensor x = at::randn({64, 128}), w = at::randn({256, 128}), b = at::randn({256});
        const nlohmann::json profile = profileCalls(at::kCPU, 2, [&] {
            const at::Tensor y = at::linear(x, w, b); // addmm inside: counted in linear's row only
            const at::Tensor z = at::mm(y, w);
            (void)z;
        });
        QCOMPARE(profile.at("iterations").get<int>(), 2);
        const nlohmann::json* linear = findRow(profile, "aten::linear");
        const nlohmann::json* mm = findRow(profile, "aten::mm");
        QVERIFY2(linear != nullptr && mm != nullptr, profile.dump(1).c_str());
        QCOMPARE(linear->at("count").get<double>(), 1.0); // per iteration
        QCOMPARE(mm->at("count").get<double>(), 1.0);
        QVERIFY2(findRow(profile, "aten::addmm") == nullptr, "a nested op was counted beside its parent");
        QCOMPARE(QString::fromStdString(linear->at("category").get<std::string>()), QString("gemm"));
        QVERIFY(profile.at("categories").at("gemm").at("share").get<double>() > 0);
        double shares = 0;
        for (const auto& row : profile.at("kernels")) {
            shares += row.at("share").get<double>();
        }
        QVERIFY2(std::abs(shares - 1) < 1e-9, qPrintable(QString("shares sum to %1").arg(shares)));

        const QString table = QString::fromStdString(formatProfileMarkdown(profile, 1));
        QVERIFY2(table.contains("| 1 | `") && !table.contains("| 2 | `"), qPrintable(table));
        QVERIFY2(table.contains("| gemm |"), qPrintable(table));

        try {
            profileCalls(at::kCPU, 0, [] {});
            QFAIL("0 iterations were accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("iterations 0 must be"), e.what());
        }
    }

    void cliBenchWritesTheProfileOfTheForward() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString path = dir.filePath("prof.json");
        const CliRun run = runCli(tinyDiTBench() + QStringList{"--profile", path, "--profile-iters", "2"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.output));
        QVERIFY2(run.output.contains("| category | total ms | share |"), qPrintable(run.output));

        QVERIFY2(QFileInfo::exists(path), qPrintable(run.output));
        const nlohmann::json profile = readJsonFile(path.toStdString(), "the profile the bench wrote");
        QCOMPARE(profile.at("iterations").get<int>(), 2);
        QCOMPARE(profile.at("device").get<std::string>(), std::string("cpu"));
        QCOMPARE(profile.at("bench").at("model").get<std::string>(), std::string("1.3B"));
        QCOMPARE(profile.at("bench").at("tokens").get<int64_t>(), int64_t{4});
        QVERIFY(!profile.at("bench").contains("profile"));
        const auto& rows = profile.at("kernels");
        QVERIFY(!rows.empty());
        QVERIFY(rows.front().at("total_ms").get<double>() > 0);
        double shares = 0, totalMs = 0;
        for (const auto& row : rows) {
            shares += row.at("share").get<double>();
            totalMs += row.at("total_ms").get<double>();
        }
        QVERIFY2(std::abs(shares - 1) < 1e-6, qPrintable(QString("shares sum to %1").arg(shares)));
        QVERIFY(std::abs(totalMs - profile.at("total_ms").get<double>()) < 1e-6 * totalMs + 1e-9);
        QVERIFY2(profile.at("categories").at("gemm").at("share").get<double>() > 0, profile.dump(1).c_str());
    }

    void cliBenchRefusesBadProfileRequests_data() {
        QTest::addColumn<QStringList>("arguments"); // {dir}: a temporary folder
        QTest::addColumn<QString>("message");
        QTest::newRow("0 iterations") << QStringList{"--profile", "{dir}/prof.json", "--profile-iters", "0"}
                                      << "bench --profile-iters: 0 must be ≥ 1";
        QTest::newRow("missing folder") << QStringList{"--profile", "/nonexistent-ditstudio/prof.json"}
                                        << "bench --profile: cannot write '/nonexistent-ditstudio/prof.json': folder "
                                           "'/nonexistent-ditstudio' does not exist";
    }

    void cliBenchRefusesBadProfileRequests() {
        QFETCH(QStringList, arguments);
        QFETCH(QString, message);
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        QStringList all = tinyDiTBench();
        for (const QString& argument : arguments) {
            all << QString(argument).replace("{dir}", dir.path());
        }
        const CliRun run = runCli(all);
        QVERIFY2(run.exitCode == 2, qPrintable(run.output));
        QVERIFY2(run.output.contains(message), qPrintable(run.output));
        QVERIFY2(!run.output.contains("median_s"), "the bench ran before the request was checked");
    }
};

QTEST_GUILESS_MAIN(BenchesTest)
#include "test_benches.moc"
