// The on-disk autotune cache: round trip across instances (a second process starts warm), atomic replacement (no
// temp file left, a reader sees whole files only), merging with entries another process saved, recovery from a
// corrupted file, $XDG_CACHE_HOME, and a clear error when the directory cannot be written.
#include "core/util/error.h"
#include "kernels/attention.h"
#include "kernels/autotune_cache.h"

#include <ATen/ATen.h>

#include <QtTest/QtTest>

#include <fstream>

using namespace ditstudio;
using namespace ditstudio::kernels;
namespace fs = std::filesystem;

class AutotuneCacheTest : public QObject {
    Q_OBJECT
private slots:
    void storedWinnersSurviveAReopen() {
        QTemporaryDir dir;
        const fs::path file = fs::path(dir.path().toStdString()) / "sub" / "autotune.json";
        const std::string key = AutotuneCache::makeKey("NVIDIA H100 80GB HBM3", "attention", "B1xL32760", "BFloat16");
        {
            AutotuneCache cache(file);
            QVERIFY(!cache.lookup(key));
            cache.store(key, "cudnn", {{"cudnn", 0.41}, {"flash", 0.7}});
            cache.save();
        }
        AutotuneCache reopened(file);
        QCOMPARE(reopened.size(), size_t(1));
        QCOMPARE(QString::fromStdString(reopened.lookup(key).value_or("")), QString("cudnn"));
        QVERIFY(!reopened.lookup(key + "x"));
    }
    void saveLeavesNoTemporaryFile() {
        QTemporaryDir dir;
        const fs::path file = fs::path(dir.path().toStdString()) / "autotune.json";
        AutotuneCache cache(file);
        for (int i = 0; i < 5; ++i) {
            cache.store("k" + std::to_string(i), "flash", nlohmann::json::object());
            cache.save();
        }
        int files = 0;
        for (const auto& entry : fs::directory_iterator(file.parent_path())) {
            ++files;
            QCOMPARE(QString::fromStdString(entry.path().filename().string()), QString("autotune.json"));
        }
        QCOMPARE(files, 1);
        std::ifstream in(file);
        const auto json = nlohmann::json::parse(in); // whole, valid JSON
        QCOMPARE(json["version"].get<int>(), 1);
        QCOMPARE(json["entries"].size(), size_t(5));
    }
    void saveMergesWhatAnotherProcessWrote() {
        QTemporaryDir dir;
        const fs::path file = fs::path(dir.path().toStdString()) / "autotune.json";
        AutotuneCache first(file), second(file); // both opened while the file was absent
        first.store("a", "cudnn", nlohmann::json::object());
        first.save();
        second.store("b", "flash", nlohmann::json::object());
        second.save();
        AutotuneCache reopened(file);
        QCOMPARE(QString::fromStdString(reopened.lookup("a").value_or("")), QString("cudnn"));
        QCOMPARE(QString::fromStdString(reopened.lookup("b").value_or("")), QString("flash"));
    }
    void corruptedFileIsIgnoredAndReplaced() {
        QTemporaryDir dir;
        const fs::path file = fs::path(dir.path().toStdString()) / "autotune.json";
        std::ofstream(file) << "{\"version\": 1, \"entries\": {\"a\": "; // truncated
        AutotuneCache cache(file);
        QCOMPARE(cache.size(), size_t(0));
        cache.store("a", "efficient", nlohmann::json::object());
        cache.save();
        AutotuneCache reopened(file);
        QCOMPARE(QString::fromStdString(reopened.lookup("a").value_or("")), QString("efficient"));
    }
    void wrongVersionIsIgnored() {
        QTemporaryDir dir;
        const fs::path file = fs::path(dir.path().toStdString()) / "autotune.json";
        std::ofstream(file) << R"({"version": 7, "entries": {"a": {"winner": "math"}}})";
        QVERIFY(!AutotuneCache(file).lookup("a"));
    }
    void defaultPathFollowsXdgCacheHome() {
        const QByteArray old = qgetenv("XDG_CACHE_HOME");
        qputenv("XDG_CACHE_HOME", "/some/cache");
        QCOMPARE(QString::fromStdString(AutotuneCache::defaultPath().string()),
                 QString("/some/cache/ditstudio/autotune.json"));
        qunsetenv("XDG_CACHE_HOME");
        QVERIFY(QString::fromStdString(AutotuneCache::defaultPath().string())
                    .endsWith("/.cache/ditstudio/autotune.json"));
        if (!old.isEmpty()) {
            qputenv("XDG_CACHE_HOME", old);
        }
    }
    void unwritableDirectoryIsAClearError() {
        QTemporaryDir dir;
        const fs::path blocker = fs::path(dir.path().toStdString()) / "not_a_dir";
        std::ofstream(blocker) << "x";
        AutotuneCache cache(blocker / "autotune.json");
        cache.store("a", "cudnn", nlohmann::json::object());
        try {
            cache.save();
            QFAIL("expected an Error");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("not_a_dir/autotune.json"), e.what());
        }
    }

    // What autotuning may pick: cuDNN's SDPA returned NaN for fp32 inputs on an H200 (dit_a, max-autotune, fp32)
    // and had been cached as the winner; a backend must support the dtype and agree with the math backend.
    void autotuneCandidatesMustSupportTheDtypeAndAgree() {
        using kernels::AttentionBackend;
        QVERIFY(!kernels::attentionBackendSupports(AttentionBackend::CuDNN, at::kFloat));
        QVERIFY(!kernels::attentionBackendSupports(AttentionBackend::Flash, at::kFloat));
        QVERIFY(kernels::attentionBackendSupports(AttentionBackend::EfficientAttention, at::kFloat));
        QVERIFY(kernels::attentionBackendSupports(AttentionBackend::CuDNN, at::kBFloat16));

        at::manual_seed(0);
        const at::Tensor q = at::randn({1, 24, 2, 16}), k = at::randn({1, 24, 2, 16}), v = at::randn({1, 24, 2, 16});
        const at::Tensor reference = kernels::attention(q, k, v, AttentionBackend::Math);
        QVERIFY(kernels::attentionOutputAgrees(kernels::attention(q, k, v, AttentionBackend::Auto), reference));
        QVERIFY(kernels::attentionOutputAgrees(reference.to(at::kBFloat16), reference)); // bf16 rounding: within 2e-2
        QVERIFY(!kernels::attentionOutputAgrees(reference * 1.1, reference));
        at::Tensor withNan = reference.clone();
        withNan[0][3][1][2].fill_(std::numeric_limits<float>::quiet_NaN());
        QVERIFY(!kernels::attentionOutputAgrees(withNan, reference));
        QVERIFY(!kernels::attentionOutputAgrees(reference.slice(1, 0, 12), reference));
    }
};

QTEST_GUILESS_MAIN(AutotuneCacheTest)
#include "test_autotune_cache.moc"
