// The benches on the CPU at toy sizes: what they report is complete and sane (real numbers come from the GPU
// machine, docs/performance.md), and bad sizes are refused naming the setting.
#include "core/util/error.h"
#include "kernels/vae_bench.h"

#include <QtTest/QtTest>

using namespace ditstudio;
using namespace ditstudio::kernels;

class BenchesTest : public QObject {
    Q_OBJECT
private slots:
    void vaeDecodeReportsTheVideoItDecoded_data() {
        QTest::addColumn<bool>("tiled");
        QTest::newRow("streaming") << false;
        QTest::newRow("tiled") << true;
    }

    void vaeDecodeReportsTheVideoItDecoded() {
        QFETCH(bool, tiled);
        VaeBenchOptions o;
        o.frames = 5;
        o.height = 48;
        o.width = 64;
        o.dtype = at::kFloat;
        o.iterations = 1;
        o.tiled = tiled;
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
};

QTEST_GUILESS_MAIN(BenchesTest)
#include "test_benches.moc"
