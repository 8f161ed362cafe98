// The whole studio window against a worker double: fill the prompt, generate, watch previews and progress reach
// 100 %, get the clip in the player and the output in the history, reuse its settings, cancel a job, see an
// impossible parallel split refused, an invalid preset refused with its line, and a failure explained.
#include "fake_worker_backend.h"
#include "ui/dialogs/preset_manager_dialog.h"
#include "ui/main_window.h"
#include "ui/models/gpu_model.h"
#include "ui/models/history_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/models/preset_model.h"
#include "ui/widgets/generation_panel.h"
#include "ui/widgets/history_view.h"
#include "ui/widgets/live_view.h"
#include "ui/widgets/parallel_panel.h"
#include "ui/widgets/player_widget.h"
#include "ui/widgets/status_panel.h"

#include <QApplication>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace ditstudio;
using namespace ditstudio::ui;
using ditstudio::ui::testing::FakeWorkerBackend;
using ditstudio::ui::testing::rgbPayload;

class MainWindowTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    FakeWorkerBackend* fake_ = nullptr;
    std::unique_ptr<WorkerClient> client_;
    std::unique_ptr<MainWindow> window_;
    QVector<ErrorAdvice> errors_;

    void writeFile(const QString& relative, const std::string& text) {
        QDir().mkpath(QFileInfo(dir_.filePath(relative)).absolutePath());
        std::ofstream(dir_.filePath(relative).toStdString()) << text;
    }

    void runJob(quint64 job, int steps, int frames) {
        fake_->emitEvent({{"type", "started"}, {"job", job}});
        fake_->emitEvent({{"type", "stage"}, {"job", job}, {"stage", "load"}, {"elapsed_s", 0.0}});
        fake_->emitEvent({{"type", "stage"}, {"job", job}, {"stage", "encode"}, {"elapsed_s", 0.5}});
        fake_->emitEvent({{"type", "stage"}, {"job", job}, {"stage", "denoise"}, {"elapsed_s", 0.7}});
        for (int step = 1; step <= steps; ++step) {
            fake_->emitEvent({{"type", "step"}, {"job", job}, {"step", step}, {"total", steps}, {"it_per_s", 4.0},
                              {"eta_s", (steps - step) / 4.0}, {"elapsed_s", 0.7 + step / 4.0}});
            fake_->emitEvent({{"type", "preview"}, {"job", job}, {"step", step}, {"frames", 2}, {"height", 4},
                              {"width", 4}, {"format", "rgb8"}},
                             rgbPayload(2, 4, 4, static_cast<uint8_t>(10 * step), 0, 0));
        }
        fake_->emitEvent({{"type", "stage"}, {"job", job}, {"stage", "decode"}, {"elapsed_s", 2.0}});
        fake_->emitEvent({{"type", "frames"}, {"job", job}, {"first_frame", 0}, {"count", frames}, {"height", 32},
                          {"width", 32}, {"format", "rgb8"}},
                         rgbPayload(frames, 32, 32, 40, 80, 120));
    }

