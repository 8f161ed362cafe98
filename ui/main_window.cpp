#include "ui/main_window.h"

#include "core/io/model_folder.h"
#include "core/tokenizer/umt5_tokenizer.h"
#include "ui/dialogs/export_dialog.h"
#include "ui/dialogs/preset_manager_dialog.h"
#include "ui/media/video_reader.h"
#include "ui/models/gpu_model.h"
#include "ui/models/history_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/models/preset_model.h"
#include "ui/theme.h"
#include "ui/widgets/compile_panel.h"
#include "ui/widgets/generation_panel.h"
#include "ui/widgets/history_view.h"
#include "ui/widgets/live_view.h"
#include "ui/widgets/parallel_panel.h"
#include "ui/widgets/player_widget.h"
#include "ui/widgets/queue_view.h"
#include "ui/widgets/status_panel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollArea>
#include <QSettings>
#include <QShortcut>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <spdlog/spdlog.h>

namespace ditstudio::ui {

namespace {

QDockWidget* makeDock(const QString& title, const QString& name, QWidget* content, QWidget* parent) {
    auto* dock = new QDockWidget(title, parent);
    dock->setObjectName(name);
    dock->setWidget(content);
    dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                      QDockWidget::DockWidgetClosable);
    return dock;
}

QString outputPathOf(const QJsonObject& outputs) {
    for (const char* key : {"video", "path", "output", "png", "folder"}) {
        if (outputs.value(key).isString()) {
            return outputs.value(key).toString();
        }
    }
    for (auto it = outputs.begin(); it != outputs.end(); ++it) {
        if (it.value().isString() && !it.key().contains("sidecar") && !it.key().contains("json")) {
            return it.value().toString();
        }
    }
    return {};
}

// The tokenizer of a model folder: spiece.model in it, or in a google/umt5-xxl or tokenizer subfolder.
QString findTokenizerFile(const QString& model) {
    const QDir dir(model);
    if (!dir.exists()) {
        return {};
    }
    for (const char* candidate : {"spiece.model", "google/umt5-xxl/spiece.model", "tokenizer/spiece.model",
                                  "umt5-xxl/spiece.model"}) {
        if (QFileInfo::exists(dir.filePath(candidate))) {
            return dir.filePath(candidate);
        }
    }
    return {};
}

} // namespace

