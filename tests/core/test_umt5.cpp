// UMT5 encoder: the golden t5_tiny case, the relative-position bucket table of spec §4.4, masking and padding
// semantics, and the loader's errors for malformed weight files.
#include "core/io/safetensors.h"
#include "core/io/weight_source.h"
#include "core/models/umt5.h"
#include "core/util/error.h"
#include "core/verify/golden.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace ditstudio;

namespace {

const std::filesystem::path kGolden = DITSTUDIO_GOLDEN_DIR;

UMT5Config goldenConfig() {
    std::ifstream in(kGolden / "manifest.json");
    const auto manifest = nlohmann::json::parse(in);
    return UMT5Config::fromJson(manifest.at("cases").at("t5_tiny").at("config"));
}

std::map<std::string, at::Tensor> goldenTensors() {
    const auto file = io::SafetensorsFile::open(kGolden / "t5_tiny.weights.safetensors");
    std::map<std::string, at::Tensor> tensors;
    for (const auto& info : file.tensors()) {
        tensors[info.name] = file.tensor(info.name).clone();
    }
    return tensors;
}

std::vector<std::pair<std::string, at::Tensor>> asList(const std::map<std::string, at::Tensor>& tensors) {
    return {tensors.begin(), tensors.end()};
}

} // namespace

class UMT5Test : public QObject {
    Q_OBJECT
private slots:
    void goldenT5TinyPassesInFloat32() {
        const auto results = verify::runCases(kGolden, {"t5_tiny"}, verify::Options{});
        QCOMPARE(results.size(), size_t(1));
        const auto line = verify::formatResult(results.front());
        QVERIFY2(results.front().status == verify::Status::Pass, line.c_str());
        QVERIFY2(results.front().checks.size() >= 3, line.c_str()); // output, zeroed output, zero rows
    }

    void goldenT5TinyPassesInBFloat16WithinItsBound() {
        verify::Options options;
        options.dtype = at::kBFloat16;
        const auto results = verify::runCases(kGolden, {"t5_tiny"}, options);
        const auto line = verify::formatResult(results.front());
        QVERIFY2(results.front().status == verify::Status::Pass, line.c_str());
    }

    void bucketTableMatchesTheSpec_data() {
        QTest::addColumn<int>("distance");
        QTest::addColumn<int>("bucket"); // bucket − base
        const std::pair<int, int> rows[] = {{0, 0},   {1, 1},   {2, 2},   {3, 3},   {4, 4},   {5, 5},   {6, 6},
                                            {7, 7},   {8, 8},   {11, 8},  {12, 9},  {16, 10}, {22, 10}, {23, 11},
                                            {31, 11}, {32, 12}, {45, 12}, {46, 13}, {63, 13}, {64, 14}, {90, 14},
                                            {91, 15}, {500, 15}};
        for (const auto& [a, b] : rows) {
            QTest::newRow(qPrintable(QString("a=%1").arg(a))) << a << b;
        }
    }
    void bucketTableMatchesTheSpec() {
        QFETCH(int, distance);
        QFETCH(int, bucket);
        // Key after the query (r > 0): base 16. Key at or before it: base 0.
        QCOMPARE(relativePositionBucket(distance, 32), int64_t(distance > 0 ? 16 + bucket : bucket));
        QCOMPARE(relativePositionBucket(-distance, 32), int64_t(bucket));
    }

    void bucketGridIsKeyMinusQuery() {
        const at::Tensor grid = relativePositionBuckets(5, 7, 32, at::kCPU); // [Lq, Lk]
        QCOMPARE(grid.size(0), int64_t(5));
        QCOMPARE(grid.size(1), int64_t(7));
        for (int64_t q = 0; q < 5; ++q) {
            for (int64_t k = 0; k < 7; ++k) {
                QCOMPARE(grid[q][k].item<int64_t>(), relativePositionBucket(k - q, 32));
            }
        }
    }

    void configFromWeightsMatchesTheManifest() {
        const auto source = io::WeightSource::open(kGolden / "t5_tiny.weights.safetensors");
        const auto inferred = UMT5Config::fromWeights(source);
        QCOMPARE(inferred.toJson().dump(), goldenConfig().toJson().dump());
        QVERIFY_THROWS_EXCEPTION(ModelError, UMT5Config::fromWeights(source, 8));
    }

    void configFromJsonRejectsWrongTypes() {
        QVERIFY_THROWS_EXCEPTION(ConfigError, UMT5Config::fromJson(nlohmann::json{{"dim", "64"}}));
        QVERIFY_THROWS_EXCEPTION(ConfigError, UMT5Config::fromJson(nlohmann::json{{"shared_pos", 0}}));
        QVERIFY_THROWS_EXCEPTION(ConfigError, UMT5Config::fromJson(nlohmann::json{{"dim_attn", 63}}));
        const auto xxl = UMT5Config::fromJson(nlohmann::json::object());
        QCOMPARE(xxl.headDim(), int64_t(64));
        QCOMPARE(xxl.vocab, int64_t(256384));
    }

