#include "ui/models/preset_model.h"

#include "core/util/error.h"

#include <QBrush>
#include <QColor>

#include <functional>

namespace ditstudio::ui {

PresetModel::PresetModel(PresetStore store, QObject* parent) : QAbstractTableModel(parent), store_(std::move(store)) {
    reload();
}

int PresetModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(entries_.size());
}

int PresetModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant PresetModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
        return {};
    }
    const PresetEntry& entry = entries_[static_cast<size_t>(index.row())];
    switch (role) {
    case NameRole: return QString::fromStdString(entry.name);
    case IsBuiltinRole: return entry.builtin;
    case ErrorRole: return QString::fromStdString(entry.error);
    case PathRole: return QString::fromStdString(entry.path.string());
    case Qt::ToolTipRole:
        return entry.error.empty() ? QString::fromStdString(entry.path.string()) : QString::fromStdString(entry.error);
    case Qt::ForegroundRole:
        if (!entry.error.empty()) {
            return QBrush(QColor(220, 80, 80));
        }
        return {};
    case Qt::DisplayRole:
        switch (index.column()) {
        case NameColumn: return QString::fromStdString(entry.name);
        case SourceColumn: return entry.builtin ? tr("Built-in") : tr("User");
        case DescriptionColumn:
            return entry.error.empty() ? QString::fromStdString(entry.description) : tr("Invalid: %1").arg(
                                                                                         QString::fromStdString(entry.error));
        default: return {};
        }
    default: return {};
    }
}

QVariant PresetModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) {
        return {};
    }
    switch (section) {
    case NameColumn: return tr("Name");
    case SourceColumn: return tr("Source");
    case DescriptionColumn: return tr("Description");
    default: return {};
    }
}

void PresetModel::reload() {
    std::vector<PresetEntry> entries;
    try {
        entries = store_.list();
    } catch (const std::exception&) {
        // An unreadable folder lists as empty; the next action on it reports the error.
    }
    beginResetModel();
    entries_ = std::move(entries);
    endResetModel();
    Q_EMIT presetsChanged();
}

int PresetModel::rowOfPreset(const QString& name) const {
    const std::string key = name.toStdString();
    for (size_t row = 0; row < entries_.size(); ++row) {
        if (entries_[row].name == key) {
            return static_cast<int>(row);
        }
    }
    return -1;
}

QString PresetModel::run(const std::function<void()>& action) {
    QString error;
    try {
        action();
    } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
    }
    reload();
    return error;
}

QString PresetModel::create(const QString& name, const GenerationSettings& settings) {
    return run([&] { store_.save(settings, name.toStdString()); });
}

QString PresetModel::duplicate(const QString& name, const QString& newName) {
    return run([&] { store_.duplicate(name.toStdString(), newName.toStdString()); });
}

QString PresetModel::rename(const QString& name, const QString& newName) {
    return run([&] { store_.rename(name.toStdString(), newName.toStdString()); });
}

QString PresetModel::remove(const QString& name) {
    return run([&] { store_.remove(name.toStdString()); });
}

QString PresetModel::importFile(const QString& path, QString* importedName) {
    return run([&] {
        const std::string name = store_.importFile(path.toStdString());
        if (importedName) {
            *importedName = QString::fromStdString(name);
        }
    });
}

QString PresetModel::exportTo(const QString& name, const QString& path) {
    QString error;
    try {
        store_.exportTo(name.toStdString(), path.toStdString());
    } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
    }
    return error;
}

std::optional<GenerationSettings> PresetModel::load(const QString& name, QString* error) const {
    try {
        return store_.load(name.toStdString());
    } catch (const std::exception& e) {
        if (error) {
            *error = QString::fromStdString(e.what());
        }
        return std::nullopt;
    }
}

} // namespace ditstudio::ui