MainWindow::MainWindow(WorkerClient* client, MainWindowOptions options, QWidget* parent)
    : QMainWindow(parent), client_(client), options_(std::move(options)) {
    settings_ = options_.settingsFile.isEmpty()
                    ? std::make_unique<QSettings>(QSettings::UserScope, "DiTStudio", "ditstudio")
                    : std::make_unique<QSettings>(options_.settingsFile, QSettings::IniFormat);
    presentError_ = [this](const ErrorAdvice& advice) { showErrorDialog(this, advice); };

    setWindowTitle(tr("DiT Studio"));
    setWindowIcon(QIcon(":/ditstudio/icon-256.png"));
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks | QMainWindow::AllowNestedDocks);

    queueModel_ = new JobQueueModel(this);
    historyModel_ = new HistoryModel(this);
    presetModel_ = new PresetModel(options_.presets, this);
    gpuModel_ = new GpuModel(this);

    // Centre: live view and player.
    centralTabs_ = new QTabWidget;
    centralTabs_->setObjectName("centralTabs");
    liveView_ = new LiveView;
    player_ = new PlayerWidget;
    centralTabs_->addTab(liveView_, tr("Live"));
    centralTabs_->addTab(player_, tr("Player"));
    setCentralWidget(centralTabs_);

    // Left: settings.
    settingsTabs_ = new QTabWidget;
    settingsTabs_->setObjectName("settingsTabs");
    generationPanel_ = new GenerationPanel;
    generationPanel_->setPresetModel(presetModel_);
    auto* generationScroll = new QScrollArea;
    generationScroll->setWidget(generationPanel_);
    generationScroll->setWidgetResizable(true);
    generationScroll->setFrameShape(QFrame::NoFrame);
    compilePanel_ = new CompilePanel;
    parallelPanel_ = new ParallelPanel(gpuModel_);
    settingsTabs_->addTab(generationScroll, tr("Generation"));
    settingsTabs_->addTab(compilePanel_, tr("Compile"));
    settingsTabs_->addTab(parallelPanel_, tr("Parallel"));
    auto* settingsColumn = new QWidget;
    auto* settingsLayout = new QVBoxLayout(settingsColumn);
    settingsLayout->setContentsMargins(0, 0, 4, 4);
    settingsLayout->addWidget(settingsTabs_, 1);
    settingsLayout->addWidget(generationPanel_->detachActionBar()); // Generate stays in view whatever the tab
    auto* settingsDock = makeDock(tr("Settings"), "settingsDock", settingsColumn, this);
    addDockWidget(Qt::LeftDockWidgetArea, settingsDock);

    // Right: queue over history; bottom: status and log.
    queueView_ = new QueueView(queueModel_);
    historyView_ = new HistoryView(historyModel_);
    statusPanel_ = new StatusPanel(gpuModel_);
    auto* queueDock = makeDock(tr("Queue"), "queueDock", queueView_, this);
    auto* historyDock = makeDock(tr("History"), "historyDock", historyView_, this);
    auto* statusDock = makeDock(tr("Status and log"), "statusDock", statusPanel_, this);
    addDockWidget(Qt::RightDockWidgetArea, queueDock);
    addDockWidget(Qt::RightDockWidgetArea, historyDock);
    splitDockWidget(queueDock, historyDock, Qt::Vertical);
    addDockWidget(Qt::BottomDockWidgetArea, statusDock);
    resizeDocks({settingsDock, queueDock}, {420, 430}, Qt::Horizontal);
    resizeDocks({queueDock, historyDock}, {220, 480}, Qt::Vertical);
    resizeDocks({statusDock}, {150}, Qt::Vertical);
    docks_ = {settingsDock, queueDock, historyDock, statusDock};

    buildMenus();
    wireClient();
    statusBar()->showMessage(tr("Ready"));
    resize(1600, 1000);
    defaultState_ = saveState();
    restoreSettings();
    updateSubmitState();
    if (options_.isConnectingAtStart) {
        client_->connectToWorker();
    }
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open clip ..."), this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open clip"), QString(),
                                                          tr("Videos (*.mp4 *.webm *.gif *.png)"));
        if (!path.isEmpty()) {
            openClip(path, QFileInfo(path).fileName());
        }
    });
    open->setShortcut(QKeySequence::Open);
    QAction* exportAction = file->addAction(tr("&Export clip ..."), this, &MainWindow::openExportDialog);
    exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* job = menuBar()->addMenu(tr("&Job"));
    QAction* generateAction = job->addAction(tr("&Generate"), this, &MainWindow::generate);
    generateAction->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    QAction* queueAction = job->addAction(tr("&Queue"), this, &MainWindow::queueJob);
    queueAction->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Return),
                               QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Enter)});
    QAction* cancel = job->addAction(tr("&Cancel"), this, &MainWindow::cancelCurrent);
    cancel->setShortcut(QKeySequence(Qt::Key_Escape));

    QMenu* presets = menuBar()->addMenu(tr("&Presets"));
    QAction* manage = presets->addAction(tr("&Manage presets ..."), this, &MainWindow::openPresetManager);
    manage->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));

    QMenu* worker = menuBar()->addMenu(tr("&Worker"));
    worker->addAction(tr("&Reconnect"), this, [this] {
        client_->disconnectFromWorker();
        client_->connectToWorker();
    });
    worker->addAction(tr("Refresh &status"), client_, &WorkerClient::refreshStatus);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget* dock : docks_) {
        view->addAction(dock->toggleViewAction());
    }
    view->addSeparator();
    QAction* dark = view->addAction(tr("&Dark theme"));
    dark->setCheckable(true);
    dark->setChecked(settings_->value("view/dark", true).toBool());
    connect(dark, &QAction::toggled, this, [this](bool isDark) {
        settings_->setValue("view/dark", isDark);
        if (auto* app = qobject_cast<QApplication*>(QCoreApplication::instance())) {
            applyTheme(*app, isDark);
        }
    });
    view->addAction(tr("&Reset layout"), this, [this] {
        restoreState(defaultState_);
        for (QDockWidget* dock : docks_) {
            dock->show();
        }
    });

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&Keyboard shortcuts"), this, [this] {
        QMessageBox::information(
            this, tr("Keyboard shortcuts"),
            tr("Ctrl+Enter\tGenerate\nCtrl+Shift+Enter\tQueue\nEsc\tCancel the running job\nSpace\tPlay / pause\n"
               ", and .\tPrevious / next frame\nCtrl+E\tExport the clip\nCtrl+O\tOpen a clip\nCtrl+P\tPresets\n"
               "Ctrl+Up / Ctrl+Down\tMove the selected queued job\nDelete\tCancel the selected queued job"));
    });

    // Player keys: Space, comma and period are plain keys that text editors consume first (they accept the
    // shortcut override for printable keys), so typing a prompt never toggles playback.
    auto* play = new QShortcut(QKeySequence(Qt::Key_Space), this);
    connect(play, &QShortcut::activated, this, [this] {
        centralTabs_->setCurrentWidget(player_);
        player_->controller().togglePlay();
    });
    auto* previous = new QShortcut(QKeySequence(Qt::Key_Comma), this);
    connect(previous, &QShortcut::activated, &player_->controller(), &PlaybackController::stepBackward);
    auto* next = new QShortcut(QKeySequence(Qt::Key_Period), this);
    connect(next, &QShortcut::activated, &player_->controller(), &PlaybackController::stepForward);
}

