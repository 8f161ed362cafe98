#include "ui/client/worker_client.h"

#include "core/protocol/framing.h"
#include "core/util/error.h"

#include <QJsonDocument>
#include <QMetaObject>

#include <fmt/format.h>
#include <spdlog/spdlog.h>


namespace ditstudio::ui {

namespace {

using nlohmann::json;

// Reads the first of `keys` present in `object` as T, else `fallback` (the worker's optional fields).
template <typename T>
T field(const json& object, std::initializer_list<const char*> keys, T fallback) {
    for (const char* key : keys) {
        auto it = object.find(key);
        if (it != object.end() && !it->is_null()) {
            try {
                return it->get<T>();
            } catch (const json::exception&) {
                return fallback;
            }
        }
    }
    return fallback;
}

QString qstring(const json& object, std::initializer_list<const char*> keys) {
    return QString::fromStdString(field<std::string>(object, keys, std::string()));
}

JobSummary parseJob(const json& object) {
    JobSummary job;
    job.id = field<uint64_t>(object, {"job"}, 0);
    job.state = jobStateFromString(qstring(object, {"state"}));
    job.position = field<int>(object, {"position"}, 0);
    job.priority = field<int>(object, {"priority"}, 0);
    job.prompt = qstring(object, {"prompt"});
    job.model = qstring(object, {"model"});
    auto settings = object.find("settings");
    if (settings != object.end() && settings->is_object()) {
        job.settings = toQJson(*settings);
        if (job.prompt.isEmpty()) {
            job.prompt = QString::fromStdString(settings->value("prompt", std::string()));
        }
    }
    return job;
}

WorkerStatus parseStatus(const json& header) {
    WorkerStatus status;
    status.worker = qstring(header, {"worker"});
    status.protocol = field<int>(header, {"protocol"}, 0);
    status.pid = field<int64_t>(header, {"pid"}, 0);
    status.uptimeSeconds = field<double>(header, {"uptime_s"}, 0);
    status.isPaused = field<bool>(header, {"paused"}, false);
    status.queueLength = field<int>(header, {"queue_length"}, 0);
    if (header.contains("running_job") && header["running_job"].is_number_unsigned()) {
        status.runningJob = header["running_job"].get<uint64_t>();
    }
    if (header.contains("group") && header["group"].is_object()) {
        status.group = toQJson(header["group"]);
    }
    status.logFile = qstring(header, {"log_file"});
    status.database = qstring(header, {"database"});
    if (header.contains("gpus") && header["gpus"].is_array()) {
        int position = 0;
        for (const json& gpu : header["gpus"]) {
            if (!gpu.is_object()) {
                continue;
            }
            GpuInfo info;
            info.index = field<int>(gpu, {"index"}, position);
            info.name = qstring(gpu, {"name"});
            constexpr int64_t kMiB = 1024 * 1024;
            info.memoryTotalBytes = field<int64_t>(gpu, {"memory_total_mib"}, 0) * kMiB;
            info.memoryUsedBytes = field<int64_t>(gpu, {"memory_used_mib"}, 0) * kMiB;
            info.utilizationPercent = field<double>(gpu, {"utilization_percent"}, -1);
            info.rank = field<int>(gpu, {"rank"}, -1);
            status.gpus.push_back(info);
            ++position;
        }
    }
    return status;
}

QVector<HistoryEntry> parseHistory(const protocol::Message& reply) {
    QVector<HistoryEntry> entries;
    for (const json& item : reply.header.value("entries", json::array())) {
        if (!item.is_object()) {
            continue;
        }
        HistoryEntry entry;
        entry.job = field<uint64_t>(item, {"job"}, 0);
        entry.prompt = qstring(item, {"prompt"});
        entry.seed = field<int64_t>(item, {"seed"}, 0);
        entry.status = qstring(item, {"state", "status"});
        if (entry.status.isEmpty()) {
            entry.status = "finished";
        }
        const double createdSeconds = field<double>(item, {"created_at", "finished_at"}, 0);
        if (createdSeconds > 0) {
            entry.created = QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(createdSeconds * 1000.0));
        }
        if (item.contains("outputs") && item["outputs"].is_object()) {
            entry.outputPath = qstring(item["outputs"], {"video"});
        }
        if (item.contains("settings") && item["settings"].is_object()) {
            entry.settings = toQJson(item["settings"]);
            if (entry.prompt.isEmpty()) {
                entry.prompt = QString::fromStdString(item["settings"].value("prompt", std::string()));
            }
        }
        if (item.contains("timings") && item["timings"].is_object()) {
            entry.timings = toQJson(item["timings"]);
        }
        // Thumbnails travel in the payload; each entry names its byte range.
        auto thumbnail = item.find("thumbnail");
        if (thumbnail != item.end() && thumbnail->is_object()) {
            const auto offset = field<uint64_t>(*thumbnail, {"offset"}, 0);
            const auto size = field<uint64_t>(*thumbnail, {"size"}, 0);
            if (size > 0 && offset + size <= reply.payload.size()) {
                entry.thumbnail.loadFromData(reinterpret_cast<const uchar*>(reply.payload.data() + offset),
                                             static_cast<int>(size));
            }
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

} // namespace

QJsonObject toQJson(const nlohmann::json& object) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(object.dump())).object();
}

nlohmann::json fromQJson(const QJsonObject& object) {
    return nlohmann::json::parse(QJsonDocument(object).toJson(QJsonDocument::Compact).toStdString());
}

QString toDisplayString(JobState state) {
    switch (state) {
    case JobState::Queued: return QObject::tr("Queued");
    case JobState::Running: return QObject::tr("Running");
    case JobState::Finished: return QObject::tr("Finished");
    case JobState::Failed: return QObject::tr("Failed");
    case JobState::Cancelled: return QObject::tr("Cancelled");
    }
    return {};
}

JobState jobStateFromString(const QString& text) {
    const QString t = text.toLower();
    if (t == "running" || t == "started") {
        return JobState::Running;
    }
    if (t == "finished" || t == "done") {
        return JobState::Finished;
    }
    if (t == "failed" || t == "interrupted") {
        return JobState::Failed;
    }
    if (t == "cancelled" || t == "canceled") {
        return JobState::Cancelled;
    }
    return JobState::Queued;
}

QVector<QImage> decodeFramePayload(const nlohmann::json& header, const std::string& payload) {
    const auto count = field<uint64_t>(header, {"frames", "count"}, 0);
    const auto height = field<uint64_t>(header, {"height"}, 0);
    const auto width = field<uint64_t>(header, {"width"}, 0);
    const std::string format = field<std::string>(header, {"format"}, "");
    QVector<QImage> frames;
    if (format == "rgb8") {
        const uint64_t frameBytes = height * width * 3;
        if (count * frameBytes != payload.size()) {
            throw Error(fmt::format("{} payload of {} bytes does not hold {} frames of {}x{} RGB ({} bytes)",
                                    header.value("type", "frame"), payload.size(), count, width, height,
                                    count * frameBytes));
        }
        for (uint64_t f = 0; f < count; ++f) {
            const auto* data = reinterpret_cast<const uchar*>(payload.data() + f * frameBytes);
            // copy(): the QImage must own its pixels once the message is gone
            frames.push_back(QImage(data, static_cast<int>(width), static_cast<int>(height),
                                    static_cast<qsizetype>(width * 3), QImage::Format_RGB888)
                                 .copy());
        }
        return frames;
    }
    throw Error(fmt::format("{} payload has the unknown format '{}' (expected rgb8)",
                            header.value("type", "frame"), format));
}

WorkerClient::WorkerClient(std::unique_ptr<WorkerBackend> backend, QObject* parent)
    : QObject(parent), backend_(std::move(backend)) {
    qRegisterMetaType<JobSummary>();
    qRegisterMetaType<JobProgress>();
    qRegisterMetaType<WorkerStatus>();
    qRegisterMetaType<HistoryEntry>();
    qRegisterMetaType<QVector<QImage>>();
    qRegisterMetaType<QVector<JobSummary>>();
    qRegisterMetaType<QVector<HistoryEntry>>();
    requests_.setMaxThreadCount(1);
    requests_.setExpiryTimeout(-1);
    backend_->setEventHandler([this](const protocol::Message& event) { handleEvent(event); });
    backend_->setDisconnectHandler([this](const std::string& reason) { handleDisconnect(reason); });
}

WorkerClient::~WorkerClient() {
    // Stops the reader thread first, so that no handler runs on a half-destroyed object, then waits for requests
    // (which fail at once on a closed connection).
    backend_->close();
    requests_.waitForDone();
}

QString WorkerClient::stateText() const {
    switch (state_) {
    case State::Disconnected: return tr("Not connected to a worker");
    case State::Connecting: return tr("Connecting to the worker ...");
    case State::Connected: return tr("Connected to %1 (pid %2)").arg(workerName_).arg(workerPid_);
    }
    return {};
}

void WorkerClient::setState(State state) {
    if (state_ != state) {
        state_ = state;
        Q_EMIT stateChanged(state);
    }
}

bool WorkerClient::waitForIdle(int timeoutMs) { return requests_.waitForDone(timeoutMs); }

void WorkerClient::connectToWorker() {
    if (state_ != State::Disconnected) {
        return;
    }
    setState(State::Connecting);
    std::shared_ptr<WorkerBackend> backend = backend_;
    requests_.start([this, backend] {
        try {
            backend->connect("ditstudio-gui", [this](const std::string& text) {
                QMetaObject::invokeMethod(
                    this, [this, text] { Q_EMIT note(QString::fromStdString(text)); }, Qt::QueuedConnection);
            });
            QMetaObject::invokeMethod(this, [this] { setState(State::Connected); }, Qt::QueuedConnection);
        } catch (const std::exception& e) {
            const QString message = QString::fromStdString(e.what());
            QMetaObject::invokeMethod(
                this,
                [this, message] {
                    setState(State::Disconnected);
                    Q_EMIT requestFailed("connect", "connection_failed", message);
                },
                Qt::QueuedConnection);
            return;
        }
    });
    sendRequest({{"type", "subscribe"}, {"previews", true}, {"frames", true}, {"logs", true}});
    refreshStatus();
    refreshQueue();
}

void WorkerClient::disconnectFromWorker() {
    backend_->close();
    setState(State::Disconnected);
}

void WorkerClient::sendRequest(nlohmann::json header, ReplyHandler onReply) {
    std::shared_ptr<WorkerBackend> backend = backend_;
    requests_.start([this, backend, header = std::move(header), onReply = std::move(onReply)] {
        const QString type = QString::fromStdString(header.value("type", ""));
        try {
            if (!backend->isConnected()) {
                return; // the connect attempt already reported why
            }
            protocol::Message reply = backend->request(header);
            if (onReply) {
                QMetaObject::invokeMethod(
                    this, [onReply, reply = std::move(reply)] { onReply(reply); }, Qt::QueuedConnection);
            }
        } catch (const protocol::ProtocolError& e) {
            const QString code = QString::fromStdString(e.code());
            const QString message = QString::fromStdString(e.what());
            QMetaObject::invokeMethod(
                this, [this, type, code, message] { Q_EMIT requestFailed(type, code, message); },
                Qt::QueuedConnection);
        } catch (const std::exception& e) {
            const QString message = QString::fromStdString(e.what());
            QMetaObject::invokeMethod(
                this, [this, type, message] { Q_EMIT requestFailed(type, "connection_lost", message); },
                Qt::QueuedConnection);
        }
    });
}

void WorkerClient::submit(const GenerationSettings& settings, const QString& model, int priority) {
    nlohmann::json header{{"type", "submit"},
                          {"settings", settings.toJson()},
                          {"model", model.toStdString()},
                          {"priority", priority}};
    sendRequest(std::move(header), [this](const protocol::Message& reply) {
        Q_EMIT jobSubmitted(field<uint64_t>(reply.header, {"job"}, 0), field<int>(reply.header, {"position"}, 0));
    });
}

void WorkerClient::cancel(quint64 job) { sendRequest({{"type", "cancel"}, {"job", job}}); }

void WorkerClient::reorder(quint64 job, int position) {
    sendRequest({{"type", "reorder"}, {"job", job}, {"position", static_cast<uint64_t>(std::max(0, position))}},
                [this](const protocol::Message&) { refreshQueue(); });
}

void WorkerClient::setQueuePaused(bool paused) {
    sendRequest({{"type", "pause_queue"}, {"paused", paused}}, [this](const protocol::Message&) { refreshStatus(); });
}

void WorkerClient::refreshQueue() {
    sendRequest({{"type", "list_queue"}, {"include_done", false}}, [this](const protocol::Message& reply) {
        QVector<JobSummary> jobs;
        for (const auto& item : reply.header.value("jobs", nlohmann::json::array())) {
            if (item.is_object()) {
                jobs.push_back(parseJob(item));
            }
        }
        Q_EMIT queueListed(jobs, reply.header.value("paused", false));
    });
}

void WorkerClient::refreshStatus() {
    sendRequest({{"type", "get_status"}}, [this](const protocol::Message& reply) {
        WorkerStatus status = parseStatus(reply.header);
        workerName_ = status.worker;
        workerPid_ = status.pid;
        Q_EMIT statusReceived(status);
        Q_EMIT note(stateText());
    });
}

void WorkerClient::deleteHistory(quint64 job) { sendRequest({{"type", "delete_history"}, {"job", job}}); }

void WorkerClient::queryHistory(const QString& search, int limit) {
    nlohmann::json header{{"type", "query_history"}, {"limit", static_cast<uint64_t>(std::max(1, limit))},
                          {"thumbnails", true}};
    if (!search.isEmpty()) {
        header["search"] = search.toStdString();
    }
    sendRequest(std::move(header),
                [this](const protocol::Message& reply) { Q_EMIT historyReceived(parseHistory(reply)); });
}

void WorkerClient::handleDisconnect(const std::string& reason) {
    const QString text = QString::fromStdString(reason);
    QMetaObject::invokeMethod(
        this,
        [this, text] {
            if (state_ == State::Disconnected) {
                return;
            }
            setState(State::Disconnected);
            Q_EMIT disconnected(text);
        },
        Qt::QueuedConnection);
}

void WorkerClient::handleEvent(const protocol::Message& event) {
    // Reader thread: parse and decode images here, so the GUI thread only presents.
    const auto& h = event.header;
    const std::string type = event.type();
    const quint64 job = field<uint64_t>(h, {"job"}, 0);
    auto post = [this](auto&& function) {
        QMetaObject::invokeMethod(this, std::forward<decltype(function)>(function), Qt::QueuedConnection);
    };
    try {
        if (type == "step") {
            JobProgress p;
            p.job = job;
            p.step = field<int>(h, {"step"}, 0);
            p.total = field<int>(h, {"total"}, 0);
            p.itPerSecond = field<double>(h, {"it_per_s"}, 0);
            p.etaSeconds = field<double>(h, {"eta_s"}, 0);
            p.elapsedSeconds = field<double>(h, {"elapsed_s"}, 0);
            post([this, p] { Q_EMIT progress(p); });
        } else if (type == "preview") {
            QVector<QImage> frames = decodeFramePayload(h, event.payload);
            const int step = field<int>(h, {"step"}, 0);
            post([this, job, step, frames] { Q_EMIT previewFrame(job, step, frames); });
        } else if (type == "frames") {
            nlohmann::json header = h;
            header["frames"] = field<uint64_t>(h, {"count"}, 0);
            QVector<QImage> frames = decodeFramePayload(header, event.payload);
            const int first = field<int>(h, {"first_frame"}, 0);
            post([this, job, first, frames] { Q_EMIT framesDecoded(job, first, frames); });
        } else if (type == "queued") {
            JobSummary summary = parseJob(h);
            post([this, summary] { Q_EMIT jobQueued(summary); });
        } else if (type == "queue_changed") {
            post([this] { Q_EMIT queueChanged(); });
        } else if (type == "history_changed") {
            post([this] { Q_EMIT historyChanged(); });
        } else if (type == "started") {
            post([this, job] { Q_EMIT jobStarted(job); });
        } else if (type == "stage") {
            const QString stage = qstring(h, {"stage"});
            const double elapsed = field<double>(h, {"elapsed_s"}, 0);
            post([this, job, stage, elapsed] { Q_EMIT stageChanged(job, stage, elapsed); });
        } else if (type == "finished") {
            const QJsonObject outputs = toQJson(h.value("outputs", nlohmann::json::object()));
            const QJsonObject timings = toQJson(h.value("timings", nlohmann::json::object()));
            const qint64 seed = field<int64_t>(h, {"seed"}, 0);
            post([this, job, outputs, timings, seed] { Q_EMIT jobFinished(job, outputs, timings, seed); });
        } else if (type == "failed") {
            const QString reason = qstring(h, {"reason"});
            const QString stage = qstring(h, {"stage"});
            post([this, job, reason, stage] { Q_EMIT jobFailed(job, reason, stage); });
        } else if (type == "cancelled") {
            post([this, job] { Q_EMIT jobCancelled(job); });
        } else if (type == "log") {
            const QString level = qstring(h, {"level"});
            const QString message = qstring(h, {"message"});
            const double time = field<double>(h, {"time"}, 0);
            post([this, level, message, time, job] { Q_EMIT logMessage(level, message, time, job); });
        } else {
            spdlog::debug("worker client: ignoring event '{}'", type);
        }
    } catch (const std::exception& e) {
        const QString message = QString::fromStdString(e.what());
        const QString eventType = QString::fromStdString(type);
        post([this, eventType, message] { Q_EMIT requestFailed(eventType, "bad_payload", message); });
    }
}

} // namespace ditstudio::ui
