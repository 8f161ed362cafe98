#include "ui/models/gpu_model.h"

namespace ditstudio::ui {

QString formatBytes(qint64 bytes) {
    const double gib = static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0);
    if (gib >= 1.0) {
        return QString("%1 GiB").arg(gib, 0, 'f', 1);
    }
    return QString("%1 MiB").arg(static_cast<double>(bytes) / (1024.0 * 1024.0), 0, 'f', 0);
}

GpuModel::GpuModel(QObject* parent) : QAbstractTableModel(parent) {}

int GpuModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(gpus_.size()); }

int GpuModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant GpuModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const GpuInfo& gpu = gpus_[index.row()];
    if (role == Qt::CheckStateRole && index.column() == IndexColumn) {
        return chosen_[index.row()] ? Qt::Checked : Qt::Unchecked;
    }
    if (role != Qt::DisplayRole) {
        return {};
    }
    switch (index.column()) {
    case IndexColumn: return QString("GPU %1").arg(gpu.index);
    case NameColumn: return gpu.name;
    case MemoryColumn:
        if (gpu.memoryTotalBytes <= 0) {
            return QString();
        }
        return gpu.memoryUsedBytes > 0
                   ? QString("%1 / %2").arg(formatBytes(gpu.memoryUsedBytes), formatBytes(gpu.memoryTotalBytes))
                   : formatBytes(gpu.memoryTotalBytes);
    case UseColumn: return gpu.utilizationPercent >= 0 ? QString("%1 %").arg(gpu.utilizationPercent, 0, 'f', 0) : QString();
    case RankColumn: return gpu.rank >= 0 ? QString::number(gpu.rank) : QString();
    default: return {};
    }
}

bool GpuModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid) ||
        role != Qt::CheckStateRole || index.column() != IndexColumn) {
        return false;
    }
    const bool isChosen = value.toInt() == Qt::Checked;
    if (chosen_[index.row()] == isChosen) {
        return true;
    }
    chosen_[index.row()] = isChosen;
    Q_EMIT dataChanged(index, index, {Qt::CheckStateRole});
    Q_EMIT chosenChanged();
    return true;
}

Qt::ItemFlags GpuModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags flags = QAbstractTableModel::flags(index);
    if (index.isValid() && index.column() == IndexColumn) {
        flags |= Qt::ItemIsUserCheckable;
    }
    return flags;
}

QVariant GpuModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) {
        return {};
    }
    switch (section) {
    case IndexColumn: return tr("GPU");
    case NameColumn: return tr("Name");
    case MemoryColumn: return tr("Memory");
    case UseColumn: return tr("Use");
    case RankColumn: return tr("Rank");
    default: return {};
    }
}

void GpuModel::setGpus(const QVector<GpuInfo>& gpus) {
    QVector<bool> chosen;
    for (const GpuInfo& gpu : gpus) {
        bool isChosen = true;
        for (int row = 0; row < gpus_.size(); ++row) {
            if (gpus_[row].index == gpu.index) {
                isChosen = chosen_[row];
            }
        }
        chosen.push_back(isChosen);
    }
    const bool isSameSet = gpus.size() == gpus_.size() && chosen == chosen_;
    if (isSameSet) {
        gpus_ = gpus;
        if (!gpus_.isEmpty()) {
            Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        }
        return;
    }
    beginResetModel();
    gpus_ = gpus;
    chosen_ = chosen;
    endResetModel();
    Q_EMIT chosenChanged();
}

QVector<int> GpuModel::chosenIndices() const {
    QVector<int> indices;
    for (int row = 0; row < gpus_.size(); ++row) {
        if (chosen_[row]) {
            indices.push_back(gpus_[row].index);
        }
    }
    return indices;
}

void GpuModel::setChosenIndices(const QVector<int>& indices) {
    for (int row = 0; row < gpus_.size(); ++row) {
        const bool isChosen = indices.isEmpty() || indices.contains(gpus_[row].index);
        if (chosen_[row] != isChosen) {
            chosen_[row] = isChosen;
            Q_EMIT dataChanged(index(row, IndexColumn), index(row, IndexColumn), {Qt::CheckStateRole});
        }
    }
    Q_EMIT chosenChanged();
}

} // namespace ditstudio::ui
