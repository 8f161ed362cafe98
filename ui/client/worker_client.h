// The studio's connection to the worker, as a QObject. Requests run on a private request thread (they block on the
// socket there, never on the GUI thread) and their results come back as signals; the worker's events (progress,
// previews, decoded frames, finished/failed, logs) are parsed on the backend's reader thread and delivered to this
// object's thread with Qt::QueuedConnection. Widgets only connect to the signals.
//
// Thread contract: every public method is called from the thread this object lives in (the GUI thread) and returns
// at once; every signal is emitted on that thread.
#pragma once
#include "core/presets/generation_settings.h"
#include "ui/client/worker_backend.h"
#include "ui/client/worker_types.h"

#include <QJsonObject>
#include <QObject>
#include <QThreadPool>

#include <functional>
#include <memory>

namespace ditstudio::ui {

class WorkerClient : public QObject {
    Q_OBJECT
public:
    enum class State { Disconnected, Connecting, Connected };
    Q_ENUM(State)

    explicit WorkerClient(std::unique_ptr<WorkerBackend> backend, QObject* parent = nullptr);
    ~WorkerClient() override;

    State state() const { return state_; }
    bool isConnected() const { return state_ == State::Connected; }
    QString stateText() const; // "connected to ditstudio-worker 0.1.0 (pid 123)", "connecting ...", ...

    // Connects (starting a worker if the backend does so), then subscribes to every job's events with previews,
    // frames and logs, and asks for the status and the queue.
    void connectToWorker();
    void disconnectFromWorker();

    // model: the model folder or name the worker knows. priority: higher runs first (Generate uses 1, Queue 0).
    void submit(const GenerationSettings& settings, const QString& model, int priority);
    void cancel(quint64 job);
    void reorder(quint64 job, int position);
    void setQueuePaused(bool paused);
    void refreshQueue();
    void refreshStatus();
    void queryHistory(const QString& search, int limit = 200);
    // Asks the worker to forget a job's history entry (the caller has removed its files).
    void deleteHistory(quint64 job);

    // The request thread's work, for tests that wait for it.
    bool waitForIdle(int timeoutMs);

Q_SIGNALS:
    void stateChanged(ditstudio::ui::WorkerClient::State state);
    void note(const QString& text); // "starting ditstudio-worker ...", "connected to ..."
    void disconnected(const QString& reason);

    void jobSubmitted(quint64 job, int position);
    void jobQueued(const ditstudio::ui::JobSummary& job);
    void queueListed(const QVector<ditstudio::ui::JobSummary>& jobs, bool paused);
    void queueChanged();
    void historyChanged(); // a client deleted a history entry
    void jobStarted(quint64 job);
    void stageChanged(quint64 job, const QString& stage, double elapsedSeconds);
    void progress(const ditstudio::ui::JobProgress& progress);
    void previewFrame(quint64 job, int step, const QVector<QImage>& frames);
    void framesDecoded(quint64 job, int firstFrame, const QVector<QImage>& frames);
    void jobFinished(quint64 job, const QJsonObject& outputs, const QJsonObject& timings, qint64 seed);
    void jobFailed(quint64 job, const QString& reason, const QString& stage);
    void jobCancelled(quint64 job);
    void logMessage(const QString& level, const QString& message, double time, quint64 job);
    void statusReceived(const ditstudio::ui::WorkerStatus& status);
    void historyReceived(const QVector<ditstudio::ui::HistoryEntry>& entries);
    // A request the worker refused or could not answer: `request` is its type, `code` the protocol error code.
    void requestFailed(const QString& request, const QString& code, const QString& message);

private:
    using ReplyHandler = std::function<void(const protocol::Message& reply)>;
    // Runs `header` on the request thread; `onReply` then runs on this object's thread.
    void sendRequest(nlohmann::json header, ReplyHandler onReply = {});
    void setState(State state);
    void handleEvent(const protocol::Message& event); // reader thread: parse, then post
    void handleDisconnect(const std::string& reason); // reader thread

    std::shared_ptr<WorkerBackend> backend_;
    QThreadPool requests_; // one thread: requests run in the order they were made
    State state_ = State::Disconnected;
    QString workerName_;
    qint64 workerPid_ = 0;
};

// Decoding of preview/frames payloads (exposed for tests): `format` "rgb8", uint8 [frames, height, width, 3]
// row-major (docs/protocol.md); the frame count is the header's "frames". Throws ditstudio::Error naming the
// mismatch.
QVector<QImage> decodeFramePayload(const nlohmann::json& header, const std::string& payload);

QJsonObject toQJson(const nlohmann::json& object);
nlohmann::json fromQJson(const QJsonObject& object);

} // namespace ditstudio::ui
