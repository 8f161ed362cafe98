// Every case of ../shared/golden through the verify runner, one data row per case, float32 on the CPU.
#include "core/verify/golden.h"

#include <QtTest/QtTest>

using namespace ditstudio;

class GoldenTest : public QObject {
    Q_OBJECT
private slots:
    void goldenCasePasses_data() {
        QTest::addColumn<QString>("caseName");
        for (const char* name : {"dit_a", "dit_b", "scheduler", "noise", "vae_tiny", "pipeline_tiny", "t5_tiny"}) {
            QTest::newRow(name) << QString(name);
        }
    }
    void goldenCasePasses() {
        QFETCH(QString, caseName);
        const auto results = verify::runCases(DITSTUDIO_GOLDEN_DIR, {caseName.toStdString()}, verify::Options{});
        QCOMPARE(results.size(), size_t(1));
        const auto& r = results.front();
        const QString line = QString::fromStdString(verify::formatResult(r));
        if (r.status == verify::Status::Skip) {
            QSKIP(qPrintable(line));
        }
        QVERIFY2(r.status == verify::Status::Pass, qPrintable(line));
        QVERIFY2(!r.checks.empty(), "a passing case must have compared something");
    }
    void unknownCaseIsAClearError() {
        try {
            verify::runCases(DITSTUDIO_GOLDEN_DIR, {"no_such_case"}, verify::Options{});
            QFAIL("expected an error");
        } catch (const std::exception& e) {
            QVERIFY2(QString(e.what()).contains("no case 'no_such_case'"), e.what());
        }
    }
    void missingDirectoryIsAClearError() {
        try {
            verify::runCases("/nonexistent/golden", {}, verify::Options{});
            QFAIL("expected an error");
        } catch (const std::exception& e) {
            QVERIFY2(QString(e.what()).contains("/nonexistent/golden: no such directory"), e.what());
        }
    }
    void corruptedReferenceMakesTheCaseFail() {
        // A checker that compares against a tampered reference must report FAIL with where it diverges.
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const QString src = DITSTUDIO_GOLDEN_DIR;
        for (const char* f : {"scheduler.case.safetensors"}) {
            QVERIFY(QFile::copy(src + "/" + f, tmp.path() + "/" + f));
        }
        const auto file = io::SafetensorsFile::open((tmp.path() + "/scheduler.case.safetensors").toStdString());
        std::vector<std::pair<std::string, at::Tensor>> tensors;
        for (const auto& info : file.tensors()) {
            at::Tensor t = file.tensor(info.name).clone();
            if (info.name == "s1.sigmas") {
                t[5] += 1e-3;
            }
            tensors.emplace_back(info.name, t);
        }
        io::saveSafetensors((tmp.path() + "/scheduler.case.safetensors").toStdString(), tensors);
        QFile manifest(tmp.path() + "/manifest.json");
        QVERIFY(manifest.open(QIODevice::WriteOnly));
        manifest.write(R"({"cases": {"sched": {"kind": "scheduler", "case": "scheduler.case.safetensors",
                          "settings": [[50, 5.0, 1.0], [30, 3.0, 1.0]]}}})");
        manifest.close();
        const auto results = verify::runCases(tmp.path().toStdString(), {}, verify::Options{});
        QCOMPARE(results.front().status, verify::Status::Fail);
        const auto line = verify::formatResult(results.front());
        QVERIFY2(line.find("first diverges at s1.sigmas") != std::string::npos, line.c_str());
    }
};

QTEST_GUILESS_MAIN(GoldenTest)
#include "test_golden.moc"