void MainWindow::wireClient() {
    connect(generationPanel_, &GenerationPanel::generateRequested, this, &MainWindow::generate);
    connect(generationPanel_, &GenerationPanel::queueRequested, this, &MainWindow::queueJob);
    connect(generationPanel_, &GenerationPanel::cancelRequested, this, &MainWindow::cancelCurrent);
    connect(generationPanel_, &GenerationPanel::presetChosen, this, [this](const QString& name) { loadPreset(name); });
    connect(generationPanel_, &GenerationPanel::settingsEdited, this, [this] {
        parallelPanel_->setCfgScale(generationPanel_->settings().cfgScale);
        updateModelHeads();
        loadTokenizerFor(generationPanel_->modelName());
    });
    connect(parallelPanel_, &ParallelPanel::validityChanged, this, &MainWindow::updateSubmitState);
    connect(player_, &PlayerWidget::exportRequested, this, &MainWindow::openExportDialog);
    connect(player_, &PlayerWidget::compareRequested, this, [this] {
        const int row = historyView_->selectedSourceRow();
        if (row < 0) {
            statusBar()->showMessage(tr("Select an output in the History panel to compare with"), 5000);
            return;
        }
        const HistoryEntry& entry = historyModel_->entryAt(row);
        openClip(entry.outputPath, QString("#%1 seed %2").arg(entry.job).arg(entry.seed), true);
    });

    connect(queueView_, &QueueView::reorderRequested, client_, &WorkerClient::reorder);
    connect(queueView_, &QueueView::cancelRequested, client_, &WorkerClient::cancel);
    connect(queueView_, &QueueView::pauseRequested, client_, &WorkerClient::setQueuePaused);
    connect(queueView_, &QueueView::jobActivated, this, [this](quint64 job) {
        watch(job, queueModel_->summaryAt(queueModel_->rowOfJob(job)).prompt);
        centralTabs_->setCurrentWidget(liveView_);
    });

    connect(historyView_, &HistoryView::useSettingsRequested, this, &MainWindow::useHistorySettings);
    connect(historyView_, &HistoryView::openRequested, this,
            [this](const QString& path, const QString& title) { openClip(path, title); });
    connect(historyView_, &HistoryView::compareRequested, this,
            [this](const QString& path, const QString& title) { openClip(path, title, true); });
    connect(historyView_, &HistoryView::deleteRequested, this, &MainWindow::deleteHistoryEntry);
    connect(historyView_, &HistoryView::refreshRequested, this, [this] { client_->queryHistory({}); });

    connect(statusPanel_, &StatusPanel::reconnectRequested, this, [this] {
        client_->disconnectFromWorker();
        client_->connectToWorker();
    });
    connect(statusPanel_, &StatusPanel::refreshRequested, client_, &WorkerClient::refreshStatus);

    connect(client_, &WorkerClient::stateChanged, this, [this](WorkerClient::State state) {
        statusPanel_->setStateText(client_->stateText(), state == WorkerClient::State::Connected);
        statusBar()->showMessage(client_->stateText());
        if (state == WorkerClient::State::Connected) {
            client_->queryHistory({});
        }
        if (state == WorkerClient::State::Disconnected) {
            pendingSubmits_.clear();
        }
        updateSubmitState();
    });
    connect(client_, &WorkerClient::note, this, [this](const QString& text) {
        statusBar()->showMessage(text);
        statusPanel_->setStateText(client_->isConnected() ? client_->stateText() : text, client_->isConnected());
    });
    connect(client_, &WorkerClient::disconnected, this, [this](const QString& reason) {
        presentError_(adviseOnError("worker", "connection_lost", reason));
    });
    connect(client_, &WorkerClient::requestFailed, this,
            [this](const QString& request, const QString& code, const QString& message) {
                if (request == "submit" && !pendingSubmits_.isEmpty()) {
                    pendingSubmits_.dequeue();
                }
                statusPanel_->appendLog("error", QString("%1: %2 (%3)").arg(request, message, code), 0, 0);
                presentError_(adviseOnError(request, code, message));
            });
    connect(client_, &WorkerClient::jobSubmitted, this, [this](quint64 job, int position) {
        const PendingSubmit pending = pendingSubmits_.isEmpty() ? PendingSubmit{} : pendingSubmits_.dequeue();
        submittedSettings_.insert(job, pending.settings);
        JobSummary summary;
        summary.id = job;
        summary.position = position;
        summary.prompt = QString::fromStdString(pending.settings.prompt);
        summary.settings = toQJson(pending.settings.toJson());
        queueModel_->upsertJob(summary);
        statusBar()->showMessage(tr("Job #%1 queued at position %2").arg(job).arg(position + 1), 5000);
        if (pending.isWatched || liveView_->watchedJob() == 0 || runningJob_ == 0) {
            watch(job, summary.prompt);
        }
    });
    connect(client_, &WorkerClient::jobQueued, queueModel_, &JobQueueModel::upsertJob);
    connect(client_, &WorkerClient::queueListed, this, [this](const QVector<JobSummary>& jobs, bool paused) {
        queueModel_->setJobs(jobs);
        queueView_->setPaused(paused);
    });
    connect(client_, &WorkerClient::queueChanged, client_, &WorkerClient::refreshQueue);
    connect(client_, &WorkerClient::jobStarted, this, [this](quint64 job) {
        runningJob_ = job;
        queueModel_->setJobState(job, JobState::Running);
        if (liveView_->watchedJob() == 0 || liveView_->watchedJob() == job ||
            queueModel_->summaryAt(queueModel_->rowOfJob(liveView_->watchedJob())).state != JobState::Queued) {
            if (liveView_->watchedJob() != job) {
                watch(job, queueModel_->summaryAt(queueModel_->rowOfJob(job)).prompt);
            }
        }
        liveView_->onStarted(job);
        generationPanel_->setBusy(true);
    });
    connect(client_, &WorkerClient::stageChanged, liveView_, &LiveView::onStage);
    connect(client_, &WorkerClient::progress, this, [this](const JobProgress& p) {
        queueModel_->setProgress(p);
        liveView_->onProgress(p);
    });
    connect(client_, &WorkerClient::previewFrame, liveView_, &LiveView::onPreview);
    connect(client_, &WorkerClient::framesDecoded, this,
            [this](quint64 job, int firstFrame, const QVector<QImage>& frames) {
                liveView_->onFrames(job, firstFrame, frames);
                if (job == liveView_->watchedJob()) {
                    if (watchedFrames_.size() < firstFrame + frames.size()) {
                        watchedFrames_.resize(firstFrame + frames.size());
                    }
                    std::copy(frames.begin(), frames.end(), watchedFrames_.begin() + firstFrame);
                }
            });
    connect(client_, &WorkerClient::jobFinished, this, &MainWindow::onJobFinished);
    connect(client_, &WorkerClient::jobFailed, this, [this](quint64 job, const QString& reason, const QString& stage) {
        queueModel_->setJobState(job, JobState::Failed);
        liveView_->onFailed(job, reason);
        if (job == runningJob_) {
            runningJob_ = 0;
            generationPanel_->setBusy(false);
        }
        statusPanel_->appendLog("error", tr("job #%1 failed in %2: %3").arg(job).arg(stage, reason), 0, job);
        if (submittedSettings_.contains(job)) {
            presentError_(adviseOnError(stage.isEmpty() ? QString("job") : stage, "job_failed", reason));
        }
    });
    connect(client_, &WorkerClient::jobCancelled, this, [this](quint64 job) {
        queueModel_->setJobState(job, JobState::Cancelled);
        liveView_->onCancelled(job);
        if (job == runningJob_) {
            runningJob_ = 0;
            generationPanel_->setBusy(false);
        }
        statusBar()->showMessage(tr("Job #%1 cancelled").arg(job), 5000);
    });
    connect(client_, &WorkerClient::logMessage, statusPanel_, &StatusPanel::appendLog);
    connect(client_, &WorkerClient::statusReceived, this, [this](const WorkerStatus& status) {
        statusPanel_->setStatus(status);
        statusPanel_->setStateText(client_->stateText(), client_->isConnected());
        gpuModel_->setGpus(status.gpus);
        queueView_->setPaused(status.isPaused);
        const int heads = status.group.value("num_heads").toInt(status.group.value("heads").toInt(0));
        if (heads > 0) {
            parallelPanel_->setModelHeads(heads);
        }
        if (status.runningJob) {
            runningJob_ = *status.runningJob;
            generationPanel_->setBusy(true);
        }
        const QJsonValue models = status.group.value("models");
        if (models.isArray()) {
            QStringList names;
            for (const QJsonValue& m : models.toArray()) {
                names << m.toString();
            }
            generationPanel_->setKnownModels(names);
        }
    });
    connect(client_, &WorkerClient::historyReceived, historyModel_, &HistoryModel::setEntries);
    connect(client_, &WorkerClient::historyChanged, this, [this] { client_->queryHistory({}); });
}

