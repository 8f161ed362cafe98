// The studio end to end on the CPU: the real widgets, the real worker client, a real ditstudio-worker with real
// ranks, and a model folder made from the golden tiny models (as tests/service/test_worker_e2e.cpp makes it).
// Fill the prompt, generate, see previews arrive and the progress reach 100 %, play the result, export it and read
// the file back, reuse its settings from the history, cancel a job.
#include "../service/worker_process.h"
#include "../service/tiny_model.h"
#include "core/io/model_folder.h"
#include "ui/client/socket_backend.h"
#include "ui/client/worker_client.h"
#include "ui/dialogs/export_dialog.h"
#include "ui/main_window.h"
#include "ui/media/video_reader.h"
#include "ui/models/history_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/widgets/generation_panel.h"
#include "ui/widgets/history_view.h"
#include "ui/widgets/live_view.h"
#include "ui/widgets/player_widget.h"

#include <QApplication>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>


#include <fstream>

using namespace ditstudio;
using namespace ditstudio::ui;

class StudioE2ETest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::string model_;
    std::unique_ptr<testing::WorkerProcess> worker_;
    std::unique_ptr<WorkerClient> client_;
    std::unique_ptr<MainWindow> window_;
    QVector<ErrorAdvice> errors_;

    GenerationSettings tinySettings(int64_t steps) const {
        GenerationSettings s;
        s.prompt = "a red fox running through snow";
        s.negativePrompt = "blurry";
        s.seed = 7;
        s.steps = steps;
        s.width = 48;
        s.height = 32;
        s.numFrames = 9;
        s.fps = 8;
        s.dtype = "float32";
        s.vae.tiled = false;
        s.parallel.device = "cpu";
        s.exportSettings.format = ExportFormat::PngSequence;
        s.exportSettings.directory = dir_.filePath("out").toStdString();
        s.exportSettings.filenameTemplate = "job{job}_{seed}";
        return s;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_ = dir_.filePath("tiny-model").toStdString();
        const std::string built = makeTinyGoldenModel(model_, DITSTUDIO_GOLDEN_DIR);
        QVERIFY2(built.empty(), built.c_str());
        io::ModelFolder::open(model_);

        worker_ = std::make_unique<testing::WorkerProcess>(dir_.filePath("worker"));
        QVERIFY2(worker_->start({"--rank-exe", DITSTUDIO_BINARY_DIR "/app/rank/ditstudio-rank", "--preview-interval-s",
                                 "0", "--idle-release-s", "120"}),
                 qPrintable(worker_->output()));

        SocketBackendOptions options;
        options.endpoint = worker_->endpoint();
        options.isStartingWorker = false;
        client_ = std::make_unique<WorkerClient>(std::make_unique<SocketBackend>(options));
        MainWindowOptions windowOptions;
        windowOptions.presets = PresetStore(PresetStore::defaultBuiltinDir(), dir_.filePath("user-presets").toStdString());
        windowOptions.settingsFile = dir_.filePath("studio.ini");
        windowOptions.defaultModel = QString::fromStdString(model_);
        window_ = std::make_unique<MainWindow>(client_.get(), windowOptions);
        window_->setErrorPresenter([this](const ErrorAdvice& advice) { errors_.push_back(advice); });
        window_->show();
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 20000);
    }
    void cleanupTestCase() {
        window_.reset();
        client_.reset();
        if (worker_ && QTest::currentTestFailed()) {
            qWarning().noquote() << worker_->output();
        }
    }

    void generatingShowsPreviewsAndPlaysTheResult() {
        window_->applySettings(tinySettings(4));
        window_->generationPanel()->findChild<QPlainTextEdit*>("promptEdit")->setPlainText(
            "a red fox running through snow");
        QVERIFY(window_->generationPanel()->canSubmit());
        window_->findChild<QPushButton*>("generateButton")->click();
        QTRY_VERIFY_WITH_TIMEOUT(window_->liveView()->watchedJob() != 0, 10000);
        const quint64 job = window_->liveView()->watchedJob();
        QTRY_COMPARE_WITH_TIMEOUT(window_->queueModel()->summaryAt(window_->queueModel()->rowOfJob(job)).state ==
                                      JobState::Finished,
                                  true, 300000);
        QVERIFY2(errors_.isEmpty(), errors_.isEmpty() ? "" : qPrintable(errors_[0].details));
        QVERIFY(window_->liveView()->previewCount() >= 1);
        QCOMPARE(window_->liveView()->progressPercent(), 100);
        QCOMPARE(window_->liveView()->decodedFrameCount(), 9);
        QCOMPARE(window_->player()->frames().size(), 9);
        QCOMPARE(window_->player()->frames()[0].size(), QSize(48, 32));
        QVERIFY(window_->player()->controller().isPlaying());
        QVERIFY2(window_->liveView()->stageText().contains("denoise"), qPrintable(window_->liveView()->stageText()));

        // Export what the player holds, then read the file back.
        ExportDialog dialog(window_->player()->frames(), window_->player()->fps(), dir_.filePath("fox.gif"));
        dialog.setFormat(hasEncoderFor(ExportFormat::Mp4) ? ExportFormat::Mp4 : ExportFormat::Gif);
        QSignalSpy exported(&dialog, &ExportDialog::exportFinished);
        dialog.startExport();
        QTRY_COMPARE_WITH_TIMEOUT(exported.count(), 1, 60000);
        QVERIFY2(exported.at(0).at(0).toBool(), qPrintable(exported.at(0).at(1).toString()));
        const DecodedClip clip = readClip(exported.at(0).at(1).toString());
        QCOMPARE(clip.frames.size(), 9);

        // The history lists it (from the worker's database); its settings come back into the panels.
        QTRY_VERIFY_WITH_TIMEOUT(window_->historyModel()->rowOfJob(job) >= 0, 20000);
        const int row = window_->historyModel()->rowOfJob(job);
        QVERIFY(QFileInfo::exists(window_->historyModel()->entryAt(row).outputPath));
        window_->generationPanel()->findChild<QPlainTextEdit*>("promptEdit")->setPlainText("something else");
        window_->historyView()->selectSourceRow(row);
        window_->historyView()->useSelectedSettings();
        QCOMPARE(QString::fromStdString(window_->currentSettings().prompt), QString("a red fox running through snow"));
        QCOMPARE(window_->currentSettings().seed, int64_t(7));
        QCOMPARE(window_->currentSettings().steps, int64_t(4));
    }

    void cancellingStopsTheRunningJob() {
        const quint64 previous = window_->liveView()->watchedJob();
        window_->applySettings(tinySettings(400));
        window_->generate();
        QTRY_VERIFY_WITH_TIMEOUT(window_->liveView()->watchedJob() != previous, 10000); // the new job is watched
        const quint64 job = window_->liveView()->watchedJob();
        QTRY_VERIFY_WITH_TIMEOUT(window_->liveView()->previewCount() >= 1, 120000);     // and denoising
        window_->cancelCurrent();
        QTRY_COMPARE_WITH_TIMEOUT(window_->queueModel()->summaryAt(window_->queueModel()->rowOfJob(job)).state ==
                                      JobState::Cancelled,
                                  true, 60000);
        QVERIFY(window_->liveView()->progressText().contains("Cancelled"));
        QVERIFY2(errors_.isEmpty(), errors_.isEmpty() ? "" : qPrintable(errors_[0].details));
        QVERIFY(window_->liveView()->progressPercent() < 100);
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    StudioE2ETest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_studio_e2e.moc"
