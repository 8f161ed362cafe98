// The studio's main window: the settings dock (generation, compile, parallel), the live view and the player in the
// centre, the queue, history and status/log docks. It wires the WorkerClient's signals to the models and widgets,
// turns failures into error dialogs with advice, and remembers the window layout and the last settings (QSettings).
#pragma once
#include "core/presets/generation_settings.h"
#include "core/presets/preset_store.h"
#include "ui/client/worker_client.h"
#include "ui/dialogs/error_advice.h"

#include <QHash>
#include <QMainWindow>
#include <QQueue>

#include <functional>

class QDockWidget;
class QTabWidget;
class QSettings;

namespace ditstudio::ui {

class CompilePanel;
class GenerationPanel;
class GpuModel;
class HistoryModel;
class HistoryView;
class JobQueueModel;
class LiveView;
class ParallelPanel;
class PlayerWidget;
class PresetModel;
class QueueView;
class StatusPanel;

struct MainWindowOptions {
    PresetStore presets{PresetStore::defaultBuiltinDir(), PresetStore::defaultUserDir()};
    QString settingsFile;      // empty: the platform's QSettings for DiT Studio
    bool isConnectingAtStart = true;
    QString defaultModel = qEnvironmentVariable("DITSTUDIO_MODEL"); // until the user picks one
};

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    MainWindow(WorkerClient* client, MainWindowOptions options, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Everything the panels edit, merged (what Generate submits, before the seed is resolved).
    GenerationSettings currentSettings() const;
    void applySettings(const GenerationSettings& settings);
    bool loadPreset(const QString& name);

    // What the Generate (priority 1, watched at once) and Queue (priority 0) buttons do.
    void generate();
    void queueJob();
    void cancelCurrent();
    void openExportDialog();
    void openPresetManager();
    // Reads an output in the background, then shows it in the player (or beside it when `isCompare`).
    void openClip(const QString& path, const QString& title, bool isCompare = false);

    // Error dialogs go through this; tests replace it to read the advice instead of a modal box.
    void setErrorPresenter(std::function<void(const ErrorAdvice&)> presenter) { presentError_ = std::move(presenter); }

    GenerationPanel* generationPanel() const { return generationPanel_; }
    CompilePanel* compilePanel() const { return compilePanel_; }
    ParallelPanel* parallelPanel() const { return parallelPanel_; }
    LiveView* liveView() const { return liveView_; }
    PlayerWidget* player() const { return player_; }
    QueueView* queueView() const { return queueView_; }
    HistoryView* historyView() const { return historyView_; }
    StatusPanel* statusPanel() const { return statusPanel_; }
    JobQueueModel* queueModel() const { return queueModel_; }
    HistoryModel* historyModel() const { return historyModel_; }
    PresetModel* presetModel() const { return presetModel_; }
    GpuModel* gpuModel() const { return gpuModel_; }
    QTabWidget* centralTabs() const { return centralTabs_; }

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildMenus();
    void wireClient();
    void submit(int priority);
    void restoreSettings();
    void saveSettings();
    void updateSubmitState();
    void useHistorySettings(const QJsonObject& settings);
    void deleteHistoryEntry(quint64 job, const QString& path);
    void onJobFinished(quint64 job, const QJsonObject& outputs, const QJsonObject& timings, qint64 seed);
    void watch(quint64 job, const QString& prompt);
    void updateModelHeads();
    void loadTokenizerFor(const QString& model);

    WorkerClient* client_;
    MainWindowOptions options_;
    std::unique_ptr<QSettings> settings_;
    std::function<void(const ErrorAdvice&)> presentError_;

    JobQueueModel* queueModel_;
    HistoryModel* historyModel_;
    PresetModel* presetModel_;
    GpuModel* gpuModel_;

    GenerationPanel* generationPanel_;
    CompilePanel* compilePanel_;
    ParallelPanel* parallelPanel_;
    LiveView* liveView_;
    PlayerWidget* player_;
    QueueView* queueView_;
    HistoryView* historyView_;
    StatusPanel* statusPanel_;
    QTabWidget* centralTabs_;
    QTabWidget* settingsTabs_;
    QList<QDockWidget*> docks_;

    GenerationSettings base_; // the last loaded preset/settings: keeps what no panel edits (vae, export)
    struct PendingSubmit {
        GenerationSettings settings;
        bool isWatched;
    };
    QQueue<PendingSubmit> pendingSubmits_; // replies come back in request order
    QHash<quint64, GenerationSettings> submittedSettings_;
    QVector<QImage> watchedFrames_;
    quint64 runningJob_ = 0;
    QString tokenizerModel_;
    QString headsModel_; // the model whose head count the parallel panel holds
    QByteArray defaultState_;
};

} // namespace ditstudio::ui