GenerationSettings MainWindow::currentSettings() const {
    GenerationSettings s = base_;
    s.compile = compilePanel_->compileSettings();
    s.parallel = parallelPanel_->parallelSettings();
    return generationPanel_->settings(s);
}

void MainWindow::applySettings(const GenerationSettings& settings) {
    base_ = settings;
    compilePanel_->setCompileSettings(settings.compile);
    parallelPanel_->setParallelSettings(settings.parallel);
    generationPanel_->setSettings(settings);
    parallelPanel_->setCfgScale(settings.cfgScale);
    updateSubmitState();
}

bool MainWindow::loadPreset(const QString& name) {
    QString error;
    const auto settings = presetModel_->load(name, &error);
    if (!settings) {
        presentError_(adviseOnError("preset", "invalid_preset", error));
        return false;
    }
    applySettings(*settings);
    generationPanel_->setCurrentPresetName(name);
    statusBar()->showMessage(tr("Loaded preset %1").arg(name), 4000);
    return true;
}

void MainWindow::updateSubmitState() {
    QString problem;
    if (!parallelPanel_->isValid()) {
        problem = tr("Parallel: %1").arg(QString::fromStdString(parallelPanel_->check().reason));
    } else if (!client_->isConnected()) {
        problem = client_->state() == WorkerClient::State::Connecting
                      ? tr("Connecting to the worker ...")
                      : tr("Not connected to a worker (Worker ▸ Reconnect)");
    }
    generationPanel_->setExternalProblem(problem);
}

