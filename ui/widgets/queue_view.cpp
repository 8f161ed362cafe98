#include "ui/widgets/queue_view.h"

#include "ui/models/job_queue_model.h"

#include <QAction>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QSignalBlocker>
#include <QStyle>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

namespace ditstudio::ui {

QueueView::QueueView(JobQueueModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    auto* bar = new QHBoxLayout;
    auto tool = [this](QStyle::StandardPixmap icon, const QString& text, const QString& tip, const char* name) {
        auto* b = new QToolButton;
        b->setIcon(style()->standardIcon(icon));
        b->setText(text);
        b->setToolTip(tip);
        b->setObjectName(name);
        b->setToolButtonStyle(Qt::ToolButtonIconOnly); // narrow docks: the text is the tooltip's
        b->setAccessibleName(text);
        b->setAutoRaise(true);
        return b;
    };
    upButton_ = tool(QStyle::SP_ArrowUp, tr("Up"), tr("Run earlier (Ctrl+Up)"), "queueUpButton");
    downButton_ = tool(QStyle::SP_ArrowDown, tr("Down"), tr("Run later (Ctrl+Down)"), "queueDownButton");
    cancelButton_ = tool(QStyle::SP_DialogCancelButton, tr("Cancel"), tr("Cancel the selected job (Delete)"),
                         "queueCancelButton");
    pauseButton_ = tool(QStyle::SP_MediaPause, tr("Pause queue"),
                        tr("Hold queued jobs (the running job finishes)"), "queuePauseButton");
    pauseButton_->setCheckable(true);
    clearButton_ = tool(QStyle::SP_DialogResetButton, tr("Clear done"), tr("Remove finished, failed and cancelled "
                                                                           "jobs from this list"),
                        "queueClearButton");
    for (QToolButton* b : {upButton_, downButton_, cancelButton_, pauseButton_, clearButton_}) {
        bar->addWidget(b);
    }
    bar->addStretch();
    layout->addLayout(bar);

    table_ = new QTableView;
    table_->setObjectName("queueTable");
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setAlternatingRowColors(true);
    table_->setColumnWidth(JobQueueModel::PositionColumn, 36);
    table_->setColumnWidth(JobQueueModel::JobColumn, 60);
    table_->setColumnWidth(JobQueueModel::ProgressColumn, 120);
    layout->addWidget(table_);

    auto* upAction = new QAction(this);
    upAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Up));
    upAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    auto* downAction = new QAction(this);
    downAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Down));
    downAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    auto* deleteAction = new QAction(this);
    deleteAction->setShortcut(QKeySequence::Delete);
    deleteAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    addActions({upAction, downAction, deleteAction});

    connect(upButton_, &QToolButton::clicked, this, [this] { moveSelected(-1); });
    connect(downButton_, &QToolButton::clicked, this, [this] { moveSelected(+1); });
    connect(upAction, &QAction::triggered, this, [this] { moveSelected(-1); });
    connect(downAction, &QAction::triggered, this, [this] { moveSelected(+1); });
    auto cancelSelected = [this] {
        if (const quint64 job = selectedJob()) {
            Q_EMIT cancelRequested(job);
        }
    };
    connect(cancelButton_, &QToolButton::clicked, this, cancelSelected);
    connect(deleteAction, &QAction::triggered, this, cancelSelected);
    connect(pauseButton_, &QToolButton::toggled, this, &QueueView::pauseRequested);
    connect(clearButton_, &QToolButton::clicked, model_, &JobQueueModel::removeDoneJobs);
    connect(table_, &QTableView::doubleClicked, this, [this](const QModelIndex& index) {
        Q_EMIT jobActivated(model_->jobAt(index.row()));
    });
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &QueueView::updateButtons);
    connect(model_, &QAbstractItemModel::dataChanged, this, &QueueView::updateButtons);
    connect(model_, &QAbstractItemModel::modelReset, this, &QueueView::updateButtons);
    connect(model_, &QAbstractItemModel::rowsMoved, this, &QueueView::updateButtons);
    updateButtons();
}

quint64 QueueView::selectedJob() const {
    const QModelIndexList rows = table_->selectionModel()->selectedRows();
    return rows.isEmpty() ? 0 : model_->jobAt(rows.front().row());
}

void QueueView::selectJob(quint64 job) {
    const int row = model_->rowOfJob(job);
    if (row >= 0) {
        table_->selectRow(row);
    }
}

void QueueView::setPaused(bool isPaused) {
    const QSignalBlocker blocker(pauseButton_);
    pauseButton_->setChecked(isPaused);
}

void QueueView::moveSelected(int delta) {
    const quint64 job = selectedJob();
    const int row = model_->rowOfJob(job);
    if (row < 0) {
        return;
    }
    const int destination = delta < 0 ? row - 1 : row + 2; // moveRows' destination is "before this row"
    if (model_->moveRow({}, row, {}, destination)) {
        const int newRow = model_->rowOfJob(job);
        table_->selectRow(newRow);
        Q_EMIT reorderRequested(job, model_->queuePositionOfRow(newRow));
    }
}

void QueueView::updateButtons() {
    const quint64 job = selectedJob();
    const int row = model_->rowOfJob(job);
    const JobState state = model_->summaryAt(row).state;
    const bool isQueued = row >= 0 && state == JobState::Queued;
    const bool isActive = row >= 0 && (state == JobState::Queued || state == JobState::Running);
    upButton_->setEnabled(isQueued && row > 0 && model_->summaryAt(row - 1).state == JobState::Queued);
    downButton_->setEnabled(isQueued && row + 1 < model_->rowCount() &&
                            model_->summaryAt(row + 1).state == JobState::Queued);
    cancelButton_->setEnabled(isActive);
}

} // namespace ditstudio::ui