private Q_SLOTS:
    void init() {
        QVERIFY(dir_.isValid());
        writeFile("builtin/quick.yaml", "schema_version: 1\nname: quick\ndescription: Quick\nsteps: 4\nnum_frames: 5\n"
                                        "width: 64\nheight: 64\n");
        QDir().mkpath(dir_.filePath("user"));
        auto backend = std::make_unique<FakeWorkerBackend>();
        fake_ = backend.get();
        fake_->gpus = {{{"index", 0}, {"name", "NVIDIA H100 80GB HBM3"}, {"memory_total_mib", 81559},
                        {"memory_used_mib", 100}, {"utilization_percent", 0}},
                       {{"index", 1}, {"name", "NVIDIA H100 80GB HBM3"}, {"memory_total_mib", 81559},
                        {"memory_used_mib", 100}, {"utilization_percent", 0}}};
        client_ = std::make_unique<WorkerClient>(std::move(backend));
        MainWindowOptions options;
        options.presets = PresetStore(dir_.filePath("builtin").toStdString(), dir_.filePath("user").toStdString());
        options.settingsFile = dir_.filePath("studio.ini");
        options.defaultModel = "/models/tiny";
        window_ = std::make_unique<MainWindow>(client_.get(), options);
        errors_.clear();
        window_->setErrorPresenter([this](const ErrorAdvice& advice) { errors_.push_back(advice); });
        window_->show();
        QTRY_VERIFY(client_->isConnected());
        QTRY_COMPARE(window_->gpuModel()->gpuCount(), 2);
    }
    void cleanup() {
        window_.reset();
        client_.reset();
    }

    void generatingShowsPreviewsProgressAndThenPlaysTheClip() {
        GenerationPanel* panel = window_->generationPanel();
        panel->findChild<QPlainTextEdit*>("promptEdit")->setPlainText("a red fox running through snow");
        QVERIFY(window_->loadPreset("quick"));
        panel->findChild<QPlainTextEdit*>("promptEdit")->setPlainText("a red fox running through snow");
        QVERIFY(panel->canSubmit());
        window_->findChild<QPushButton*>("generateButton")->click();
        QTRY_COMPARE(window_->queueModel()->rowCount(), 1);
        const auto submit = fake_->requestsOfType("submit").at(0);
        QCOMPARE(submit["settings"]["prompt"].get<std::string>(), std::string("a red fox running through snow"));
        QCOMPARE(submit["settings"]["steps"].get<int>(), 4);
        QCOMPARE(submit["model"].get<std::string>(), std::string("/models/tiny"));
        QCOMPARE(submit["priority"].get<int>(), 1);
        QCOMPARE(window_->liveView()->watchedJob(), quint64(1));
        QCOMPARE(window_->centralTabs()->currentWidget(), window_->liveView());

        runJob(1, 4, 5);
        QTRY_COMPARE(window_->liveView()->decodedFrameCount(), 5);
        QCOMPARE(window_->liveView()->previewCount(), 4);
        QCOMPARE(window_->liveView()->progressPercent(), 100);
        QVERIFY(window_->queueModel()->summaryAt(0).state == JobState::Running);
        QVERIFY(window_->findChild<QPushButton*>("cancelButton")->isEnabled());

        fake_->emitEvent({{"type", "finished"}, {"job", 1}, {"seed", 77},
                          {"outputs", {{"video", "/out/fox.mp4"}, {"sidecar", "/out/fox.mp4.json"}}},
                          {"timings", {{"load", 0.5}, {"encode", 0.2}, {"denoise", 1.3}, {"decode", 0.4}}}});
        QTRY_COMPARE(window_->queueModel()->summaryAt(0).state, JobState::Finished);
        QCOMPARE(window_->player()->frames().size(), 5);
        QCOMPARE(window_->centralTabs()->currentWidget(), window_->player());
        QVERIFY(window_->player()->controller().isPlaying());
        QVERIFY(!window_->findChild<QPushButton*>("cancelButton")->isEnabled());
        QVERIFY2(window_->liveView()->stageText().contains("denoise 1.30 s"),
                 qPrintable(window_->liveView()->stageText()));
        QTRY_COMPARE(window_->historyModel()->rowCount(), 1);
        QVERIFY(client_->waitForIdle(5000)); // the history query after the job, answered from the double's history
        QTRY_COMPARE(window_->historyModel()->entryAt(0).outputPath, QString("/out/fox.mp4"));
        QCOMPARE(window_->historyModel()->entryAt(0).prompt, QString("a red fox running through snow"));
        QCOMPARE(window_->historyModel()->entryAt(0).seed, qint64(77));
        QVERIFY(!window_->historyModel()->entryAt(0).thumbnail.isNull());
        QVERIFY(errors_.isEmpty());
    }

    void usingAnOutputsSettingsAgainFillsThePanels() {
        HistoryEntry entry;
        entry.job = 12;
        entry.prompt = "an owl at night";
        entry.seed = 31337;
        GenerationSettings used;
        used.prompt = "an owl at night";
        used.seed = 31337;
        used.steps = 9;
        used.width = 480;
        used.height = 832;
        used.compile.mode = CompileMode::ReduceOverhead;
        used.parallel.ulysses = 2;
        entry.settings = toQJson(used.toJson());
        entry.created = QDateTime::currentDateTime();
        window_->historyModel()->setEntries({entry});
        window_->historyView()->selectSourceRow(0);
        QVERIFY(window_->historyView()->detailsText().contains("31337"));
        window_->historyView()->useSelectedSettings();
        const GenerationSettings now = window_->currentSettings();
        QCOMPARE(QString::fromStdString(now.prompt), QString("an owl at night"));
        QCOMPARE(now.seed, int64_t(31337));
        QVERIFY(now.seedMode == SeedMode::Fixed);
        QCOMPARE(now.steps, int64_t(9));
        QCOMPARE(now.width, int64_t(480));
        QVERIFY(now.compile.mode == CompileMode::ReduceOverhead);
        QCOMPARE(now.parallel.ulysses, int64_t(2));
    }

    void deletingAnOutputTrashesItsFilesAndTellsTheWorker() {
        QVERIFY(QDir().mkpath(dir_.filePath("data")));
        qputenv("XDG_DATA_HOME", dir_.filePath("data").toUtf8()); // the trash of this test, not the user's
        const QString video = dir_.filePath("out/owl.mp4");
        writeFile("out/owl.mp4", "not really a video");
        writeFile("out/owl.mp4.json", "{}");
        HistoryEntry entry;
        entry.job = 12;
        entry.prompt = "an owl at night";
        entry.created = QDateTime::currentDateTime();
        window_->historyModel()->setEntries({entry});
        QTimer::singleShot(50, [] {
            auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
            QVERIFY(box);
            box->button(QMessageBox::Yes)->click();
        });
        Q_EMIT window_->historyView()->deleteRequested(12, video);
        QVERIFY(!QFileInfo::exists(video));
        QVERIFY(!QFileInfo::exists(video + ".json"));
        QVERIFY(QFileInfo::exists(dir_.filePath("data/Trash/files/owl.mp4"))); // trashed, not lost
        QCOMPARE(window_->historyModel()->rowCount(), 0);
        QVERIFY(client_->waitForIdle(5000));
        const auto requests = fake_->requestsOfType("delete_history");
        QCOMPARE(requests.size(), size_t(1));
        QCOMPARE(requests[0]["job"].get<uint64_t>(), uint64_t(12));
    }

    void escapeCancelsTheWatchedJob() {
        window_->generationPanel()->findChild<QPlainTextEdit*>("promptEdit")->setPlainText("a boat");
        window_->queueJob();
        QTRY_COMPARE(window_->queueModel()->rowCount(), 1);
        fake_->emitEvent({{"type", "started"}, {"job", 1}});
        QTRY_COMPARE(window_->queueModel()->summaryAt(0).state, JobState::Running);
        window_->activateWindow();
        QTest::keyClick(window_.get(), Qt::Key_Escape);
        QTRY_COMPARE(fake_->requestsOfType("cancel").size(), size_t(1));
        QCOMPARE(fake_->requestsOfType("cancel")[0]["job"].get<uint64_t>(), uint64_t(1));
        fake_->emitEvent({{"type", "cancelled"}, {"job", 1}});
        QTRY_COMPARE(window_->queueModel()->summaryAt(0).state, JobState::Cancelled);
        QVERIFY(window_->liveView()->progressText().contains("Cancelled"));
    }

    void anImpossibleParallelSplitBlocksGenerate() {
        auto* ulysses = window_->parallelPanel()->findChild<QSpinBox*>("ulyssesSpin");
        ulysses->setValue(5);
        QVERIFY(!window_->parallelPanel()->isValid());
        auto* generate = window_->findChild<QPushButton*>("generateButton");
        QVERIFY(!generate->isEnabled());
        const QString problem = window_->findChild<QLabel*>("problemLabel")->text();
        QVERIFY2(problem.contains("must divide the model's 12 attention heads"), qPrintable(problem));
        window_->generate(); // the shortcut path is refused too
        QVERIFY(client_->waitForIdle(5000));
        QCOMPARE(fake_->requestsOfType("submit").size(), size_t(0));
        ulysses->setValue(2);
        QVERIFY(generate->isEnabled());
    }

    void aModelFolderGivesItsOwnHeadCount() {
        auto* heads = window_->parallelPanel()->findChild<QSpinBox*>("headsSpin");
        QCOMPARE(heads->value(), 12); // "/models/tiny" does not exist: the default
        // The embedded demo model's DiT has 6 heads, which no name rule would guess.
        window_->generationPanel()->setModelName(QString(DITSTUDIO_SOURCE_DIR) + "/resources/demo-model");
        QTRY_COMPARE(heads->value(), 6);
        auto* ulysses = window_->parallelPanel()->findChild<QSpinBox*>("ulyssesSpin");
        ulysses->setValue(4);
        QVERIFY(!window_->parallelPanel()->isValid());
        const QString problem = window_->findChild<QLabel*>("problemLabel")->text();
        QVERIFY2(problem.contains("must divide the model's 6 attention heads"), qPrintable(problem));
    }

    void importingAnInvalidPresetShowsItsLine() {
        writeFile("broken.yaml", "schema_version: 1\nprompt: a cat\nnum_frames: 80\nsteps: 20\n");
        PresetManagerDialog dialog(window_->presetModel(), [this] { return window_->currentSettings(); });
        const QString error = dialog.importPreset(dir_.filePath("broken.yaml"));
        QVERIFY2(error.contains("broken.yaml:3:"), qPrintable(error));
        QVERIFY2(dialog.errorText().contains("num_frames"), qPrintable(dialog.errorText()));
        QCOMPARE(dialog.highlightedLine(), 3);
        QVERIFY(dialog.yamlText().contains("num_frames: 80"));
        QCOMPARE(window_->presetModel()->rowOfPreset("broken"), -1);
        QCOMPARE(errorLine("x/y.yaml:12:3: steps: bad"), 12);
    }

    void presetManagerCreatesRenamesAndDeletes() {
        PresetManagerDialog dialog(window_->presetModel(), [this] { return window_->currentSettings(); });
        window_->generationPanel()->findChild<QPlainTextEdit*>("promptEdit")->setPlainText("saved prompt");
        QCOMPARE(dialog.createPreset("mine"), QString());
        QCOMPARE(dialog.selectedPreset(), QString("mine"));
        QVERIFY(dialog.yamlText().contains("saved prompt"));
        QCOMPARE(dialog.duplicatePreset("quick", "quick-copy"), QString());
        QCOMPARE(dialog.renamePreset("quick-copy", "faster"), QString());
        QVERIFY(!dialog.renamePreset("quick", "other").isEmpty()); // built-in
        QVERIFY(dialog.errorText().contains("quick"));
        QCOMPARE(dialog.deletePreset("faster"), QString());
        QCOMPARE(window_->presetModel()->rowCount(), 2);
        QCOMPARE(dialog.exportPreset("mine", dir_.filePath("mine-export.yaml")), QString());
        QCOMPARE(QString::fromStdString(loadPresetFile(dir_.filePath("mine-export.yaml").toStdString()).prompt),
                 QString("saved prompt"));
    }

    void aFailedJobIsExplainedWithAdvice() {
        window_->generationPanel()->findChild<QPlainTextEdit*>("promptEdit")->setPlainText("a huge video");
        window_->generate();
        QTRY_COMPARE(window_->queueModel()->rowCount(), 1);
        fake_->emitEvent({{"type", "started"}, {"job", 1}});
        fake_->emitEvent({{"type", "failed"}, {"job", 1}, {"stage", "denoise"},
                          {"reason", "CUDA out of memory. Tried to allocate 20.00 GiB"}});
        QTRY_COMPARE(errors_.size(), 1);
        QCOMPARE(errors_[0].title, QString("Out of memory"));
        QVERIFY(errors_[0].advice.contains("Lower the size"));
        QVERIFY(errors_[0].details.contains("Tried to allocate"));
        QVERIFY(window_->queueModel()->summaryAt(0).state == JobState::Failed);
        QVERIFY(window_->statusPanel()->logText().contains("out of memory"));
    }

    void aLostWorkerIsExplainedAndBlocksSubmitting() {
        fake_->dropConnection("the worker closed the connection");
        QTRY_COMPARE(errors_.size(), 1);
        QCOMPARE(errors_[0].title, QString("The connection to the worker was lost"));
        QVERIFY(errors_[0].advice.contains("Reconnect"));
        QVERIFY(!window_->generationPanel()->canSubmit());
    }

    void windowLayoutAndSettingsAreRemembered() {
        window_->generationPanel()->findChild<QPlainTextEdit*>("promptEdit")->setPlainText("remember me");
        window_->generationPanel()->findChild<QSpinBox*>("stepsSpin")->setValue(17);
        window_->resize(1234, 900);
        const QSize size = window_->size(); // at least the window's minimum size
        QVERIFY(size != QSize(1600, 1000));
        window_->close();
        window_.reset();
        MainWindowOptions options;
        options.presets = PresetStore(dir_.filePath("builtin").toStdString(), dir_.filePath("user").toStdString());
        options.settingsFile = dir_.filePath("studio.ini");
        options.isConnectingAtStart = false;
        MainWindow again(client_.get(), options);
        QCOMPARE(QString::fromStdString(again.currentSettings().prompt), QString("remember me"));
        QCOMPARE(again.currentSettings().steps, int64_t(17));
        QCOMPARE(again.generationPanel()->modelName(), QString("/models/tiny"));
        QCOMPARE(again.size(), size);
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    MainWindowTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_main_window.moc"
