// Built-in and user presets (core/presets/preset_store.h) as a table: name, where it comes from, description, and
// whether it loads. Editing goes through the store (files on disk); the model re-lists after every change and
// reports failures with the store's message (which carries file:line:column for invalid documents).
#pragma once
#include "core/presets/preset_store.h"

#include <QAbstractTableModel>

#include <optional>
#include <vector>

namespace ditstudio::ui {

class PresetModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { NameColumn, SourceColumn, DescriptionColumn, ColumnCount };
    enum Role { NameRole = Qt::UserRole + 1, IsBuiltinRole, ErrorRole, PathRole };

    explicit PresetModel(PresetStore store, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    const PresetStore& store() const { return store_; }
    void reload();
    int rowOfPreset(const QString& name) const;
    const PresetEntry& entryAt(int row) const { return entries_.at(static_cast<size_t>(row)); }

    // Each returns an empty string on success, else the message to show (the store's error text). The model is
    // re-listed either way.
    QString create(const QString& name, const GenerationSettings& settings);
    QString duplicate(const QString& name, const QString& newName);
    QString rename(const QString& name, const QString& newName);
    QString remove(const QString& name);
    QString importFile(const QString& path, QString* importedName = nullptr);
    QString exportTo(const QString& name, const QString& path);
    // The settings of a preset, or the error text in `error`.
    std::optional<GenerationSettings> load(const QString& name, QString* error = nullptr) const;

Q_SIGNALS:
    void presetsChanged();

private:
    QString run(const std::function<void()>& action);

    PresetStore store_;
    std::vector<PresetEntry> entries_;
};

} // namespace ditstudio::ui