void MainWindow::generate() { submit(1); }

void MainWindow::queueJob() { submit(0); }

void MainWindow::submit(int priority) {
    if (!generationPanel_->canSubmit()) {
        const auto problem = generationPanel_->problem();
        statusBar()->showMessage(problem ? problem->message : tr("Cannot submit yet: see the Generation panel"), 6000);
        return;
    }
    GenerationSettings base = base_;
    base.compile = compilePanel_->compileSettings();
    base.parallel = parallelPanel_->parallelSettings();
    const GenerationSettings settings = generationPanel_->settingsForSubmit(base);
    generationPanel_->rememberPrompt(QString::fromStdString(settings.prompt));
    pendingSubmits_.enqueue({settings, priority > 0});
    client_->submit(settings, generationPanel_->modelName(), priority);
    if (priority > 0) {
        centralTabs_->setCurrentWidget(liveView_);
    }
    saveSettings();
}

void MainWindow::cancelCurrent() {
    quint64 job = runningJob_;
    const quint64 watched = liveView_->watchedJob();
    const JobState watchedState = queueModel_->summaryAt(queueModel_->rowOfJob(watched)).state;
    if (watched != 0 && queueModel_->rowOfJob(watched) >= 0 &&
        (watchedState == JobState::Queued || watchedState == JobState::Running)) {
        job = watched;
    }
    if (job == 0) {
        statusBar()->showMessage(tr("No job to cancel"), 3000);
        return;
    }
    client_->cancel(job);
    statusBar()->showMessage(tr("Cancelling job #%1 ...").arg(job));
}

