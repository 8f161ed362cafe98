// Finished outputs, newest first, as the worker's history database lists them (query_history), with a thumbnail,
// the prompt and every setting. HistoryFilterModel searches it by prompt.
#pragma once
#include "ui/client/worker_types.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>

namespace ditstudio::ui {

class HistoryModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { PromptColumn, CreatedColumn, SeedColumn, SizeColumn, StatusColumn, ColumnCount };
    enum Role { JobIdRole = Qt::UserRole + 1, PromptRole, OutputPathRole, SettingsRole, ThumbnailRole };

    explicit HistoryModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // A query_history reply, sorted newest first; a thumbnail already known for a job is kept when the reply has none.
    void setEntries(const QVector<HistoryEntry>& entries);
    void addEntry(const HistoryEntry& entry);              // a job that just finished: goes on top (or replaces)
    bool removeJob(quint64 job);
    int rowOfJob(quint64 job) const;
    const HistoryEntry& entryAt(int row) const;

    static QSize thumbnailSize() { return {160, 96}; }

private:
    QVector<HistoryEntry> entries_;
};

// Case-insensitive search of the prompt (every word of the search must occur).
class HistoryFilterModel : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit HistoryFilterModel(QObject* parent = nullptr);
    void setSearchText(const QString& text);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    QStringList words_;
};

} // namespace ditstudio::ui
