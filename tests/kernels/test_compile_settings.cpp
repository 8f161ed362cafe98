// The compile knobs: names round-trip, bad values are ConfigErrors that name the knob and the valid values.
#include "core/util/error.h"
#include "kernels/compile_settings.h"

#include <QtTest/QtTest>

using namespace ditstudio;
using namespace ditstudio::kernels;

class CompileSettingsTest : public QObject {
    Q_OBJECT
private slots:
    void everyModeNameRoundTrips_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<bool>("graphs");
        QTest::addColumn<bool>("autotune");
        QTest::newRow("none") << "none" << false << false;
        QTest::newRow("default") << "default" << false << false;
        QTest::newRow("reduce-overhead") << "reduce-overhead" << true << false;
        QTest::newRow("max-autotune") << "max-autotune" << true << true;
        QTest::newRow("max-autotune-no-cudagraphs") << "max-autotune-no-cudagraphs" << false << true;
    }
    void everyModeNameRoundTrips() {
        QFETCH(QString, name);
        QFETCH(bool, graphs);
        QFETCH(bool, autotune);
        const CompileMode mode = compileModeFromName(name.toStdString());
        QCOMPARE(QString::fromStdString(compileModeName(mode)), name);
        QCOMPARE(usesCudaGraphs(mode), graphs);
        QCOMPARE(usesAutotune(mode), autotune);
        QCOMPARE(usesFusedKernels(mode), name != "none");
    }
    void unknownModeListsTheValidOnes() {
        try {
            compileModeFromName("max-overdrive");
            QFAIL("expected a ConfigError");
        } catch (const ConfigError& e) {
            const QString what = e.what();
            QVERIFY2(what.contains("compile.mode") && what.contains("'max-overdrive'") &&
                         what.contains("reduce-overhead") && what.contains("max-autotune-no-cudagraphs"),
                     e.what());
        }
    }
    void modelListsParse_data() {
        QTest::addColumn<QString>("input");
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("dit") << "dit" << QStringList{"dit"};
        QTest::newRow("dit,vae") << "dit,vae" << QStringList{"dit", "vae"};
        QTest::newRow("spaces") << " dit , text_encoder" << QStringList{"dit", "text_encoder"};
    }
    void modelListsParse() {
        QFETCH(QString, input);
        QFETCH(QStringList, expected);
        QStringList got;
        for (const auto& m : parseCompileModels(input.toStdString())) {
            got << QString::fromStdString(m);
        }
        QCOMPARE(got, expected);
    }
    void badModelListsNameTheProblem_data() {
        QTest::addColumn<QString>("input");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown model") << "dit,unet" << "unknown model 'unet'";
        QTest::newRow("duplicate") << "dit,dit" << "'dit' is listed twice";
        QTest::newRow("empty entry") << "dit,,vae" << "empty entry";
        QTest::newRow("empty list") << "" << "compile.models is empty";
    }
    void badModelListsNameTheProblem() {
        QFETCH(QString, input);
        QFETCH(QString, message);
        try {
            parseCompileModels(input.toStdString());
            QFAIL("expected a ConfigError");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains(message), e.what());
            QVERIFY2(QString(e.what()).contains("compile.models"), e.what());
        }
    }
    void emptyModelsAreFineWhenNotCompiling() {
        CompileSettings s;
        s.mode = CompileMode::None;
        s.models.clear();
        validateCompileSettings(s); // no throw
        QVERIFY(!compilesModel(s, "dit"));
        s.mode = CompileMode::Default;
        QVERIFY_THROWS_EXCEPTION(ConfigError, validateCompileSettings(s));
    }
    void compilesOnlyTheNamedModels() {
        CompileSettings s;
        s.mode = CompileMode::ReduceOverhead;
        s.models = {"vae"};
        QVERIFY(compilesModel(s, "vae"));
        QVERIFY(!compilesModel(s, "dit"));
        s.fullgraph = true;
        s.dynamic = false;
        QCOMPARE(QString::fromStdString(describe(s)), QString("reduce-overhead fullgraph models=vae"));
    }
};

QTEST_GUILESS_MAIN(CompileSettingsTest)
#include "test_compile_settings.moc"
