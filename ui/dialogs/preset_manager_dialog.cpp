#include "ui/dialogs/preset_manager_dialog.h"

#include "ui/models/preset_model.h"

#include <QDialogButtonBox>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSplitter>
#include <QTableView>
#include <QTextBlock>
#include <QVBoxLayout>

namespace ditstudio::ui {

namespace {

QString readText(const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return {};
    }
    return QString::fromUtf8(file.readAll());
}

} // namespace

int errorLine(const QString& message) {
    // "presets/x.yaml:3:9: width: expected ..." — the first ":<line>:<column>:" after a file name.
    static const QRegularExpression pattern(R"(\.ya?ml:(\d+):(\d+))");
    const QRegularExpressionMatch match = pattern.match(message);
    return match.hasMatch() ? match.captured(1).toInt() : 0;
}

PresetManagerDialog::PresetManagerDialog(PresetModel* model, std::function<GenerationSettings()> currentSettings,
                                         QWidget* parent)
    : QDialog(parent), model_(model), currentSettings_(std::move(currentSettings)) {
    setWindowTitle(tr("Presets"));
    resize(900, 560);
    auto* layout = new QVBoxLayout(this);
    auto* split = new QSplitter(Qt::Horizontal);
    table_ = new QTableView;
    table_->setObjectName("presetTable");
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->hide();
    table_->horizontalHeader()->setStretchLastSection(true);
    split->addWidget(table_);
    yaml_ = new QPlainTextEdit;
    yaml_->setObjectName("presetYaml");
    yaml_->setReadOnly(true);
    yaml_->setLineWrapMode(QPlainTextEdit::NoWrap);
    QFont mono("monospace");
    mono.setStyleHint(QFont::TypeWriter);
    yaml_->setFont(mono);
    split->addWidget(yaml_);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);
    errorLabel_ = new QLabel;
    errorLabel_->setObjectName("presetError");
    errorLabel_->setWordWrap(true);
    errorLabel_->setStyleSheet("color: #e06c6c;");
    errorLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(errorLabel_);

    auto* buttons = new QHBoxLayout;
    loadButton_ = new QPushButton(tr("Load"));
    loadButton_->setToolTip(tr("Put this preset's settings into the panels"));
    auto* newButton = new QPushButton(tr("New from current settings ..."));
    duplicateButton_ = new QPushButton(tr("Duplicate ..."));
    renameButton_ = new QPushButton(tr("Rename ..."));
    deleteButton_ = new QPushButton(tr("Delete"));
    auto* importButton = new QPushButton(tr("Import ..."));
    exportButton_ = new QPushButton(tr("Export ..."));
    for (QPushButton* b : {loadButton_, newButton, duplicateButton_, renameButton_, deleteButton_, importButton,
                           exportButton_}) {
        buttons->addWidget(b);
    }
    buttons->addStretch();
    auto* close = new QDialogButtonBox(QDialogButtonBox::Close);
    buttons->addWidget(close);
    layout->addLayout(buttons);

    connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &PresetManagerDialog::showSelected);
    connect(model_, &QAbstractItemModel::modelReset, this, &PresetManagerDialog::updateButtons);
    connect(loadButton_, &QPushButton::clicked, this, [this] {
        if (!selectedPreset().isEmpty()) {
            Q_EMIT loadRequested(selectedPreset());
        }
    });
    connect(table_, &QTableView::doubleClicked, this, [this] { Q_EMIT loadRequested(selectedPreset()); });
    connect(newButton, &QPushButton::clicked, this, [this] {
        const QString name = QInputDialog::getText(this, tr("New preset"), tr("Name (letters, digits, - and _):"));
        if (!name.isEmpty()) {
            createPreset(name);
        }
    });
    connect(duplicateButton_, &QPushButton::clicked, this, [this] {
        const QString from = selectedPreset();
        const QString name = QInputDialog::getText(this, tr("Duplicate preset"), tr("Name of the copy:"),
                                                   QLineEdit::Normal, from + "-copy");
        if (!name.isEmpty()) {
            duplicatePreset(from, name);
        }
    });
    connect(renameButton_, &QPushButton::clicked, this, [this] {
        const QString from = selectedPreset();
        const QString name =
            QInputDialog::getText(this, tr("Rename preset"), tr("New name:"), QLineEdit::Normal, from);
        if (!name.isEmpty() && name != from) {
            renamePreset(from, name);
        }
    });
    connect(deleteButton_, &QPushButton::clicked, this, [this] {
        const QString name = selectedPreset();
        if (QMessageBox::question(this, tr("Delete preset"), tr("Delete the user preset \"%1\"?").arg(name)) ==
            QMessageBox::Yes) {
            deletePreset(name);
        }
    });
    connect(importButton, &QPushButton::clicked, this, [this] {
        const QString path =
            QFileDialog::getOpenFileName(this, tr("Import preset"), QString(), tr("Presets (*.yaml *.yml)"));
        if (!path.isEmpty()) {
            importPreset(path);
        }
    });
    connect(exportButton_, &QPushButton::clicked, this, [this] {
        const QString name = selectedPreset();
        const QString path = QFileDialog::getSaveFileName(this, tr("Export preset"), name + ".yaml",
                                                          tr("Presets (*.yaml *.yml)"));
        if (!path.isEmpty()) {
            exportPreset(name, path);
        }
    });
    if (model_->rowCount() > 0) {
        table_->selectRow(0);
    }
    updateButtons();
    showSelected();
}

