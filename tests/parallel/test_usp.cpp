// Unified Sequence Parallel in one process (a thread per rank over the CPU transport): sharding arithmetic, ring
// attention against dense attention with padded keys, and the golden DiTs (dit_a: 2 heads, 72 tokens; dit_b: 4 heads,
// 75 tokens, so shards are padded) through Ulysses, ring, both, and CFG parallel at worlds 2..4, each equal to the
// one-process forward within 1e-4 relative L2. Impossible degrees are refused with both numbers.
#include "core/io/weight_source.h"
#include "core/models/wan_dit.h"
#include "core/verify/golden.h"
#include "parallel/usp.h"
#include "world_threads.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

using namespace ditstudio;
using namespace ditstudio::parallel;
using ditstudio::parallel::testing::runWorld;

namespace {

struct GoldenDiT {
    std::unique_ptr<WanDiT> dit;
    at::Tensor x, t, context;
    at::Tensor negative, expected, expectedGuided; // one-process references (cfg 5)
};

// Loaded once per case: the rows of a case share the model and the one-process references.
const GoldenDiT& loadGolden(const std::string& name) {
    static std::map<std::string, GoldenDiT> cache;
    if (auto it = cache.find(name); it != cache.end()) {
        return it->second;
    }
    const std::string dir = DITSTUDIO_GOLDEN_DIR;
    const auto weights = io::WeightSource::open(dir + "/" + name + ".weights.safetensors");
    const auto caseFile = io::SafetensorsFile::open(dir + "/" + name + ".case.safetensors");
    GoldenDiT g;
    g.dit = std::make_unique<WanDiT>(weights, WanDiTConfig::fromWeights(weights, name == "dit_a" ? 2 : 4), at::kFloat,
                                     at::kCPU);
    g.x = caseFile.tensor("input.x");
    g.t = caseFile.tensor("input.timestep");
    g.context = caseFile.tensor("input.context");
    g.negative = g.context.flip({1}) * 0.5;
    g.expected = g.dit->forward(g.x, g.t, g.context);
    const at::Tensor expectedNegative = g.dit->forward(g.x, g.t, g.negative);
    g.expectedGuided = expectedNegative + 5.0 * (g.expected - expectedNegative);
    return cache.emplace(name, std::move(g)).first->second;
}

} // namespace

class UspTest : public QObject {
    Q_OBJECT
private slots:
    void shardLayoutPadsOnlyTheTail() {
        const ShardLayout a{75, 4, 3};
        QCOMPARE(a.shardLength(), int64_t(19));
        QCOMPARE(a.paddedLength(), int64_t(76));
        QCOMPARE(a.validIn(0), int64_t(19));
        QCOMPARE(a.validIn(3), int64_t(18));
        QCOMPARE(a.validKeysInBlock(1, 2), int64_t(75 - 38)); // the second of two blocks of 2 shards
        const ShardLayout tiny{5, 4, 3}; // c = 2: the last shard is all padding (the reference would fail here)
        QCOMPARE(tiny.validIn(2), int64_t(1));
        QCOMPARE(tiny.validIn(3), int64_t(0));
        at::Tensor x = at::randn({1, 5, 3});
        at::Tensor s = shardTokens(x, ShardLayout{5, 4, 2});
        QCOMPARE(s.sizes().vec(), (std::vector<int64_t>{1, 2, 3}));
        QVERIFY(at::equal(s.narrow(1, 0, 1), x.narrow(1, 4, 1)));
        QVERIFY(at::equal(s.narrow(1, 1, 1), at::zeros({1, 1, 3})));
    }

    void ringAttentionEqualsDenseAttentionOnRealKeys_data() {
        QTest::addColumn<int>("world");
        QTest::addColumn<int>("length");
        QTest::newRow("3 ranks, 10 tokens (pad 2)") << 3 << 10;
        QTest::newRow("4 ranks, 5 tokens (last shard empty)") << 4 << 5;
        QTest::newRow("2 ranks, 8 tokens (no pad)") << 2 << 8;
    }
    void ringAttentionEqualsDenseAttentionOnRealKeys() {
        QFETCH(int, world);
        QFETCH(int, length);
        at::manual_seed(3);
        at::Tensor q = at::randn({1, length, 2, 16}), k = at::randn({1, length, 2, 16}), v = at::randn({1, length, 2, 16});
        at::Tensor expected = denseAttention(q, k, v); // [1, L, 2, 16]
        std::vector<at::Tensor> outputs(world);
        const std::string error = runWorld(world, [&](Communicator& ring) {
            const ShardLayout layout{length, world, ring.rank()};
            auto local = [&](const at::Tensor& t) { return shardTokens(t.view({1, length, 32}), layout).view({1, -1, 2, 16}); };
            outputs[ring.rank()] = ringAttention(local(q), local(k), local(v), ring,
                                                 [&](int64_t block) { return layout.validKeysInBlock(block, 1); });
        });
        QVERIFY2(error.empty(), error.c_str());
        at::Tensor got = at::cat(outputs, 1).narrow(1, 0, length);
        const double err = verify::relativeL2(got, expected);
        QVERIFY2(err < 1e-6, qPrintable(QString("rel L2 %1").arg(err)));
    }

