// The safetensors reader against valid and corrupted files: every defect gets a message naming the file and
// the field, and nothing crashes.
#include "core/io/safetensors.h"
#include "core/io/weight_loader.h"
#include "core/io/weight_source.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <cstring>
#include <fstream>

using namespace ditstudio;

namespace {

std::string writeRaw(const QTemporaryDir& dir, const std::string& name, const std::string& header,
                     const std::string& data, std::optional<uint64_t> lengthOverride = std::nullopt) {
    const std::string path = dir.path().toStdString() + "/" + name;
    std::ofstream out(path, std::ios::binary);
    const uint64_t len = lengthOverride.value_or(header.size());
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return path;
}

QString openError(const std::string& path) {
    try {
        io::SafetensorsFile::open(path);
    } catch (const FormatError& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

} // namespace

class SafetensorsTest : public QObject {
    Q_OBJECT
private slots:
    void roundTripKeepsValuesDtypesAndMetadata() {
        QTemporaryDir dir;
        const std::string path = dir.path().toStdString() + "/w.safetensors";
        at::Tensor a = at::randn({3, 4});
        at::Tensor b = at::arange(10, at::kLong);
        at::Tensor c = at::randn({2, 2}).to(at::kBFloat16);
        io::saveSafetensors(path, {{"a", a}, {"b.x", b}, {"c", c}}, {{"note", "hello"}});
        // Only the final file: the ".w.safetensors.partial-<pid>-<n>" temporary was renamed onto it.
        QCOMPARE(QDir(dir.path()).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot),
                 QStringList{"w.safetensors"});
        const auto f = io::SafetensorsFile::open(path);
        QCOMPARE(f.tensors().size(), size_t(3));
        QVERIFY(at::equal(f.tensor("a"), a));
        QVERIFY(at::equal(f.tensor("b.x"), b));
        QVERIFY(at::equal(f.tensor("c"), c));
        QCOMPARE(f.find("c")->dtype, std::string("BF16"));
        QCOMPARE(f.metadata().at("note"), std::string("hello"));
    }

    void aFailedSaveNamesThePathAndLeavesNothing() {
        QTemporaryDir dir;
        const std::string path = dir.path().toStdString() + "/missing-folder/w.safetensors";
        try {
            io::saveSafetensors(path, {{"a", at::ones({2})}});
            QFAIL("saving into a folder that does not exist succeeded");
        } catch (const FormatError& e) {
            QVERIFY2(QString(e.what()).contains(QString::fromStdString(path)), e.what());
        }
        QVERIFY(QDir(dir.path()).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot).isEmpty());
    }

    void goldenWeightsOpen() {
        const auto f = io::SafetensorsFile::open(std::string(DITSTUDIO_GOLDEN_DIR) + "/dit_a.weights.safetensors");
        QVERIFY(f.contains("blocks.0.self_attn.q.weight"));
        QCOMPARE(f.find("head.modulation")->shape, (std::vector<int64_t>{1, 2, 256}));
    }

