#include "ui/models/job_queue_model.h"

#include <QBrush>
#include <QColor>

#include <algorithm>

namespace ditstudio::ui {

JobQueueModel::JobQueueModel(QObject* parent) : QAbstractTableModel(parent) {}

int JobQueueModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(entries_.size());
}

int JobQueueModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

bool JobQueueModel::isDone(JobState state) {
    return state == JobState::Finished || state == JobState::Failed || state == JobState::Cancelled;
}

QVariant JobQueueModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const Entry& entry = entries_[index.row()];
    const JobSummary& job = entry.summary;
    const int percent = entry.totalSteps > 0 ? (100 * entry.step) / entry.totalSteps
                                              : (job.state == JobState::Finished ? 100 : 0);
    switch (role) {
    case JobIdRole: return QVariant::fromValue(job.id);
    case StateRole: return static_cast<int>(job.state);
    case ProgressPercentRole: return percent;
    case PromptRole: return job.prompt;
    case Qt::ToolTipRole: return job.prompt;
    case Qt::ForegroundRole:
        if (job.state == JobState::Failed) {
            return QBrush(QColor(220, 80, 80));
        }
        return {};
    case Qt::DisplayRole:
        switch (index.column()) {
        case PositionColumn: return isDone(job.state) ? QString() : QString::number(job.position + 1);
        case JobColumn: return QString("#%1").arg(job.id);
        case StateColumn: return toDisplayString(job.state);
        case ProgressColumn:
            if (entry.totalSteps > 0) {
                return tr("%1/%2 (%3 %)").arg(entry.step).arg(entry.totalSteps).arg(percent);
            }
            return job.state == JobState::Finished ? QStringLiteral("100 %") : QString();
        case PromptColumn: return job.prompt.simplified();
        default: return {};
        }
    default: return {};
    }
}

QVariant JobQueueModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) {
        return {};
    }
    switch (section) {
    case PositionColumn: return tr("#");
    case JobColumn: return tr("Job");
    case StateColumn: return tr("State");
    case ProgressColumn: return tr("Progress");
    case PromptColumn: return tr("Prompt");
    default: return {};
    }
}

bool JobQueueModel::moveRows(const QModelIndex& sourceParent, int sourceRow, int count,
                             const QModelIndex& destinationParent, int destinationChild) {
    if (sourceParent.isValid() || destinationParent.isValid() || count != 1 || sourceRow < 0 ||
        sourceRow >= rowCount() || destinationChild < 0 || destinationChild > rowCount()) {
        return false;
    }
    // Only queued jobs move, and only among queued jobs: a running job stays first.
    if (entries_[sourceRow].summary.state != JobState::Queued) {
        return false;
    }
    const int target = destinationChild > sourceRow ? destinationChild - 1 : destinationChild;
    if (target == sourceRow) {
        return false;
    }
    if (target < rowCount() && entries_[target].summary.state != JobState::Queued) {
        return false;
    }
    if (!beginMoveRows(sourceParent, sourceRow, sourceRow, destinationParent, destinationChild)) {
        return false;
    }
    entries_.move(sourceRow, target);
    endMoveRows();
    renumber();
    return true;
}

void JobQueueModel::renumber() {
    int position = 0;
    for (int row = 0; row < entries_.size(); ++row) {
        Entry& entry = entries_[row];
        if (entry.summary.state == JobState::Queued) {
            if (entry.summary.position != position) {
                entry.summary.position = position;
                Q_EMIT dataChanged(index(row, PositionColumn), index(row, PositionColumn), {Qt::DisplayRole});
            }
            ++position;
        }
    }
}

int JobQueueModel::queuePositionOfRow(int row) const {
    int position = 0;
    for (int r = 0; r < row && r < entries_.size(); ++r) {
        position += entries_[r].summary.state == JobState::Queued ? 1 : 0;
    }
    return position;
}