    void shardedDiTEqualsOneRank_data() {
        QTest::addColumn<QString>("caseName");
        QTest::addColumn<int>("ulysses");
        QTest::addColumn<int>("ring");
        QTest::addColumn<int>("cfg");
        QTest::newRow("dit_a ulysses 2") << "dit_a" << 2 << 1 << 1;
        QTest::newRow("dit_a ring 2") << "dit_a" << 1 << 2 << 1;
        QTest::newRow("dit_a ring 3") << "dit_a" << 1 << 3 << 1;
        QTest::newRow("dit_a ulysses 2 ring 2") << "dit_a" << 2 << 2 << 1;
        QTest::newRow("dit_a cfg 2") << "dit_a" << 1 << 1 << 2;
        QTest::newRow("dit_a cfg 2 ring 2") << "dit_a" << 1 << 2 << 2;
        QTest::newRow("dit_b ulysses 2 (pad 1)") << "dit_b" << 2 << 1 << 1;
        QTest::newRow("dit_b ulysses 4 (pad 1)") << "dit_b" << 4 << 1 << 1;
        QTest::newRow("dit_b ring 2 (pad 1)") << "dit_b" << 1 << 2 << 1;
        QTest::newRow("dit_b ring 3") << "dit_b" << 1 << 3 << 1;
        QTest::newRow("dit_b ring 4 (pad 1)") << "dit_b" << 1 << 4 << 1;
        QTest::newRow("dit_b ulysses 2 ring 2 (pad 1)") << "dit_b" << 2 << 2 << 1;
        QTest::newRow("dit_b cfg 2 ulysses 2 (pad 1)") << "dit_b" << 2 << 1 << 2;
    }
    void shardedDiTEqualsOneRank() {
        QFETCH(QString, caseName);
        QFETCH(int, ulysses);
        QFETCH(int, ring);
        QFETCH(int, cfg);
        const GoldenDiT& g = loadGolden(caseName.toStdString());
        const ParallelDegrees degrees{ulysses, ring, cfg};
        const int world = static_cast<int>(degrees.world());
        std::vector<at::Tensor> outputs(world), guided(world);
        const std::string error = runWorld(world, [&](Communicator& comm) {
            UspGroups groups = UspGroups::create(comm, degrees, g.dit->config().numHeads);
            SequenceParallelHooks hooks = makeUspHooks(groups);
            outputs[comm.rank()] = g.dit->forward(g.x, g.t, g.context, &hooks);
            guided[comm.rank()] = makeParallelVelocity(*g.dit, groups, g.context, g.negative, 5.0)(g.x, g.t);
        });
        QVERIFY2(error.empty(), error.c_str());
        for (int r = 0; r < world; ++r) { // every rank ends with the whole prediction
            const double e1 = verify::relativeL2(outputs[r], g.expected);
            const double e2 = verify::relativeL2(guided[r], g.expectedGuided);
            QVERIFY2(e1 <= 1e-4 && e2 <= 1e-4,
                     qPrintable(QString("rank %1: forward rel L2 %2, guided rel L2 %3").arg(r).arg(e1).arg(e2)));
        }
    }

    void impossibleDegreesAreRefusedWithBothNumbers() {
        LocalCommunicator world;
        try {
            UspGroups::create(world, ParallelDegrees{3, 1, 1}, 2);
            QFAIL("ulysses 3 over 2 heads was accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("Ulysses degree 3 must divide the model's 2 attention heads"), e.what());
        }
        try {
            UspGroups::create(world, ParallelDegrees{1, 2, 1}, 2);
            QFAIL("a ring of 2 on a world of 1 was accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("= 2 does not match the 1 rank(s)"), e.what());
        }
        try {
            UspGroups::create(world, ParallelDegrees{1, 1, 2}, 2, /*usesCfg=*/false);
            QFAIL("cfg-parallel without guidance was accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("needs classifier-free guidance"), e.what());
        }
    }
};

QTEST_APPLESS_MAIN(UspTest)
#include "test_usp.moc"