    void corruptedFilesAreRejected_data() {
        QTest::addColumn<QString>("header");
        QTest::addColumn<int>("dataBytes");
        QTest::addColumn<qint64>("lengthOverride");
        QTest::addColumn<QString>("expected");
        const QString ok = R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
        QTest::newRow("truncated data") << ok << 8 << qint64(-1) << "out of bounds for tensor 't'";
        QTest::newRow("header length past the end") << ok << 16 << qint64(1 << 20) << "runs past the end of the file";
        QTest::newRow("huge header length") << ok << 16 << qint64(1ll << 40) << "exceeds the format's limit";
        QTest::newRow("bad dtype") << R"({"t":{"dtype":"F31","shape":[2,2],"data_offsets":[0,16]}})" << 16
                                   << qint64(-1) << "unknown dtype 'F31'";
        QTest::newRow("shape and size mismatch") << R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})"
                                                 << 16 << qint64(-1) << "needs 24 bytes but data_offsets span 16";
        QTest::newRow("overlapping ranges")
            << R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"
            << 16 << qint64(-1) << "overlap";
        QTest::newRow("malformed JSON") << R"({"t":{"dtype":"F32",)" << 16 << qint64(-1) << "not well-formed JSON";
        QTest::newRow("not an object") << R"([1,2,3])" << 0 << qint64(-1) << "must be a JSON object";
        QTest::newRow("negative offset") << R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})" << 16
                                         << qint64(-1) << "data_offsets must be two non-negative integers";
        QTest::newRow("begin after end") << R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})" << 16
                                         << qint64(-1) << "out of bounds";
        QTest::newRow("missing field") << R"({"t":{"dtype":"F32","shape":[2]}})" << 16 << qint64(-1)
                                       << "needs dtype, shape and data_offsets";
        QTest::newRow("metadata not strings") << R"({"__metadata__":{"a":1}})" << 0 << qint64(-1)
                                              << "is not a string";
        QTest::newRow("huge shape") << R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})"
                                    << 16 << qint64(-1) << "impossibly large";
    }
    void corruptedFilesAreRejected() {
        QFETCH(QString, header);
        QFETCH(int, dataBytes);
        QFETCH(qint64, lengthOverride);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const auto path = writeRaw(dir, "bad.safetensors", header.toStdString(), std::string(dataBytes, '\0'),
                                   lengthOverride < 0 ? std::nullopt : std::optional<uint64_t>(lengthOverride));
        const QString error = openError(path);
        QVERIFY2(error.contains(expected), qPrintable("got: " + error));
        QVERIFY2(error.contains("bad.safetensors"), qPrintable("the message must name the file: " + error));
    }

    void nonUtf8HeaderIsRejected() {
        QTemporaryDir dir;
        std::string header = "{\"t\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        const auto path = writeRaw(dir, "bad.safetensors", header, std::string(4, '\0'));
        QVERIFY(openError(path).contains("not valid UTF-8"));
    }

    void tinyFileIsRejected() {
        QTemporaryDir dir;
        const std::string path = dir.path().toStdString() + "/tiny.safetensors";
        std::ofstream(path) << "abc";
        QVERIFY(openError(path).contains("truncated"));
        QVERIFY(openError(dir.path().toStdString() + "/absent.safetensors").contains("cannot open"));
    }

    void shardedIndexJoinsFiles() {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        io::saveSafetensors(d + "/m-00001.safetensors", {{"a", at::ones({2})}});
        io::saveSafetensors(d + "/m-00002.safetensors", {{"b", at::zeros({3})}});
        std::ofstream(d + "/m.safetensors.index.json")
            << R"({"metadata":{},"weight_map":{"a":"m-00001.safetensors","b":"m-00002.safetensors"}})";
        const auto source = io::WeightSource::open(d);
        QVERIFY(source.contains("a") && source.contains("b"));
        QCOMPARE(source.shape("b"), (std::vector<int64_t>{3}));
        QVERIFY(QString::fromStdString(source.fileOf("b")).endsWith("m-00002.safetensors"));
    }

    void duplicateTensorAcrossShardsIsAnError() {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        io::saveSafetensors(d + "/x1.safetensors", {{"a", at::ones({2})}});
        io::saveSafetensors(d + "/x2.safetensors", {{"a", at::ones({2})}});
        try {
            io::WeightSource::openFiles({d + "/x1.safetensors", d + "/x2.safetensors"});
            QFAIL("expected an error");
        } catch (const FormatError& e) {
            QVERIFY2(QString(e.what()).contains("tensor 'a' appears in both"), e.what());
        }
    }

    void loaderNamesMissingMisshapedAndUnexpectedTensors() {
        QTemporaryDir dir;
        const std::string path = dir.path().toStdString() + "/m.safetensors";
        io::saveSafetensors(path, {{"w", at::ones({2, 3})}, {"extra", at::ones({1})}});
        const auto source = io::WeightSource::open(path);
        io::WeightLoader loader(source, at::kFloat, at::kCPU);
        try {
            loader.take("w", {3, 2});
            QFAIL("expected a shape error");
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains("tensor 'w' has wrong shape; expected [3, 2], got [2, 3]"), e.what());
            QVERIFY2(QString(e.what()).contains("m.safetensors"), e.what());
        }
        try {
            loader.take("absent", {1});
            QFAIL("expected a missing-tensor error");
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains("missing tensor 'absent'"), e.what());
        }
        QCOMPARE(loader.take("w", {2, 3}).scalar_type(), at::kFloat);
        try {
            loader.finish();
            QFAIL("expected an unexpected-tensor error");
        } catch (const ModelError& e) {
            QVERIFY2(QString(e.what()).contains("1 unexpected tensor(s)") && QString(e.what()).contains("'extra'"),
                     e.what());
        }
    }

    void loaderConvertsDtypeOnce() {
        QTemporaryDir dir;
        const std::string path = dir.path().toStdString() + "/m.safetensors";
        io::saveSafetensors(path, {{"w", at::full({4}, 1.5).to(at::kBFloat16)}});
        const auto source = io::WeightSource::open(path);
        io::WeightLoader loader(source, at::kFloat, at::kCPU);
        at::Tensor w = loader.take("w", {4});
        QCOMPARE(w.scalar_type(), at::kFloat);
        QCOMPARE(w[2].item<float>(), 1.5f);
    }
};

QTEST_GUILESS_MAIN(SafetensorsTest)
#include "test_safetensors.moc"