void MainWindow::watch(quint64 job, const QString& prompt) {
    if (liveView_->watchedJob() == job) {
        return;
    }
    liveView_->watchJob(job, prompt);
    watchedFrames_.clear();
}

void MainWindow::onJobFinished(quint64 job, const QJsonObject& outputs, const QJsonObject& timings, qint64 seed) {
    queueModel_->setJobState(job, JobState::Finished);
    liveView_->onFinished(job, timings);
    if (job == runningJob_) {
        runningJob_ = 0;
        generationPanel_->setBusy(false);
    }
    const GenerationSettings settings = submittedSettings_.value(job);
    const QString path = outputPathOf(outputs);
    HistoryEntry entry;
    entry.job = job;
    entry.prompt = QString::fromStdString(settings.prompt);
    entry.created = QDateTime::currentDateTime();
    entry.outputPath = path;
    entry.settings = toQJson(settings.toJson());
    entry.settings.insert("seed", seed);
    entry.timings = timings;
    entry.seed = seed;
    entry.status = "finished";
    if (job == liveView_->watchedJob() && !watchedFrames_.isEmpty()) {
        entry.thumbnail = watchedFrames_.front().scaled(HistoryModel::thumbnailSize(), Qt::KeepAspectRatio,
                                                        Qt::SmoothTransformation);
        player_->setClip(watchedFrames_, settings.fps > 0 ? static_cast<double>(settings.fps) : 16.0,
                         tr("#%1 seed %2").arg(job).arg(seed));
        centralTabs_->setCurrentWidget(player_);
        player_->controller().play();
    } else if (job == liveView_->watchedJob() && !path.isEmpty()) {
        openClip(path, tr("#%1 seed %2").arg(job).arg(seed));
    }
    if (submittedSettings_.contains(job)) {
        historyModel_->addEntry(entry);
    }
    statusBar()->showMessage(tr("Job #%1 finished: %2").arg(job).arg(path), 8000);
    client_->queryHistory({});
}

