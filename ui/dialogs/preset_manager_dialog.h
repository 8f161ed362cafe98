// The preset manager: built-in and user presets in one table (PresetModel), the selected preset's YAML, and
// create (from the current settings), duplicate, rename, delete, import, export and "load into the panels".
// An invalid preset (listed, or refused on import) shows its error with file:line:column, and the offending line
// is highlighted in the YAML view.
#pragma once
#include "core/presets/generation_settings.h"

#include <QDialog>

#include <functional>

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QTableView;

namespace ditstudio::ui {

class PresetModel;

// The line number in a "file:line:column: message" (PresetError) text, or 0.
int errorLine(const QString& message);

class PresetManagerDialog : public QDialog {
    Q_OBJECT
public:
    // `currentSettings` gives the studio's settings for "New from current settings".
    PresetManagerDialog(PresetModel* model, std::function<GenerationSettings()> currentSettings,
                        QWidget* parent = nullptr);

    QString selectedPreset() const;
    void selectPreset(const QString& name);

    // The actions, without the dialogs that ask for names and paths. Each returns the error shown (empty: done).
    QString createPreset(const QString& name);
    QString duplicatePreset(const QString& name, const QString& newName);
    QString renamePreset(const QString& name, const QString& newName);
    QString deletePreset(const QString& name);
    QString importPreset(const QString& path);
    QString exportPreset(const QString& name, const QString& path);

    QString errorText() const;
    QString yamlText() const;
    int highlightedLine() const { return highlightedLine_; } // 1-based; 0 when none

Q_SIGNALS:
    void loadRequested(const QString& name);

private:
    void showSelected();
    void showError(const QString& message, const QString& yamlOfFile);
    void highlightLine(int line);
    void updateButtons();

    PresetModel* model_;
    std::function<GenerationSettings()> currentSettings_;
    QTableView* table_;
    QPlainTextEdit* yaml_;
    QLabel* errorLabel_;
    QPushButton* loadButton_;
    QPushButton* duplicateButton_;
    QPushButton* renameButton_;
    QPushButton* deleteButton_;
    QPushButton* exportButton_;
    int highlightedLine_ = 0;
};

} // namespace ditstudio::ui
