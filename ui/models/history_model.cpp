#include "ui/models/history_model.h"

#include <QFileInfo>
#include <QIcon>
#include <QPixmap>

#include <algorithm>

namespace ditstudio::ui {

HistoryModel::HistoryModel(QObject* parent) : QAbstractTableModel(parent) {}

int HistoryModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(entries_.size());
}

int HistoryModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant HistoryModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const HistoryEntry& entry = entries_[index.row()];
    switch (role) {
    case JobIdRole: return QVariant::fromValue(entry.job);
    case PromptRole: return entry.prompt;
    case OutputPathRole: return entry.outputPath;
    case SettingsRole: return entry.settings;
    case ThumbnailRole: return entry.thumbnail;
    case Qt::ToolTipRole: return QString("%1\n%2").arg(entry.prompt, entry.outputPath);
    case Qt::DecorationRole:
        if (index.column() == PromptColumn && !entry.thumbnail.isNull()) {
            return QPixmap::fromImage(
                entry.thumbnail.scaled(thumbnailSize(), Qt::KeepAspectRatio, Qt::SmoothTransformation));
        }
        return {};
    case Qt::DisplayRole:
        switch (index.column()) {
        case PromptColumn: return entry.prompt.simplified();
        case CreatedColumn: return entry.created.isValid() ? entry.created.toString("yyyy-MM-dd hh:mm") : QString();
        case SeedColumn: return QString::number(entry.seed);
        case SizeColumn:
            return QString("%1×%2, %3 f")
                .arg(entry.settings.value("width").toInteger())
                .arg(entry.settings.value("height").toInteger())
                .arg(entry.settings.value("num_frames").toInteger());
        case StatusColumn: return entry.status;
        default: return {};
        }
    default: return {};
    }
}

QVariant HistoryModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) {
        return {};
    }
    switch (section) {
    case PromptColumn: return tr("Prompt");
    case CreatedColumn: return tr("Created");
    case SeedColumn: return tr("Seed");
    case SizeColumn: return tr("Size");
    case StatusColumn: return tr("Status");
    default: return {};
    }
}

void HistoryModel::setEntries(const QVector<HistoryEntry>& entries) {
    QVector<HistoryEntry> next = entries;
    for (HistoryEntry& entry : next) {
        // A job this studio watched has a thumbnail from its frames already; keep it when the list has none.
        const int old = rowOfJob(entry.job);
        if (entry.thumbnail.isNull() && old >= 0) {
            entry.thumbnail = entries_[old].thumbnail;
        }
    }
    beginResetModel();
    entries_ = std::move(next);
    std::stable_sort(entries_.begin(), entries_.end(),
                     [](const HistoryEntry& a, const HistoryEntry& b) { return a.created > b.created; });
    endResetModel();
}

void HistoryModel::addEntry(const HistoryEntry& entry) {
    const int row = rowOfJob(entry.job);
    if (row >= 0 && entry.job != 0) {
        entries_[row] = entry;
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        return;
    }
    beginInsertRows({}, 0, 0);
    entries_.prepend(entry);
    endInsertRows();
}

bool HistoryModel::removeJob(quint64 job) {
    const int row = rowOfJob(job);
    if (row < 0) {
        return false;
    }
    beginRemoveRows({}, row, row);
    entries_.removeAt(row);
    endRemoveRows();
    return true;
}

int HistoryModel::rowOfJob(quint64 job) const {
    for (int row = 0; row < entries_.size(); ++row) {
        if (entries_[row].job == job) {
            return row;
        }
    }
    return -1;
}

const HistoryEntry& HistoryModel::entryAt(int row) const { return entries_.at(row); }

HistoryFilterModel::HistoryFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {}

void HistoryFilterModel::setSearchText(const QString& text) {
    words_ = text.simplified().split(' ', Qt::SkipEmptyParts);
    invalidateFilter();
}

bool HistoryFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (words_.isEmpty()) {
        return true;
    }
    const QString prompt =
        sourceModel()->index(sourceRow, 0, sourceParent).data(HistoryModel::PromptRole).toString();
    return std::all_of(words_.begin(), words_.end(),
                       [&](const QString& word) { return prompt.contains(word, Qt::CaseInsensitive); });
}

} // namespace ditstudio::ui