void MainWindow::useHistorySettings(const QJsonObject& json) {
    try {
        GenerationSettings settings = GenerationSettings::fromJson(fromQJson(json));
        settings.seedMode = SeedMode::Fixed;
        applySettings(settings);
        settingsTabs_->setCurrentIndex(0);
        statusBar()->showMessage(tr("Settings of that output loaded (seed %1, fixed)").arg(settings.seed), 5000);
    } catch (const std::exception& e) {
        presentError_(adviseOnError("history", "invalid_settings", QString::fromStdString(e.what())));
    }
}

void MainWindow::deleteHistoryEntry(quint64 job, const QString& path) {
    if (QMessageBox::question(this, tr("Delete output"),
                              tr("Move the output of job #%1 and its settings file to the trash?\n%2").arg(job).arg(
                                  path)) != QMessageBox::Yes) {
        return;
    }
    QStringList failed;
    for (const QString& file : {path, path + ".json"}) {
        if (!file.isEmpty() && QFileInfo::exists(file) && !QFile::moveToTrash(file)) {
            const QFileInfo info(file);
            const bool isRemoved = info.isDir() ? QDir(file).removeRecursively() : QFile::remove(file);
            if (!isRemoved) {
                failed << file;
            }
        }
    }
    if (!failed.isEmpty()) {
        presentError_(adviseOnError("delete", "io_error", tr("could not remove %1").arg(failed.join(", "))));
        return;
    }
    historyModel_->removeJob(job);
    client_->deleteHistory(job);
}

void MainWindow::openClip(const QString& path, const QString& title, bool isCompare) {
    if (path.isEmpty()) {
        presentError_(adviseOnError("open", "not_found", tr("this output has no file recorded")));
        return;
    }
    statusBar()->showMessage(tr("Reading %1 ...").arg(path));
    auto* watcher = new QFutureWatcher<DecodedClip>(this);
    connect(watcher, &QFutureWatcher<DecodedClip>::finished, this, [this, watcher, path, title, isCompare] {
        watcher->deleteLater();
        try {
            const DecodedClip clip = watcher->result();
            if (isCompare) {
                player_->setCompareClip(clip.frames, title);
            } else {
                player_->setClip(clip.frames, clip.fps, title);
            }
            centralTabs_->setCurrentWidget(player_);
            statusBar()->showMessage(tr("%1: %2 frames").arg(path).arg(clip.frames.size()), 4000);
        } catch (const std::exception& e) {
            presentError_(adviseOnError("open", "unreadable", QString::fromStdString(e.what())));
        }
    });
    watcher->setFuture(QtConcurrent::run([path] { return readClip(path); }));
}

void MainWindow::openExportDialog() {
    if (player_->frames().isEmpty()) {
        statusBar()->showMessage(tr("Nothing to export: generate a clip or open one first"), 5000);
        return;
    }
    const QString directory = settings_->value("export/directory",
                                               QStandardPaths::writableLocation(QStandardPaths::MoviesLocation))
                                  .toString();
    QString name = player_->title();
    name.replace(QRegularExpression("[^A-Za-z0-9_-]+"), "_");
    auto* dialog = new ExportDialog(player_->frames(), player_->fps(),
                                    QDir(directory).filePath((name.isEmpty() ? "clip" : name) + ".mp4"), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &ExportDialog::exportFinished, this, [this](bool isSuccess, const QString& pathOrError) {
        if (isSuccess) {
            settings_->setValue("export/directory", QFileInfo(pathOrError).absolutePath());
            statusBar()->showMessage(tr("Exported %1").arg(pathOrError), 8000);
        }
    });
    dialog->open();
}