QString PresetManagerDialog::selectedPreset() const {
    const QModelIndex current = table_->currentIndex();
    return current.isValid() ? model_->index(current.row(), 0).data(PresetModel::NameRole).toString() : QString();
}

void PresetManagerDialog::selectPreset(const QString& name) {
    const int row = model_->rowOfPreset(name);
    if (row >= 0) {
        table_->selectRow(row);
        table_->setCurrentIndex(model_->index(row, 0));
    }
    showSelected();
}

void PresetManagerDialog::updateButtons() {
    const int row = model_->rowOfPreset(selectedPreset());
    const bool hasSelection = row >= 0;
    const bool isUser = hasSelection && !model_->entryAt(row).builtin;
    loadButton_->setEnabled(hasSelection && model_->entryAt(row).error.empty());
    duplicateButton_->setEnabled(hasSelection);
    exportButton_->setEnabled(hasSelection);
    renameButton_->setEnabled(isUser);
    deleteButton_->setEnabled(isUser);
}

void PresetManagerDialog::showSelected() {
    updateButtons();
    const int row = model_->rowOfPreset(selectedPreset());
    if (row < 0) {
        yaml_->clear();
        showError({}, {});
        return;
    }
    const PresetEntry& entry = model_->entryAt(row);
    const QString text = readText(QString::fromStdString(entry.path.string()));
    yaml_->setPlainText(text);
    showError(QString::fromStdString(entry.error), text);
}

void PresetManagerDialog::showError(const QString& message, const QString& yamlOfFile) {
    errorLabel_->setText(message);
    errorLabel_->setVisible(!message.isEmpty());
    if (!message.isEmpty() && !yamlOfFile.isEmpty() && yaml_->toPlainText() != yamlOfFile) {
        yaml_->setPlainText(yamlOfFile);
    }
    highlightLine(message.isEmpty() ? 0 : errorLine(message));
}

void PresetManagerDialog::highlightLine(int line) {
    highlightedLine_ = line;
    QList<QTextEdit::ExtraSelection> selections;
    if (line > 0) {
        QTextEdit::ExtraSelection selection;
        selection.format.setBackground(QColor(224, 108, 108, 90));
        selection.format.setProperty(QTextFormat::FullWidthSelection, true);
        selection.cursor = QTextCursor(yaml_->document()->findBlockByLineNumber(line - 1));
        selections << selection;
        yaml_->setTextCursor(selection.cursor);
        yaml_->centerCursor();
    }
    yaml_->setExtraSelections(selections);
}

QString PresetManagerDialog::createPreset(const QString& name) {
    GenerationSettings settings = currentSettings_ ? currentSettings_() : GenerationSettings{};
    settings.name = name.toStdString();
    const QString error = model_->create(name, settings);
    if (error.isEmpty()) {
        selectPreset(name);
    } else {
        showError(tr("Could not save \"%1\": %2").arg(name, error), {});
    }
    return error;
}

QString PresetManagerDialog::duplicatePreset(const QString& name, const QString& newName) {
    const QString error = model_->duplicate(name, newName);
    if (error.isEmpty()) {
        selectPreset(newName);
    } else {
        showError(tr("Could not duplicate \"%1\": %2").arg(name, error), {});
    }
    return error;
}

QString PresetManagerDialog::renamePreset(const QString& name, const QString& newName) {
    const QString error = model_->rename(name, newName);
    if (error.isEmpty()) {
        selectPreset(newName);
    } else {
        showError(tr("Could not rename \"%1\": %2").arg(name, error), {});
    }
    return error;
}

QString PresetManagerDialog::deletePreset(const QString& name) {
    const QString error = model_->remove(name);
    if (error.isEmpty()) {
        if (model_->rowCount() > 0) {
            table_->selectRow(0);
        }
        showSelected();
    } else {
        showError(tr("Could not delete \"%1\": %2").arg(name, error), {});
    }
    return error;
}

QString PresetManagerDialog::importPreset(const QString& path) {
    QString importedName;
    const QString error = model_->importFile(path, &importedName);
    if (error.isEmpty()) {
        selectPreset(importedName);
    } else {
        // Show the refused file itself, with the offending line marked.
        table_->clearSelection();
        table_->setCurrentIndex({});
        showError(tr("Not imported: %1").arg(error), readText(path));
    }
    return error;
}

QString PresetManagerDialog::exportPreset(const QString& name, const QString& path) {
    const QString error = model_->exportTo(name, path);
    if (!error.isEmpty()) {
        showError(tr("Could not export \"%1\": %2").arg(name, error), {});
    }
    return error;
}

QString PresetManagerDialog::errorText() const { return errorLabel_->text(); }

QString PresetManagerDialog::yamlText() const { return yaml_->toPlainText(); }

} // namespace ditstudio::ui
