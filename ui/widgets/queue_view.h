// The job queue: running job first, then queued jobs in run order. Move up/down (Ctrl+Up/Down) reorders a queued
// job, Cancel (Delete) cancels the selected job, Pause holds the queue after the running job.
#pragma once
#include <QWidget>

class QTableView;
class QToolButton;

namespace ditstudio::ui {

class JobQueueModel;

class QueueView : public QWidget {
    Q_OBJECT
public:
    explicit QueueView(JobQueueModel* model, QWidget* parent = nullptr);

    quint64 selectedJob() const;
    void selectJob(quint64 job);
    void setPaused(bool isPaused);
    QTableView* table() const { return table_; }

    // Moves the selected queued job one row up (-1) or down (+1) in the model and asks the worker to do the same.
    void moveSelected(int delta);

Q_SIGNALS:
    void reorderRequested(quint64 job, int position);
    void cancelRequested(quint64 job);
    void pauseRequested(bool paused);
    void jobActivated(quint64 job); // double-click: watch it in the live view

private:
    void updateButtons();

    JobQueueModel* model_;
    QTableView* table_;
    QToolButton* upButton_;
    QToolButton* downButton_;
    QToolButton* cancelButton_;
    QToolButton* pauseButton_;
    QToolButton* clearButton_;
};

} // namespace ditstudio::ui
