// The settings panels: the generation panel's validation (data-driven rows with their reasons), the settings JSON it
// produces, seeds, token counts and prompt history; the parallel panel's live check of degrees against heads and
// GPUs; the compile panel's round trip.
#include "ui/models/gpu_model.h"
#include "ui/widgets/compile_panel.h"
#include "ui/widgets/generation_panel.h"
#include "ui/widgets/parallel_panel.h"

#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QToolButton>
#include <QCheckBox>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace ditstudio;
using namespace ditstudio::ui;

namespace {

template <typename T>
T* child(QWidget* parent, const char* name) {
    T* found = parent->findChild<T*>(name);
    if (!found) {
        qFatal("no child %s", name);
    }
    return found;
}

QVector<GpuInfo> gpus(int count) {
    QVector<GpuInfo> list;
    for (int i = 0; i < count; ++i) {
        list.push_back(GpuInfo{i, "NVIDIA H100 80GB HBM3", 80LL << 30, 0, 0, -1});
    }
    return list;
}

} // namespace

class PanelsTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void invalidValuesAreRefusedWithTheirReason_data() {
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("frames");
        QTest::addColumn<QString>("seed");
        QTest::addColumn<QString>("key");       // empty: valid
        QTest::addColumn<QString>("fragment");  // part of the reason shown
        QTest::newRow("defaults are valid") << 832 << 480 << 81 << "42" << "" << "";
        QTest::newRow("width 830 is not a multiple of 16") << 830 << 480 << 81 << "42" << "width" << "830";
        QTest::newRow("height 500 is not a multiple of 16") << 832 << 500 << 81 << "42" << "height" << "500";
        QTest::newRow("80 frames is not 4k+1") << 832 << 480 << 80 << "42" << "num_frames" << "4k+1";
        QTest::newRow("2 frames is not 4k+1") << 832 << 480 << 2 << "42" << "num_frames" << "4k+1";
        QTest::newRow("1 frame is an image") << 832 << 480 << 1 << "42" << "" << "";
        QTest::newRow("empty seed") << 832 << 480 << 81 << "" << "seed" << "seed";
        QTest::newRow("64x64 test size") << 64 << 64 << 5 << "0" << "" << "";
    }
    void invalidValuesAreRefusedWithTheirReason() {
        QFETCH(int, width);
        QFETCH(int, height);
        QFETCH(int, frames);
        QFETCH(QString, seed);
        QFETCH(QString, key);
        QFETCH(QString, fragment);
        GenerationPanel panel;
        panel.setModelName("/models/wan");
        child<QSpinBox>(&panel, "widthSpin")->setValue(width);
        child<QSpinBox>(&panel, "heightSpin")->setValue(height);
        child<QSpinBox>(&panel, "framesSpin")->setValue(frames);
        child<QLineEdit>(&panel, "seedEdit")->setText(seed);
        auto* problemLabel = child<QLabel>(&panel, "problemLabel");
        auto* generate = child<QPushButton>(&panel, "generateButton");
        if (key.isEmpty()) {
            QVERIFY2(!panel.problem().has_value(), qPrintable(panel.problem() ? panel.problem()->message : QString()));
            QVERIFY(generate->isEnabled());
            QVERIFY(problemLabel->text().isEmpty());
        } else {
            QVERIFY(panel.problem().has_value());
            QCOMPARE(panel.problem()->key, key);
            QVERIFY2(problemLabel->text().contains(fragment), qPrintable(problemLabel->text()));
            QVERIFY(!generate->isEnabled());
            QVERIFY(!child<QPushButton>(&panel, "queueButton")->isEnabled());
        }
    }

    void withoutAModelNothingCanBeSubmitted() {
        GenerationPanel panel;
        panel.setModelName("");
        QVERIFY(!panel.canSubmit());
        QVERIFY(child<QLabel>(&panel, "problemLabel")->text().contains("model"));
        panel.setModelName("/models/wan");
        QVERIFY(panel.canSubmit());
        panel.setExternalProblem("Parallel: no");
        QVERIFY(!panel.canSubmit());
        QCOMPARE(child<QLabel>(&panel, "problemLabel")->text(), QString("Parallel: no"));
        panel.setExternalProblem({});
        QVERIFY(panel.canSubmit());
    }

    void panelProducesTheSettingsJsonOfItsWidgets() {
        GenerationPanel panel;
        panel.setModelName("/models/wan");
        child<QPlainTextEdit>(&panel, "promptEdit")->setPlainText("a red fox running through snow");
        child<QPlainTextEdit>(&panel, "negativePromptEdit")->setPlainText("blurry");
        child<QLineEdit>(&panel, "seedEdit")->setText("1234");
        auto* sizes = child<QComboBox>(&panel, "sizeCombo");
        sizes->setCurrentIndex(1);
        Q_EMIT sizes->activated(1); // 480 x 832 portrait
        child<QSpinBox>(&panel, "framesSpin")->setValue(33);
        child<QSpinBox>(&panel, "fpsSpin")->setValue(24);
        child<QSpinBox>(&panel, "stepsSpin")->setValue(30);
        child<QDoubleSpinBox>(&panel, "cfgSpin")->setValue(6.5);
        child<QDoubleSpinBox>(&panel, "shiftSpin")->setValue(3.0);

        GenerationSettings base;
        base.parallel.ulysses = 2; // kept from the base: the parallel panel's
        const nlohmann::json json = panel.settings(base).toJson();
        QCOMPARE(json["prompt"].get<std::string>(), std::string("a red fox running through snow"));
        QCOMPARE(json["negative_prompt"].get<std::string>(), std::string("blurry"));
        QCOMPARE(json["seed"].get<int64_t>(), int64_t(1234));
        QCOMPARE(json["seed_mode"].get<std::string>(), std::string("fixed"));
        QCOMPARE(json["width"].get<int64_t>(), int64_t(480));
        QCOMPARE(json["height"].get<int64_t>(), int64_t(832));
        QCOMPARE(json["num_frames"].get<int64_t>(), int64_t(33));
        QCOMPARE(json["fps"].get<int64_t>(), int64_t(24));
        QCOMPARE(json["steps"].get<int64_t>(), int64_t(30));
        QCOMPARE(json["cfg_scale"].get<double>(), 6.5);
        QCOMPARE(json["shift"].get<double>(), 3.0);
        QCOMPARE(json["parallel"]["ulysses"].get<int64_t>(), int64_t(2));
        // The worker reads it back strictly: the JSON is a valid settings document.
        QVERIFY(GenerationSettings::fromJson(json) == panel.settings(base));
    }

    void setSettingsShowsEveryField() {
        GenerationSettings s;
        s.prompt = "an owl";
        s.negativePrompt = "noise";
        s.seed = 99;
        s.seedMode = SeedMode::Increment;
        s.width = 1280;
        s.height = 720;
        s.numFrames = 49;
        s.fps = 8;
        s.steps = 12;
        s.cfgScale = 1.0;
        s.shift = 8.0;
        GenerationPanel panel;
        panel.setSettings(s);
        QVERIFY(panel.settings() == s);
        QCOMPARE(child<QComboBox>(&panel, "sizeCombo")->currentData().toSize(), QSize(1280, 720));
    }

    void seedModesResolveOnSubmit_data() {
        QTest::addColumn<int>("mode");
        QTest::addColumn<bool>("isSameSeed");
        QTest::addColumn<QString>("seedAfter");
        QTest::newRow("fixed keeps the seed") << int(SeedMode::Fixed) << true << "500";
        QTest::newRow("increment uses it, then adds one") << int(SeedMode::Increment) << true << "501";
        QTest::newRow("random draws a new one") << int(SeedMode::Random) << false << "500";
    }
    void seedModesResolveOnSubmit() {
        QFETCH(int, mode);
        QFETCH(bool, isSameSeed);
        QFETCH(QString, seedAfter);
        GenerationPanel panel;
        GenerationSettings s;
        s.seed = 500;
        s.seedMode = static_cast<SeedMode>(mode);
        panel.setSettings(s);
        bool isDifferent = false;
        for (int i = 0; i < 4; ++i) { // a random draw equal to 500 four times running does not happen
            const GenerationSettings submitted = panel.settingsForSubmit();
            QVERIFY(submitted.seedMode == SeedMode::Fixed);
            isDifferent = isDifferent || submitted.seed != 500 + (mode == int(SeedMode::Increment) ? i : 0);
            if (mode != int(SeedMode::Increment)) {
                break;
            }
        }
        QCOMPARE(!isDifferent, isSameSeed);
        if (mode != int(SeedMode::Increment)) {
            QCOMPARE(child<QLineEdit>(&panel, "seedEdit")->text(), seedAfter);
        } else {
            QCOMPARE(child<QLineEdit>(&panel, "seedEdit")->text(), QString("504"));
        }
    }

    void diceRollsANewSeed() {
        GenerationPanel panel;
        auto* seed = child<QLineEdit>(&panel, "seedEdit");
        seed->setText("7");
        QSet<QString> seen;
        for (int i = 0; i < 5; ++i) {
            child<QToolButton>(&panel, "diceButton")->click();
            seen.insert(seed->text());
        }
        QVERIFY(seen.size() > 1);
        QVERIFY(!seen.contains("7") || seen.size() > 2);
    }

    void tokenCountIsLabelledAsAnEstimateWithoutATokenizer() {
        GenerationPanel panel;
        auto* label = child<QLabel>(&panel, "tokenLabel");
        child<QPlainTextEdit>(&panel, "promptEdit")->setPlainText("a red fox");
        QVERIFY(panel.isTokenCountEstimate());
        QVERIFY2(label->text().contains("estimate"), qPrintable(label->text()));
        QVERIFY(label->text().contains("/ 512"));
        QCOMPARE(panel.promptTokenCount(), estimateTokenCount("a red fox"));
        panel.setTokenCounter([](const QString& text) { return static_cast<int>(text.size()) * 100; });
        QVERIFY(!panel.isTokenCountEstimate());
        QVERIFY2(label->text().startsWith("900 / 512"), qPrintable(label->text()));
        QVERIFY2(label->text().contains("over the limit"), qPrintable(label->text()));
    }

    void tokenEstimateCountsWordsCjkAndPunctuation_data() {
        QTest::addColumn<QString>("prompt");
        QTest::addColumn<int>("tokens");
        QTest::newRow("empty is EOS only") << "" << 1;
        QTest::newRow("three short words") << "a red fox" << 4;
        QTest::newRow("a long word is several pieces") << "extraordinarily" << 5;
        QTest::newRow("punctuation") << "fox, snow." << 5;
        QTest::newRow("CJK characters one each") << QString::fromUtf8("色调艳丽") << 5;
    }
    void tokenEstimateCountsWordsCjkAndPunctuation() {
        QFETCH(QString, prompt);
        QFETCH(int, tokens);
        QCOMPARE(estimateTokenCount(prompt), tokens);
    }

    void promptHistoryIsMostRecentFirstWithoutDuplicates() {
        GenerationPanel panel;
        panel.rememberPrompt("a cat");
        panel.rememberPrompt("a dog");
        panel.rememberPrompt("  a cat ");
        panel.rememberPrompt("");
        QCOMPARE(panel.promptHistory(), (QStringList{"a cat", "a dog"}));
        for (int i = 0; i < 80; ++i) {
            panel.rememberPrompt(QString("prompt %1").arg(i));
        }
        QCOMPARE(panel.promptHistory().size(), GenerationPanel::kMaxPromptHistory);
        QCOMPARE(panel.promptHistory().front(), QString("prompt 79"));
    }

    void buttonsEmitTheirRequests() {
        GenerationPanel panel;
        panel.setModelName("/models/wan");
        QSignalSpy generate(&panel, &GenerationPanel::generateRequested);
        QSignalSpy queue(&panel, &GenerationPanel::queueRequested);
        QSignalSpy cancel(&panel, &GenerationPanel::cancelRequested);
        child<QPushButton>(&panel, "generateButton")->click();
        child<QPushButton>(&panel, "queueButton")->click();
        QVERIFY(!child<QPushButton>(&panel, "cancelButton")->isEnabled());
        panel.setBusy(true);
        child<QPushButton>(&panel, "cancelButton")->click();
        QCOMPARE(generate.count(), 1);
        QCOMPARE(queue.count(), 1);
        QCOMPARE(cancel.count(), 1);
    }

    void parallelDegreesAreCheckedAgainstHeadsAndGpus_data() {
        QTest::addColumn<QString>("device");
        QTest::addColumn<int>("ulysses");
        QTest::addColumn<int>("ring");
        QTest::addColumn<bool>("cfgParallel");
        QTest::addColumn<int>("heads");
        QTest::addColumn<int>("gpuCount");
        QTest::addColumn<double>("cfgScale");
        QTest::addColumn<QString>("reason"); // empty: valid
        QTest::newRow("one rank anywhere") << "auto" << 1 << 1 << false << 12 << 0 << 5.0 << "";
        QTest::newRow("ulysses 2 x ring 2 on 4 GPUs") << "auto" << 2 << 2 << false << 12 << 4 << 5.0 << "";
        QTest::newRow("ulysses 8 divides 40 heads (14B)") << "cuda" << 8 << 1 << false << 40 << 8 << 5.0 << "";
        QTest::newRow("ulysses 5 does not divide 12 heads") << "auto" << 5 << 1 << false << 12 << 8 << 5.0
                                                            << "must divide the model's 12 attention heads";
        QTest::newRow("ulysses 8 does not divide 12 heads") << "cuda" << 8 << 1 << false << 12 << 8 << 5.0
                                                            << "1, 2, 3, 4, 6, 12";
        QTest::newRow("world 4 on 2 GPUs") << "auto" << 2 << 2 << false << 12 << 2 << 5.0 << "need 4 GPUs";
        QTest::newRow("cfg parallel doubles the world") << "cuda" << 2 << 1 << true << 12 << 2 << 5.0
                                                        << "= 4 ranks need 4 GPUs";
        QTest::newRow("cfg parallel without guidance") << "auto" << 1 << 1 << true << 12 << 2 << 1.0
                                                       << "classifier-free guidance";
        QTest::newRow("cuda without GPUs") << "cuda" << 1 << 1 << false << 12 << 0 << 5.0 << "no GPU";
        QTest::newRow("cpu ranks need no GPU") << "cpu" << 2 << 2 << false << 12 << 0 << 5.0 << "";
    }
    void parallelDegreesAreCheckedAgainstHeadsAndGpus() {
        QFETCH(QString, device);
        QFETCH(int, ulysses);
        QFETCH(int, ring);
        QFETCH(bool, cfgParallel);
        QFETCH(int, heads);
        QFETCH(int, gpuCount);
        QFETCH(double, cfgScale);
        QFETCH(QString, reason);
        GpuModel model;
        model.setGpus(gpus(gpuCount));
        ParallelPanel panel(&model);
        panel.setModelHeads(heads);
        panel.setCfgScale(cfgScale);
        ParallelSettings s;
        s.device = device.toStdString();
        s.ulysses = ulysses;
        s.ring = ring;
        s.cfgParallel = cfgParallel;
        panel.setParallelSettings(s);
        QCOMPARE(panel.parallelSettings().ulysses, int64_t(ulysses));
        auto* verdict = child<QLabel>(&panel, "parallelVerdict");
        QCOMPARE(panel.isValid(), reason.isEmpty());
        if (!reason.isEmpty()) {
            QVERIFY2(verdict->text().contains(reason), qPrintable(verdict->text()));
        } else {
            QVERIFY2(verdict->text().contains("works"), qPrintable(verdict->text()));
        }
    }

    void editingADegreeRechecksLive() {
        GpuModel model;
        model.setGpus(gpus(2));
        ParallelPanel panel(&model);
        QSignalSpy validity(&panel, &ParallelPanel::validityChanged);
        auto* ulysses = child<QSpinBox>(&panel, "ulyssesSpin");
        ulysses->setValue(5);
        QVERIFY(!panel.isValid());
        QCOMPARE(validity.count(), 1);
        ulysses->setValue(2);
        QVERIFY(panel.isValid());
        QCOMPARE(validity.count(), 2);
        QCOMPARE(child<QLabel>(&panel, "worldLabel")->text().left(9), QString("2 rank(s)"));
    }

    void untickedGpusBecomeTheExplicitGpuList() {
        GpuModel model;
        model.setGpus(gpus(4));
        ParallelPanel panel(&model);
        ParallelSettings s;
        s.ulysses = 2;
        panel.setParallelSettings(s);
        QVERIFY(panel.parallelSettings().gpus.empty()); // all ticked: the first two
        model.setData(model.index(0, GpuModel::IndexColumn), Qt::Unchecked, Qt::CheckStateRole);
        model.setData(model.index(2, GpuModel::IndexColumn), Qt::Unchecked, Qt::CheckStateRole);
        QVERIFY(panel.parallelSettings().gpus == (std::vector<int>{1, 3}));
        QVERIFY(panel.isValid());
        model.setData(model.index(3, GpuModel::IndexColumn), Qt::Unchecked, Qt::CheckStateRole);
        QVERIFY(!panel.isValid()); // one GPU for two ranks
        QVERIFY(child<QLabel>(&panel, "parallelVerdict")->text().contains("parallel.gpus"));
    }

    void compilePanelRoundTripsItsSettings() {
        CompilePanel panel;
        CompileSettings s;
        s.mode = CompileMode::MaxAutotune;
        s.dynamic = false;
        s.fullgraph = true;
        s.models = {"dit", "vae"};
        QSignalSpy edited(&panel, &CompilePanel::settingsEdited);
        panel.setCompileSettings(s);
        QCOMPARE(edited.count(), 0);
        QVERIFY(panel.compileSettings() == s);
        child<QCheckBox>(&panel, "compileTextEncoder")->setChecked(true);
        QCOMPARE(edited.count(), 1);
        QVERIFY(panel.compileSettings().models == (std::vector<std::string>{"dit", "vae", "text_encoder"}));
        QVERIFY(child<QLabel>(&panel, "compileModeExplanation")->text().contains("measures the attention backends"));
        panel.setCompileSettings(CompileSettings{});
        QVERIFY(!child<QCheckBox>(&panel, "compileDynamic")->isEnabled()); // eager: the knobs do nothing
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    PanelsTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_panels.moc"
