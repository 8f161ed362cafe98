#include "ui/widgets/history_view.h"

#include "ui/models/history_model.h"

#include <QDesktopServices>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QJsonDocument>
#include <QLineEdit>
#include <QListView>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

namespace ditstudio::ui {

HistoryView::HistoryView(HistoryModel* model, QWidget* parent) : QWidget(parent), model_(model) {
    filter_ = new HistoryFilterModel(this);
    filter_->setSourceModel(model_);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    auto* searchRow = new QHBoxLayout;
    searchEdit_ = new QLineEdit;
    searchEdit_->setObjectName("historySearch");
    searchEdit_->setPlaceholderText(tr("Search prompts ..."));
    searchEdit_->setClearButtonEnabled(true);
    auto* refresh = new QToolButton;
    refresh->setText(tr("Refresh"));
    refresh->setObjectName("historyRefresh");
    searchRow->addWidget(searchEdit_, 1);
    searchRow->addWidget(refresh);
    layout->addLayout(searchRow);

    auto* split = new QSplitter(Qt::Vertical);
    list_ = new QListView;
    list_->setObjectName("historyList");
    list_->setModel(filter_);
    list_->setViewMode(QListView::IconMode);
    list_->setIconSize(HistoryModel::thumbnailSize());
    list_->setGridSize(HistoryModel::thumbnailSize() + QSize(24, 44));
    list_->setResizeMode(QListView::Adjust);
    list_->setWordWrap(true);
    list_->setUniformItemSizes(true);
    list_->setMovement(QListView::Static);
    list_->setTextElideMode(Qt::ElideRight);
    split->addWidget(list_);
    details_ = new QPlainTextEdit;
    details_->setObjectName("historyDetails");
    details_->setReadOnly(true);
    details_->setPlaceholderText(tr("Select an output to see every setting it was made with."));
    split->addWidget(details_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    layout->addWidget(split, 1);

    auto* buttons = new QGridLayout; // two rows: the dock stays narrow
    useButton_ = new QPushButton(tr("Use these settings again"));
    useButton_->setObjectName("historyUseButton");
    openButton_ = new QPushButton(tr("Play"));
    openButton_->setObjectName("historyOpenButton");
    compareButton_ = new QPushButton(tr("Compare"));
    compareButton_->setObjectName("historyCompareButton");
    compareButton_->setToolTip(tr("Show beside the clip in the player"));
    revealButton_ = new QPushButton(tr("Reveal file"));
    revealButton_->setObjectName("historyRevealButton");
    deleteButton_ = new QPushButton(tr("Delete"));
    deleteButton_->setObjectName("historyDeleteButton");
    buttons->addWidget(useButton_, 0, 0, 1, 2);
    buttons->addWidget(openButton_, 0, 2);
    buttons->addWidget(compareButton_, 1, 0);
    buttons->addWidget(revealButton_, 1, 1);
    buttons->addWidget(deleteButton_, 1, 2);
    layout->addLayout(buttons);

    connect(searchEdit_, &QLineEdit::textChanged, filter_, &HistoryFilterModel::setSearchText);
    connect(refresh, &QToolButton::clicked, this, &HistoryView::refreshRequested);
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this, &HistoryView::showDetails);
    connect(filter_, &QAbstractItemModel::modelReset, this, &HistoryView::showDetails);
    connect(useButton_, &QPushButton::clicked, this, &HistoryView::useSelectedSettings);
    connect(revealButton_, &QPushButton::clicked, this, &HistoryView::revealSelected);
    auto withSelected = [this](auto&& action) {
        return [this, action] {
            const int row = selectedSourceRow();
            if (row >= 0) {
                action(model_->entryAt(row));
            }
        };
    };
    auto title = [](const HistoryEntry& e) { return QString("#%1 seed %2").arg(e.job).arg(e.seed); };
    connect(openButton_, &QPushButton::clicked, this,
            withSelected([this, title](const HistoryEntry& e) { Q_EMIT openRequested(e.outputPath, title(e)); }));
    connect(list_, &QListView::doubleClicked, this, [this, title](const QModelIndex& index) {
        const HistoryEntry& e = model_->entryAt(filter_->mapToSource(index).row());
        Q_EMIT openRequested(e.outputPath, title(e));
    });
    connect(compareButton_, &QPushButton::clicked, this,
            withSelected([this, title](const HistoryEntry& e) { Q_EMIT compareRequested(e.outputPath, title(e)); }));
    connect(deleteButton_, &QPushButton::clicked, this,
            withSelected([this](const HistoryEntry& e) { Q_EMIT deleteRequested(e.job, e.outputPath); }));
    showDetails();
}

void HistoryView::setSearchText(const QString& text) { searchEdit_->setText(text); }

int HistoryView::selectedSourceRow() const {
    const QModelIndex current = list_->currentIndex();
    return current.isValid() ? filter_->mapToSource(current).row() : -1;
}

void HistoryView::selectSourceRow(int row) {
    const QModelIndex index = filter_->mapFromSource(model_->index(row, 0));
    list_->setCurrentIndex(index);
}

QString HistoryView::detailsText() const { return details_->toPlainText(); }

void HistoryView::useSelectedSettings() {
    const int row = selectedSourceRow();
    if (row >= 0) {
        Q_EMIT useSettingsRequested(model_->entryAt(row).settings);
    }
}

void HistoryView::revealSelected() {
    const int row = selectedSourceRow();
    if (row < 0) {
        return;
    }
    const QFileInfo info(model_->entryAt(row).outputPath);
    QDesktopServices::openUrl(QUrl::fromLocalFile(info.isDir() ? info.absoluteFilePath() : info.absolutePath()));
}

void HistoryView::showDetails() {
    const int row = selectedSourceRow();
    const bool hasSelection = row >= 0;
    for (QPushButton* b : {useButton_, openButton_, compareButton_, revealButton_, deleteButton_}) {
        b->setEnabled(hasSelection);
    }
    if (!hasSelection) {
        details_->clear();
        return;
    }
    const HistoryEntry& e = model_->entryAt(row);
    QString text = tr("Job #%1 — %2 — seed %3\nOutput: %4\n").arg(e.job).arg(e.status).arg(e.seed).arg(e.outputPath);
    if (e.created.isValid()) {
        text += tr("Created: %1\n").arg(e.created.toString(Qt::ISODate));
    }
    if (!e.timings.isEmpty()) {
        QStringList parts;
        for (auto it = e.timings.begin(); it != e.timings.end(); ++it) {
            parts << QString("%1 %2 s").arg(it.key()).arg(it.value().toDouble(), 0, 'f', 2);
        }
        text += tr("Timings: %1\n").arg(parts.join(", "));
    }
    text += "\n" + QString::fromUtf8(QJsonDocument(e.settings).toJson(QJsonDocument::Indented));
    details_->setPlainText(text);
}

} // namespace ditstudio::ui