void MainWindow::openPresetManager() {
    auto* dialog = new PresetManagerDialog(presetModel_, [this] { return currentSettings(); }, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &PresetManagerDialog::loadRequested, this, [this](const QString& name) { loadPreset(name); });
    dialog->open();
}

void MainWindow::updateModelHeads() {
    const QString model = generationPanel_->modelName();
    if (model == headsModel_) {
        return;
    }
    headsModel_ = model;
    // A model folder says itself (its DiT config, from the tensor shapes); a worker's report overrides this later.
    if (QFileInfo(model).isDir()) {
        try {
            const auto folder = io::ModelFolder::open(model.toStdString());
            parallelPanel_->setModelHeads(static_cast<int>(folder.ditConfig.numHeads));
            return;
        } catch (const std::exception& e) {
            spdlog::debug("model heads of {}: {}", model.toStdString(), e.what());
        }
    }
    // Otherwise by the Wan 2.1 name: 14B has 40 heads, 1.3B (and the default) 12.
    const QString name = model.toLower();
    if (name.contains("14b")) {
        parallelPanel_->setModelHeads(40);
    } else if (name.contains("1.3b") || name.contains("1_3b")) {
        parallelPanel_->setModelHeads(12);
    }
}

void MainWindow::loadTokenizerFor(const QString& model) {
    if (model == tokenizerModel_) {
        return;
    }
    tokenizerModel_ = model;
    const QString file = findTokenizerFile(model);
    if (file.isEmpty()) {
        generationPanel_->setTokenCounter({});
        return;
    }
    using Tokenizer = std::shared_ptr<const UMT5Tokenizer>;
    auto* watcher = new QFutureWatcher<Tokenizer>(this);
    connect(watcher, &QFutureWatcher<Tokenizer>::finished, this, [this, watcher, model] {
        watcher->deleteLater();
        const Tokenizer tokenizer = watcher->result();
        if (!tokenizer || model != tokenizerModel_) {
            return;
        }
        generationPanel_->setTokenCounter([tokenizer](const QString& text) {
            return static_cast<int>(tokenizer->pieces(UMT5Tokenizer::cleanPrompt(text.toStdString())).size()) + 1;
        });
    });
    watcher->setFuture(QtConcurrent::run([file]() -> Tokenizer {
        try {
            return std::make_shared<const UMT5Tokenizer>(UMT5Tokenizer::fromFile(file.toStdString()));
        } catch (const std::exception& e) {
            spdlog::warn("no tokenizer for the token count: {}", e.what());
            return nullptr;
        }
    }));
}

void MainWindow::restoreSettings() {
    restoreGeometry(settings_->value("window/geometry").toByteArray());
    restoreState(settings_->value("window/state").toByteArray());
    settingsTabs_->setCurrentIndex(settings_->value("window/settingsTab", 0).toInt());
    generationPanel_->setPromptHistory(settings_->value("prompts/history").toStringList());
    generationPanel_->setModelName(settings_->value("generation/model", options_.defaultModel).toString());
    const QByteArray last = settings_->value("generation/last").toByteArray();
    GenerationSettings settings;
    if (!last.isEmpty()) {
        try {
            settings = GenerationSettings::fromJson(nlohmann::json::parse(last.toStdString()));
        } catch (const std::exception& e) {
            spdlog::warn("ignoring the saved settings: {}", e.what());
        }
    }
    applySettings(settings);
}

void MainWindow::saveSettings() {
    settings_->setValue("window/geometry", saveGeometry());
    settings_->setValue("window/state", saveState());
    settings_->setValue("window/settingsTab", settingsTabs_->currentIndex());
    settings_->setValue("prompts/history", generationPanel_->promptHistory());
    settings_->setValue("generation/model", generationPanel_->modelName());
    settings_->setValue("generation/last", QByteArray::fromStdString(currentSettings().toJson().dump()));
    settings_->sync();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    saveSettings();
    event->accept();
}

} // namespace ditstudio::ui
