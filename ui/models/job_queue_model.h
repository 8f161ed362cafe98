// The worker's job queue as the studio shows it: one row per job in run order (running first), with its state and
// progress. The worker owns the queue; this model mirrors its list_queue replies and the events in between.
#pragma once
#include "ui/client/worker_types.h"

#include <QAbstractTableModel>

namespace ditstudio::ui {

class JobQueueModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { PositionColumn, JobColumn, StateColumn, ProgressColumn, PromptColumn, ColumnCount };
    enum Role { JobIdRole = Qt::UserRole + 1, StateRole, ProgressPercentRole, PromptRole };

    explicit JobQueueModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    bool moveRows(const QModelIndex& sourceParent, int sourceRow, int count, const QModelIndex& destinationParent,
                  int destinationChild) override;

    // A list_queue reply: replaces every queued/running row; the progress of a job still running is kept.
    void setJobs(const QVector<JobSummary>& jobs);
    // A queued event or a submitted reply: adds the job, or updates it when present.
    void upsertJob(const JobSummary& job);
    void setJobState(quint64 job, JobState state);
    void setProgress(const JobProgress& progress);
    // Drops finished, failed and cancelled rows.
    void removeDoneJobs();

    int rowOfJob(quint64 job) const; // -1 when absent
    quint64 jobAt(int row) const;
    JobSummary summaryAt(int row) const;
    // The queue position (0 = next to run) the worker should give the job now at `row`.
    int queuePositionOfRow(int row) const;

private:
    struct Entry {
        JobSummary summary;
        int step = 0;
        int totalSteps = 0;
    };
    static bool isDone(JobState state);
    void renumber();

    QVector<Entry> entries_;
};

} // namespace ditstudio::ui
