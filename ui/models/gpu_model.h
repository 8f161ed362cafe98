// The GPUs the worker reports (get_status): name, memory, use and the rank on each. Shared by the parallel panel
// (which GPUs to use) and the status panel (use per rank).
#pragma once
#include "ui/client/worker_types.h"

#include <QAbstractTableModel>

namespace ditstudio::ui {

class GpuModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { IndexColumn, NameColumn, MemoryColumn, UseColumn, RankColumn, ColumnCount };

    explicit GpuModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Keeps the user's choice of GPUs for indices that are still present; new GPUs start chosen.
    void setGpus(const QVector<GpuInfo>& gpus);
    int gpuCount() const { return static_cast<int>(gpus_.size()); }
    QVector<int> chosenIndices() const;
    void setChosenIndices(const QVector<int>& indices); // empty: all chosen

Q_SIGNALS:
    void chosenChanged();

private:
    QVector<GpuInfo> gpus_;
    QVector<bool> chosen_;
};

QString formatBytes(qint64 bytes); // "79.6 GiB"

} // namespace ditstudio::ui
