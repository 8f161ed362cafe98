// Plain value types the studio passes between the worker client and its models/widgets. They are parsed from the
// worker's protocol messages (docs/protocol.md) on the client's reader thread and delivered to the GUI thread by
// queued signals, so every type here is a registered metatype and cheap to copy.
#pragma once
#include <QDateTime>
#include <QImage>
#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QVector>

#include <optional>

namespace ditstudio::ui {

enum class JobState { Queued, Running, Finished, Failed, Cancelled };
QString toDisplayString(JobState state);
// "queued", "running", ... as the worker spells them; unknown text maps to Queued.
JobState jobStateFromString(const QString& text);

struct JobSummary {
    quint64 id = 0;
    JobState state = JobState::Queued;
    int position = 0;
    int priority = 0;
    QString prompt;
    QString model;
    QJsonObject settings; // GenerationSettings::toJson() of the job, when the worker sent it
};

struct JobProgress {
    quint64 job = 0;
    int step = 0;
    int total = 0;
    double itPerSecond = 0;
    double etaSeconds = 0;
    double elapsedSeconds = 0;
};

struct GpuInfo {
    int index = 0;
    QString name;
    qint64 memoryTotalBytes = 0;
    qint64 memoryUsedBytes = 0;
    double utilizationPercent = -1; // -1: not reported
    int rank = -1;                  // the rank of the group on this GPU, -1: none
};

struct WorkerStatus {
    QString worker;
    int protocol = 0;
    qint64 pid = 0;
    double uptimeSeconds = 0;
    bool isPaused = false;
    int queueLength = 0;
    std::optional<quint64> runningJob;
    QJsonObject group; // the rank group: world size, device, model, warm, ...
    QVector<GpuInfo> gpus;
    QString logFile;
    QString database;
};

struct HistoryEntry {
    quint64 job = 0;
    QString prompt;
    QDateTime created;
    QString outputPath;  // the video (or PNG-sequence folder) the worker wrote
    QJsonObject settings; // every setting (GenerationSettings::toJson())
    QJsonObject timings;  // seconds per stage
    qint64 seed = 0;
    QString status;       // finished, failed, cancelled
    QImage thumbnail;
};

} // namespace ditstudio::ui

Q_DECLARE_METATYPE(ditstudio::ui::JobSummary)
Q_DECLARE_METATYPE(ditstudio::ui::JobProgress)
Q_DECLARE_METATYPE(ditstudio::ui::WorkerStatus)
Q_DECLARE_METATYPE(ditstudio::ui::HistoryEntry)