    void misShapedTensorInAWeightsFileIsNamed() {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        auto tensors = goldenTensors();
        tensors["blocks.1.ffn.fc1.weight"] = at::zeros({127, 64});
        const std::filesystem::path file = tmp.filePath("t5_bad.safetensors").toStdString();
        io::saveSafetensors(file, asList(tensors));
        const auto source = io::WeightSource::open(file);
        try {
            UMT5Encoder encoder(source, goldenConfig(), at::kFloat, at::kCPU);
            QFAIL("a mis-shaped tensor must be rejected");
        } catch (const ModelError& e) {
            const QString message = e.what();
            QVERIFY2(message.contains("'blocks.1.ffn.fc1.weight'"), e.what());
            QVERIFY2(message.contains("expected [128, 64], got [127, 64]"), e.what());
            QVERIFY2(message.contains("t5_bad.safetensors"), e.what());
        }
    }

    void missingAndUnexpectedTensorsAreNamed() {
        auto missing = goldenTensors();
        missing.erase("blocks.0.pos_embedding.embedding.weight");
        try {
            UMT5Encoder encoder(io::WeightSource::fromTensors(missing, "test"), goldenConfig(), at::kFloat, at::kCPU);
            QFAIL("a missing tensor must be rejected");
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains("missing tensor 'blocks.0.pos_embedding.embedding.weight'"), e.what());
        }
        auto extra = goldenTensors();
        extra["blocks.2.norm1.weight"] = at::ones({64});
        try {
            UMT5Encoder encoder(io::WeightSource::fromTensors(extra, "test"), goldenConfig(), at::kFloat, at::kCPU);
            QFAIL("an unexpected tensor must be rejected");
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains("'blocks.2.norm1.weight'"), e.what());
        }
    }

    void paddedKeysDoNotInfluenceValidRows() {
        // Masked keys are replaced by the lowest float: whatever token sits in a padded slot, valid rows are equal.
        const auto source = io::WeightSource::open(kGolden / "t5_tiny.weights.safetensors");
        UMT5Encoder encoder(source, goldenConfig(), at::kFloat, at::kCPU);
        const auto caseFile = io::SafetensorsFile::open(kGolden / "t5_tiny.case.safetensors");
        const at::Tensor ids = caseFile.tensor("input.ids");
        const at::Tensor mask = caseFile.tensor("input.mask");
        const int64_t valid = mask.sum().item<int64_t>();
        at::Tensor otherIds = ids.clone();
        otherIds.slice(1, valid).fill_(777);
        const at::Tensor a = encoder.forward(ids, mask).slice(1, 0, valid);
        const at::Tensor b = encoder.forward(otherIds, mask).slice(1, 0, valid);
        QVERIFY(at::allclose(a, b, 1e-6, 1e-6));
        // Without the mask the padded tokens are attended to and the valid rows change.
        const at::Tensor c = encoder.forward(otherIds, at::ones_like(mask)).slice(1, 0, valid);
        QVERIFY(!at::allclose(a, c, 1e-3, 1e-3));
    }

    void encodeZeroesRowsFromEachRowsValidLength() {
        const auto source = io::WeightSource::open(kGolden / "t5_tiny.weights.safetensors");
        UMT5Encoder encoder(source, goldenConfig(), at::kFloat, at::kCPU);
        at::manual_seed(5);
        const at::Tensor ids = at::randint(1, 1000, {2, 10}, at::kLong);
        at::Tensor mask = at::zeros({2, 10}, at::kLong);
        mask[0].slice(0, 0, 4).fill_(1);
        mask[1].slice(0, 0, 7).fill_(1);
        const at::Tensor raw = encoder.forward(ids, mask);  // [2, 10, 64]
        const at::Tensor out = encoder.encode(ids, mask);  // [2, 10, 64]
        QVERIFY(at::equal(out[0].slice(0, 0, 4), raw[0].slice(0, 0, 4)));
        QVERIFY(at::equal(out[1].slice(0, 0, 7), raw[1].slice(0, 0, 7)));
        QCOMPARE(out[0].slice(0, 4).abs().sum().item<double>(), 0.0);
        QCOMPARE(out[1].slice(0, 7).abs().sum().item<double>(), 0.0);
        QVERIFY(raw[0].slice(0, 4).abs().sum().item<double>() > 0); // the raw output is not zero there
        // A batch equals its rows run one at a time (up to float32 rounding of differently blocked matmuls).
        const at::Tensor single = encoder.encode(ids.slice(0, 1, 2), mask.slice(0, 1, 2));
        const double error = verify::relativeL2(out.slice(0, 1, 2), single);
        QVERIFY2(error < 1e-5, qPrintable(QString("batched vs single rel L2 %1").arg(error)));
    }

    void badInputsAreClearErrors() {
        const auto source = io::WeightSource::open(kGolden / "t5_tiny.weights.safetensors");
        UMT5Encoder encoder(source, goldenConfig(), at::kFloat, at::kCPU);
        const at::Tensor mask = at::ones({1, 4}, at::kLong);
        try {
            encoder.forward(at::tensor({1, 2, 1000, 3}, at::kLong).view({1, 4}), mask);
            QFAIL("an id outside the vocabulary must be rejected");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("vocabulary is [0, 1000)"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(ConfigError, encoder.forward(at::zeros({1, 4}, at::kLong), at::ones({1, 5})));
        QVERIFY_THROWS_EXCEPTION(ConfigError, encoder.forward(at::zeros({1, 4}), mask));
    }
};

QTEST_GUILESS_MAIN(UMT5Test)
#include "test_umt5.moc"