void JobQueueModel::setJobs(const QVector<JobSummary>& jobs) {
    QVector<Entry> next;
    for (const JobSummary& job : jobs) {
        Entry entry;
        entry.summary = job;
        const int old = rowOfJob(job.id);
        if (old >= 0 && job.state == JobState::Running) {
            entry.step = entries_[old].step;
            entry.totalSteps = entries_[old].totalSteps;
        }
        next.push_back(entry);
    }
    // Running first, then queued by position; done jobs that were shown stay below.
    std::stable_sort(next.begin(), next.end(), [](const Entry& a, const Entry& b) {
        const bool aRunning = a.summary.state == JobState::Running;
        const bool bRunning = b.summary.state == JobState::Running;
        if (aRunning != bRunning) {
            return aRunning;
        }
        return a.summary.position < b.summary.position;
    });
    for (const Entry& entry : entries_) {
        if (isDone(entry.summary.state) &&
            std::none_of(next.begin(), next.end(), [&](const Entry& e) { return e.summary.id == entry.summary.id; })) {
            next.push_back(entry);
        }
    }
    beginResetModel();
    entries_ = std::move(next);
    endResetModel();
}

void JobQueueModel::upsertJob(const JobSummary& job) {
    const int row = rowOfJob(job.id);
    if (row >= 0) {
        JobSummary& current = entries_[row].summary;
        current.position = job.position;
        current.priority = job.priority;
        if (!job.prompt.isEmpty()) {
            current.prompt = job.prompt;
        }
        if (!job.model.isEmpty()) {
            current.model = job.model;
        }
        if (!job.settings.isEmpty()) {
            current.settings = job.settings;
        }
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        return;
    }
    // Insert before the first done row, after the queued jobs ahead of it.
    int insertAt = 0;
    while (insertAt < entries_.size() && !isDone(entries_[insertAt].summary.state) &&
           (entries_[insertAt].summary.state == JobState::Running ||
            entries_[insertAt].summary.position <= job.position)) {
        ++insertAt;
    }
    beginInsertRows({}, insertAt, insertAt);
    Entry entry;
    entry.summary = job;
    entries_.insert(insertAt, entry);
    endInsertRows();
    renumber();
}

void JobQueueModel::setJobState(quint64 job, JobState state) {
    int row = rowOfJob(job);
    if (row < 0) {
        return;
    }
    entries_[row].summary.state = state;
    if (state == JobState::Finished && entries_[row].totalSteps > 0) {
        entries_[row].step = entries_[row].totalSteps;
    }
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
    if (state == JobState::Running && row != 0) {
        beginMoveRows({}, row, row, {}, 0);
        entries_.move(row, 0);
        endMoveRows();
    }
    renumber();
}

void JobQueueModel::setProgress(const JobProgress& progress) {
    const int row = rowOfJob(progress.job);
    if (row < 0) {
        return;
    }
    Entry& entry = entries_[row];
    entry.step = progress.step;
    entry.totalSteps = progress.total;
    if (entry.summary.state == JobState::Queued) {
        setJobState(progress.job, JobState::Running); // a step event before the started event
        return;
    }
    Q_EMIT dataChanged(index(row, ProgressColumn), index(row, ProgressColumn));
}

void JobQueueModel::removeDoneJobs() {
    for (int row = static_cast<int>(entries_.size()) - 1; row >= 0; --row) {
        if (isDone(entries_[row].summary.state)) {
            beginRemoveRows({}, row, row);
            entries_.removeAt(row);
            endRemoveRows();
        }
    }
}

int JobQueueModel::rowOfJob(quint64 job) const {
    for (int row = 0; row < entries_.size(); ++row) {
        if (entries_[row].summary.id == job) {
            return row;
        }
    }
    return -1;
}

quint64 JobQueueModel::jobAt(int row) const {
    return row >= 0 && row < entries_.size() ? entries_[row].summary.id : 0;
}

JobSummary JobQueueModel::summaryAt(int row) const {
    return row >= 0 && row < entries_.size() ? entries_[row].summary : JobSummary{};
}

} // namespace ditstudio::ui
