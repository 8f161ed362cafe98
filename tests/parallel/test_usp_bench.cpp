// `ditstudio-cli bench-usp` on CPU rank processes (the CPU transport), with one layer of the 1.3B config at a tiny
// size: the JSON that rank 0 reports has the world, split and token count asked for, a positive step time, a
// communication time that is ≥ 0, no larger than the step, and non-zero for the group the split uses; a Ulysses
// degree that does not divide the heads is refused before any rank starts, naming both numbers; --compile reaches
// every rank's DiT.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace {

const QString kCli = QString(DITSTUDIO_BINARY_DIR) + "/app/cli/ditstudio-cli";

// 5 frames of 64×64: latent [1, 16, 2, 8, 8] → 2·4·4 = 32 tokens after the 1×2×2 patches.
QStringList tinyBench() {
    return {"bench-usp", "--model-config", "1.3B", "--frames", "5",  "--height", "64",      "--width", "64",
            "--layers",  "1",              "--text-len", "16", "--device", "cpu", "--dtype", "float32",
            "--iters",   "2",              "--warmup", "1"};
}

QProcessEnvironment quietEnvironment() {
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert("OMP_NUM_THREADS", "1");
    environment.insert("DITSTUDIO_COMM_TIMEOUT_S", "60");
    return environment;
}

} // namespace

class UspBenchTest : public QObject {
    Q_OBJECT
private slots:
    void reportsSaneNumbers_data() {
        QTest::addColumn<QStringList>("split");
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("busyGroup"); // the group whose collectives this split must use
        QTest::newRow("ulysses 2") << QStringList{"--ulysses", "2"} << "u2r1c1" << "ulysses";
        QTest::newRow("ring 2") << QStringList{"--ring", "2"} << "u1r2c1" << "ring";
        QTest::newRow("cfg parallel") << QStringList{"--cfg-parallel"} << "u1r1c2" << "cfg";
        QTest::newRow("ulysses 2, compiled") << QStringList{"--ulysses", "2", "--compile", "default"} << "u2r1c1"
                                             << "ulysses";
    }

    void reportsSaneNumbers() {
        QFETCH(QStringList, split);
        QFETCH(QString, name);
        QFETCH(QString, busyGroup);
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString jsonPath = dir.filePath("bench.json");
        QProcess cli;
        cli.setProcessEnvironment(quietEnvironment());
        cli.start(kCli, tinyBench() + split + QStringList{"--json", jsonPath, "--timeout", "120"});
        QVERIFY(cli.waitForFinished(180000));
        const QString output = QString::fromUtf8(cli.readAllStandardOutput() + cli.readAllStandardError());
        QVERIFY2(cli.exitStatus() == QProcess::NormalExit && cli.exitCode() == 0, qPrintable(output));
        QVERIFY2(output.contains("bench-usp 1.3B 5x64x64 (32 tokens, 1 layers)"), qPrintable(output));

        std::ifstream in(jsonPath.toStdString());
        QVERIFY2(in.good(), qPrintable("no JSON written: " + output));
        const nlohmann::json r = nlohmann::json::parse(in);
        QCOMPARE(r.at("world").get<int>(), 2);
        QCOMPARE(QString::fromStdString(r.at("split").get<std::string>()), name);
        QCOMPARE(r.at("tokens").get<int64_t>(), int64_t{32});
        QCOMPARE(r.at("layers").get<int64_t>(), int64_t{1});
        QCOMPARE(r.at("backend").get<std::string>(), std::string("cpu-tcp"));
        QCOMPARE(r.at("comm_method").get<std::string>(), std::string("host-clock"));
        QCOMPARE(r.at("all_step_s").size(), size_t{2});
        const double step = r.at("step_s").get<double>(), comm = r.at("comm_s").get<double>();
        QVERIFY2(step > 0 && std::isfinite(step), qPrintable(QString("step_s %1").arg(step)));
        QVERIFY2(comm >= 0 && comm <= step, qPrintable(QString("comm_s %1, step_s %2").arg(comm).arg(step)));
        const double busy = r.at("comm_s_by_group").at(busyGroup.toStdString()).get<double>();
        QVERIFY2(busy > 0, qPrintable(QString("%1 comm %2: the split's collectives were not timed")
                                          .arg(busyGroup)
                                          .arg(busy)));
        QCOMPARE(r.at("comm_s_per_rank").size(), size_t{2});
        QCOMPARE(r.at("peak_rss_GiB").size(), size_t{2});
        for (const auto& rss : r.at("peak_rss_GiB")) {
            QVERIFY(rss.get<double>() > 0);
        }
        QVERIFY(!r.contains("peak_mem_GiB")); // CUDA only
        QVERIFY(r.at("output_finite").get<bool>());
        const std::string compile = r.at("compile").get<std::string>();
        if (split.contains("--compile")) {
            QVERIFY2(compile.starts_with("DiT compiled: default"), compile.c_str());
        } else {
            QCOMPARE(compile, std::string("eager"));
        }
    }

    void refusesUlyssesThatDoesNotDivideTheHeads() {
        QProcess cli;
        cli.setProcessEnvironment(quietEnvironment());
        cli.start(kCli, tinyBench() + QStringList{"--ulysses", "5"});
        QVERIFY(cli.waitForFinished(60000));
        const QString err = QString::fromUtf8(cli.readAllStandardError());
        QCOMPARE(cli.exitCode(), 2);
        QVERIFY2(err.contains("Ulysses degree 5 must divide the model's 12 attention heads"), qPrintable(err));
    }
};

QTEST_GUILESS_MAIN(UspBenchTest)
#include "test_usp_bench.moc"
