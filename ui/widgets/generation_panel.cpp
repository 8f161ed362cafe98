#include "ui/widgets/generation_panel.h"

#include <QAbstractItemModel>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRandomGenerator>
#include <QRegularExpressionValidator>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

namespace ditstudio::ui {

namespace {

constexpr int kCustomSizeIndex = -1;

bool isCjk(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x3040 && c <= 0x30FF) ||
           (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x3000 && c <= 0x303F) ||
           (c >= 0xFF00 && c <= 0xFFEF);
}

// A die showing five, drawn here: emoji fonts are not on every desktop.
QIcon diceIcon() {
    QPixmap pixmap(64, 64);
    pixmap.fill(Qt::transparent);
    QPainter painter(&pixmap);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setPen(QPen(QColor(40, 40, 48), 3));
    painter.setBrush(QColor(245, 245, 250));
    painter.drawRoundedRect(QRectF(6, 6, 52, 52), 12, 12);
    painter.setPen(Qt::NoPen);
    painter.setBrush(QColor(200, 40, 50));
    for (const QPointF& pip : {QPointF(20, 20), QPointF(44, 20), QPointF(32, 32), QPointF(20, 44), QPointF(44, 44)}) {
        painter.drawEllipse(pip, 5, 5);
    }
    return QIcon(pixmap);
}

} // namespace

std::optional<SettingsProblem> findProblem(const GenerationSettings& settings) {
    try {
        settings.validate();
    } catch (const PresetError& e) {
        return SettingsProblem{QString::fromStdString(e.key()), QString::fromStdString(e.what())};
    }
    return std::nullopt;
}

int estimateTokenCount(const QString& prompt) {
    int count = 0;
    int letters = 0; // Latin/other letters of the current word
    auto endWord = [&] {
        if (letters > 0) {
            count += std::max(1, (letters + 3) / 4);
            letters = 0;
        }
    };
    for (char32_t c : prompt.toUcs4()) {
        const QChar q = c < 0x10000 ? QChar(static_cast<char16_t>(c)) : QChar();
        if (isCjk(c)) {
            endWord();
            ++count;
        } else if (c < 0x10000 && q.isSpace()) {
            endWord();
        } else if (c < 0x10000 && (q.isPunct() || q.isSymbol())) {
            endWord();
            ++count;
        } else {
            ++letters;
        }
    }
    endWord();
    return count + 1; // EOS
}

const QVector<SizePreset>& sizePresets() {
    static const QVector<SizePreset> presets{
        {832, 480, "832 × 480 — landscape (Wan 2.1 default)"},
        {480, 832, "480 × 832 — portrait"},
        {624, 624, "624 × 624 — square"},
        {1280, 720, "1280 × 720 — 720p landscape (14B)"},
        {720, 1280, "720 × 1280 — 720p portrait (14B)"},
        {416, 240, "416 × 240 — quick draft"},
        {256, 256, "256 × 256 — tiny / CPU"},
        {64, 64, "64 × 64 — test models"},
    };
    return presets;
}

GenerationPanel::GenerationPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);

    presetCombo_ = new QComboBox;
    presetCombo_->setObjectName("presetCombo");
    presetCombo_->setToolTip(tr("Load a preset: every setting below is replaced by the preset's"));
    form->addRow(tr("Preset"), presetCombo_);

    modelCombo_ = new QComboBox;
    modelCombo_->setObjectName("modelCombo");
    modelCombo_->setEditable(true);
    modelCombo_->setToolTip(tr("The model folder on the worker's machine (Wan 2.1 weights, VAE and text encoder)"));
    modelCombo_->lineEdit()->setPlaceholderText(tr("/path/to/Wan2.1-T2V-1.3B"));
    auto* modelRow = new QHBoxLayout;
    auto* browseModel = new QToolButton;
    browseModel->setObjectName("browseModelButton");
    browseModel->setText(tr("..."));
    browseModel->setToolTip(tr("Choose the model folder"));
    modelRow->addWidget(modelCombo_, 1);
    modelRow->addWidget(browseModel);
    form->addRow(tr("Model"), modelRow);
    connect(browseModel, &QToolButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Model folder"), modelName());
        if (!dir.isEmpty()) {
            modelCombo_->setCurrentText(dir);
        }
    });
    layout->addLayout(form);

    auto* promptHeader = new QHBoxLayout;
    promptHeader->addWidget(new QLabel(tr("<b>Prompt</b>")));
    promptHeader->addStretch();
    historyButton_ = new QToolButton;
    historyButton_->setObjectName("promptHistoryButton");
    historyButton_->setText(tr("History"));
    historyButton_->setToolTip(tr("Recent prompts"));
    historyButton_->setPopupMode(QToolButton::InstantPopup);
    promptHeader->addWidget(historyButton_);
    layout->addLayout(promptHeader);

    promptEdit_ = new QPlainTextEdit;
    promptEdit_->setObjectName("promptEdit");
    promptEdit_->setPlaceholderText(tr("Describe the video: subject, action, setting, camera, light, style ..."));
    promptEdit_->setTabChangesFocus(true);
    promptEdit_->setMinimumHeight(80);
    promptEdit_->setMaximumHeight(160);
    layout->addWidget(promptEdit_, 2);
    tokenLabel_ = new QLabel;
    tokenLabel_->setObjectName("tokenLabel");
    layout->addWidget(tokenLabel_);

    layout->addWidget(new QLabel(tr("<b>Negative prompt</b>")));
    negativeEdit_ = new QPlainTextEdit;
    negativeEdit_->setObjectName("negativePromptEdit");
    negativeEdit_->setPlaceholderText(tr("What to steer away from (blur, watermark, extra fingers ...)"));
    negativeEdit_->setTabChangesFocus(true);
    negativeEdit_->setMinimumHeight(50);
    negativeEdit_->setMaximumHeight(90);
    layout->addWidget(negativeEdit_, 1);
    negativeTokenLabel_ = new QLabel;
    negativeTokenLabel_->setObjectName("negativeTokenLabel");
    layout->addWidget(negativeTokenLabel_);

    auto* settingsForm = new QFormLayout;
    settingsForm->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);

    auto* seedRow = new QHBoxLayout;
    seedEdit_ = new QLineEdit("0");
    seedEdit_->setObjectName("seedEdit");
    seedEdit_->setValidator(new QRegularExpressionValidator(QRegularExpression("[0-9]{1,18}"), seedEdit_));
    seedEdit_->setToolTip(tr("The seed of the initial noise: the same seed and settings give the same video"));
    seedModeCombo_ = new QComboBox;
    seedModeCombo_->setObjectName("seedModeCombo");
    seedModeCombo_->addItem(tr("Fixed"), static_cast<int>(SeedMode::Fixed));
    seedModeCombo_->addItem(tr("Random"), static_cast<int>(SeedMode::Random));
    seedModeCombo_->addItem(tr("Increment"), static_cast<int>(SeedMode::Increment));
    seedModeCombo_->setToolTip(tr("Fixed: this seed every time. Random: a new seed per job. Increment: this seed, "
                                  "then +1 for each following job"));
    diceButton_ = new QToolButton;
    diceButton_->setObjectName("diceButton");
    diceButton_->setIcon(diceIcon());
    diceButton_->setToolTip(tr("Roll a new random seed"));
    seedRow->addWidget(seedEdit_, 1);
    seedRow->addWidget(seedModeCombo_);
    seedRow->addWidget(diceButton_);
    settingsForm->addRow(tr("Seed"), seedRow);

    sizeCombo_ = new QComboBox;
    sizeCombo_->setObjectName("sizeCombo");
    for (const SizePreset& preset : sizePresets()) {
        sizeCombo_->addItem(QString::fromUtf8(preset.label), QSize(preset.width, preset.height));
    }
    sizeCombo_->addItem(tr("Custom"), QSize());
    settingsForm->addRow(tr("Size"), sizeCombo_);
    auto* sizeRow = new QHBoxLayout;
    widthSpin_ = new QSpinBox;
    widthSpin_->setObjectName("widthSpin");
    heightSpin_ = new QSpinBox;
    heightSpin_->setObjectName("heightSpin");
    for (QSpinBox* spin : {widthSpin_, heightSpin_}) {
        spin->setRange(16, 4096);
        spin->setSingleStep(16);
        spin->setSuffix(" px");
        spin->setToolTip(tr("A multiple of 16 (the VAE downsamples by 8, the DiT patches by 2)"));
    }
    sizeRow->addWidget(widthSpin_);
    sizeRow->addWidget(new QLabel(QString::fromUtf8("×")));
    sizeRow->addWidget(heightSpin_);
    settingsForm->addRow(tr("Width × height"), sizeRow);

    auto* framesRow = new QHBoxLayout;
    framesSpin_ = new QSpinBox;
    framesSpin_->setObjectName("framesSpin");
    framesSpin_->setRange(1, 1001);
    framesSpin_->setSingleStep(4);
    framesSpin_->setToolTip(tr("4k+1 frames (1, 5, ..., 81): the VAE packs 4 frames per latent after the first"));
    durationLabel_ = new QLabel;
    framesRow->addWidget(framesSpin_, 1);
    framesRow->addWidget(durationLabel_);
    settingsForm->addRow(tr("Frames"), framesRow);

    fpsSpin_ = new QSpinBox;
    fpsSpin_->setObjectName("fpsSpin");
    fpsSpin_->setRange(1, 120);
    fpsSpin_->setSuffix(" fps");
    settingsForm->addRow(tr("Frame rate"), fpsSpin_);

    stepsSpin_ = new QSpinBox;
    stepsSpin_->setObjectName("stepsSpin");
    stepsSpin_->setRange(1, 1000);
    stepsSpin_->setToolTip(tr("Denoising steps: more is slower and usually cleaner (50 is the reference)"));
    settingsForm->addRow(tr("Steps"), stepsSpin_);

    cfgSpin_ = new QDoubleSpinBox;
    cfgSpin_->setObjectName("cfgSpin");
    cfgSpin_->setRange(0.0, 30.0);
    cfgSpin_->setSingleStep(0.5);
    cfgSpin_->setDecimals(2);
    cfgSpin_->setToolTip(tr("Classifier-free guidance scale: how strongly to follow the prompt (1 = no guidance, "
                            "one forward per step instead of two)"));
    settingsForm->addRow(tr("CFG scale"), cfgSpin_);

    shiftSpin_ = new QDoubleSpinBox;
    shiftSpin_->setObjectName("shiftSpin");
    shiftSpin_->setRange(0.01, 100.0);
    shiftSpin_->setSingleStep(0.5);
    shiftSpin_->setDecimals(2);
    shiftSpin_->setToolTip(tr("Flow-matching sigma shift: higher spends more steps on coarse structure"));
    settingsForm->addRow(tr("Shift"), shiftSpin_);
    layout->addLayout(settingsForm);

    actionBar_ = new QWidget;
    auto* actionLayout = new QVBoxLayout(actionBar_);
    actionLayout->setContentsMargins(0, 4, 0, 0);
    problemLabel_ = new QLabel;
    problemLabel_->setObjectName("problemLabel");
    problemLabel_->setWordWrap(true);
    problemLabel_->setStyleSheet("color: #e06c6c;");
    problemLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    actionLayout->addWidget(problemLabel_);

    auto* buttons = new QHBoxLayout;
    generateButton_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), tr("Generate"));
    generateButton_->setObjectName("generateButton");
    generateButton_->setToolTip(tr("Generate now, ahead of queued jobs (Ctrl+Enter)"));
    generateButton_->setDefault(true);
    queueButton_ = new QPushButton(tr("Queue"));
    queueButton_->setObjectName("queueButton");
    queueButton_->setToolTip(tr("Add to the end of the queue (Ctrl+Shift+Enter)"));
    cancelButton_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaStop), tr("Cancel"));
    cancelButton_->setObjectName("cancelButton");
    cancelButton_->setToolTip(tr("Cancel the running job (Esc)"));
    cancelButton_->setEnabled(false);
    buttons->addWidget(generateButton_, 2);
    buttons->addWidget(queueButton_, 1);
    buttons->addWidget(cancelButton_, 1);
    actionLayout->addLayout(buttons);
    layout->addWidget(actionBar_);

    connect(generateButton_, &QPushButton::clicked, this, &GenerationPanel::generateRequested);
    connect(queueButton_, &QPushButton::clicked, this, &GenerationPanel::queueRequested);
    connect(cancelButton_, &QPushButton::clicked, this, &GenerationPanel::cancelRequested);
    connect(presetCombo_, &QComboBox::activated, this, [this](int index) {
        if (index >= 0) {
            Q_EMIT presetChosen(presetCombo_->itemText(index));
        }
    });
    connect(diceButton_, &QToolButton::clicked, this, [this] {
        seedEdit_->setText(QString::number(QRandomGenerator::global()->bounded(0x7fffffff)));
    });
    connect(historyButton_, &QToolButton::pressed, this, &GenerationPanel::showPromptHistoryMenu);
    connect(sizeCombo_, &QComboBox::activated, this, &GenerationPanel::applySizePreset);
    connect(widthSpin_, &QSpinBox::valueChanged, this, &GenerationPanel::syncSizePresetFromSpins);
    connect(heightSpin_, &QSpinBox::valueChanged, this, &GenerationPanel::syncSizePresetFromSpins);

    auto edited = [this] {
        if (!isLoading_) {
            validateNow();
            Q_EMIT settingsEdited();
        }
    };
    connect(promptEdit_, &QPlainTextEdit::textChanged, this, [this, edited] {
        updateTokenCount();
        edited();
    });
    connect(negativeEdit_, &QPlainTextEdit::textChanged, this, [this, edited] {
        updateTokenCount();
        edited();
    });
    connect(seedEdit_, &QLineEdit::textChanged, this, edited);
    connect(seedModeCombo_, &QComboBox::currentIndexChanged, this, edited);
    connect(modelCombo_, &QComboBox::currentTextChanged, this, edited);
    for (QSpinBox* spin : {widthSpin_, heightSpin_, framesSpin_, fpsSpin_, stepsSpin_}) {
        connect(spin, &QSpinBox::valueChanged, this, edited);
    }
    for (QDoubleSpinBox* spin : {cfgSpin_, shiftSpin_}) {
        connect(spin, &QDoubleSpinBox::valueChanged, this, edited);
    }

    setSettings(GenerationSettings{});
}

QWidget* GenerationPanel::detachActionBar() {
    layout()->removeWidget(actionBar_);
    actionBar_->setParent(nullptr);
    return actionBar_;
}

void GenerationPanel::setPresetModel(QAbstractItemModel* model) {
    presetCombo_->setModel(model);
    presetCombo_->setModelColumn(0);
    presetCombo_->setCurrentIndex(-1);
}

void GenerationPanel::setCurrentPresetName(const QString& name) {
    QSignalBlocker blocker(presetCombo_);
    presetCombo_->setCurrentIndex(presetCombo_->findText(name));
}

GenerationSettings GenerationPanel::settings(const GenerationSettings& base) const {
    GenerationSettings s = base;
    s.description = description_.toStdString();
    s.prompt = promptEdit_->toPlainText().toStdString();
    s.negativePrompt = negativeEdit_->toPlainText().toStdString();
    bool isNumber = false;
    const qlonglong seed = seedEdit_->text().toLongLong(&isNumber);
    s.seed = isNumber ? seed : -1; // an empty seed is reported by validate()
    s.seedMode = static_cast<SeedMode>(seedModeCombo_->currentData().toInt());
    s.width = widthSpin_->value();
    s.height = heightSpin_->value();
    s.numFrames = framesSpin_->value();
    s.fps = fpsSpin_->value();
    s.steps = stepsSpin_->value();
    s.cfgScale = cfgSpin_->value();
    s.shift = shiftSpin_->value();
    return s;
}

void GenerationPanel::setSettings(const GenerationSettings& s) {
    isLoading_ = true;
    description_ = QString::fromStdString(s.description);
    promptEdit_->setPlainText(QString::fromStdString(s.prompt));
    negativeEdit_->setPlainText(QString::fromStdString(s.negativePrompt));
    seedEdit_->setText(QString::number(s.seed));
    seedModeCombo_->setCurrentIndex(seedModeCombo_->findData(static_cast<int>(s.seedMode)));
    widthSpin_->setValue(static_cast<int>(s.width));
    heightSpin_->setValue(static_cast<int>(s.height));
    framesSpin_->setValue(static_cast<int>(s.numFrames));
    fpsSpin_->setValue(static_cast<int>(s.fps));
    stepsSpin_->setValue(static_cast<int>(s.steps));
    cfgSpin_->setValue(s.cfgScale);
    shiftSpin_->setValue(s.shift);
    isLoading_ = false;
    syncSizePresetFromSpins();
    updateTokenCount();
    validateNow();
    Q_EMIT settingsEdited();
}

GenerationSettings GenerationPanel::settingsForSubmit(const GenerationSettings& base) {
    GenerationSettings s = settings(base);
    switch (s.seedMode) {
    case SeedMode::Fixed: break;
    case SeedMode::Random: s.seed = QRandomGenerator::global()->bounded(0x7fffffff); break;
    case SeedMode::Increment: seedEdit_->setText(QString::number(s.seed + 1)); break;
    }
    s.seedMode = SeedMode::Fixed;
    return s;
}

QString GenerationPanel::modelName() const { return modelCombo_->currentText().trimmed(); }

void GenerationPanel::setModelName(const QString& model) { modelCombo_->setCurrentText(model); }

void GenerationPanel::setKnownModels(const QStringList& models) {
    const QString current = modelCombo_->currentText();
    QSignalBlocker blocker(modelCombo_);
    modelCombo_->clear();
    modelCombo_->addItems(models);
    modelCombo_->setCurrentText(current.isEmpty() && !models.isEmpty() ? models.front() : current);
}

void GenerationPanel::setBusy(bool isBusy) {
    isBusy_ = isBusy;
    cancelButton_->setEnabled(isBusy);
}

void GenerationPanel::setTokenCounter(std::function<int(const QString&)> counter) {
    tokenCounter_ = std::move(counter);
    updateTokenCount();
}

int GenerationPanel::promptTokenCount() const {
    const QString prompt = promptEdit_->toPlainText();
    return tokenCounter_ ? tokenCounter_(prompt) : estimateTokenCount(prompt);
}

void GenerationPanel::updateTokenCount() {
    auto describe = [this](const QString& text, QLabel* label) {
        const int count = tokenCounter_ ? tokenCounter_(text) : estimateTokenCount(text);
        QString line = tokenCounter_ ? tr("%1 / %2 tokens").arg(count).arg(kMaxTextTokens)
                                     : tr("≈ %1 / %2 tokens (estimate: no tokenizer loaded)").arg(count).arg(
                                           kMaxTextTokens);
        if (count > kMaxTextTokens) {
            line += tr(" — over the limit: the text encoder keeps only the first %1").arg(kMaxTextTokens);
            label->setStyleSheet("color: #e06c6c;");
        } else {
            label->setStyleSheet("color: palette(mid);");
        }
        label->setText(line);
    };
    describe(promptEdit_->toPlainText(), tokenLabel_);
    describe(negativeEdit_->toPlainText(), negativeTokenLabel_);
}

void GenerationPanel::setPromptHistory(const QStringList& prompts) {
    promptHistory_ = prompts.mid(0, kMaxPromptHistory);
}

void GenerationPanel::rememberPrompt(const QString& prompt) {
    const QString trimmed = prompt.trimmed();
    if (trimmed.isEmpty()) {
        return;
    }
    promptHistory_.removeAll(trimmed);
    promptHistory_.prepend(trimmed);
    while (promptHistory_.size() > kMaxPromptHistory) {
        promptHistory_.removeLast();
    }
}

void GenerationPanel::showPromptHistoryMenu() {
    QMenu menu(this);
    if (promptHistory_.isEmpty()) {
        menu.addAction(tr("No prompts yet"))->setEnabled(false);
    }
    for (const QString& prompt : promptHistory_) {
        QString label = prompt.simplified();
        if (label.size() > 90) {
            label = label.left(87) + "...";
        }
        QAction* action = menu.addAction(label);
        action->setToolTip(prompt);
        connect(action, &QAction::triggered, this, [this, prompt] { promptEdit_->setPlainText(prompt); });
    }
    menu.exec(historyButton_->mapToGlobal(QPoint(0, historyButton_->height())));
    historyButton_->setDown(false);
}

void GenerationPanel::applySizePreset(int index) {
    const QSize size = sizeCombo_->itemData(index).toSize();
    if (!size.isValid()) {
        widthSpin_->setFocus();
        return;
    }
    widthSpin_->setValue(size.width());
    heightSpin_->setValue(size.height());
}

void GenerationPanel::syncSizePresetFromSpins() {
    const QSize size(widthSpin_->value(), heightSpin_->value());
    int index = sizeCombo_->findData(size);
    if (index < 0) {
        index = sizeCombo_->count() - 1; // Custom
    }
    QSignalBlocker blocker(sizeCombo_);
    sizeCombo_->setCurrentIndex(index);
    const double seconds = static_cast<double>(framesSpin_->value()) / std::max(1, fpsSpin_->value());
    durationLabel_->setText(tr("%1 s").arg(seconds, 0, 'f', 2));
}

void GenerationPanel::highlight(const QString& key) {
    const QList<QPair<QWidget*, QStringList>> fields{
        {seedEdit_, {"seed"}},        {widthSpin_, {"width"}},     {heightSpin_, {"height"}},
        {framesSpin_, {"num_frames"}}, {fpsSpin_, {"fps"}},         {stepsSpin_, {"steps"}},
        {cfgSpin_, {"cfg_scale"}},     {shiftSpin_, {"shift"}},     {promptEdit_, {"prompt"}},
    };
    for (const auto& [widget, keys] : fields) {
        widget->setStyleSheet(keys.contains(key) ? "border: 1px solid #e06c6c;" : QString());
    }
}

void GenerationPanel::validateNow() {
    syncSizePresetFromSpins();
    const GenerationSettings s = settings();
    problem_ = findProblem(s);
    if (!problem_ && modelName().isEmpty()) {
        problem_ = SettingsProblem{"model", tr("model: choose the model folder to generate with")};
    }
    // Only this panel's keys are shown here; compile/parallel problems are their panels'.
    const bool isMine = problem_ && !problem_->key.startsWith("parallel.") && !problem_->key.startsWith("compile.");
    const QString text = isMine ? problem_->message : externalProblem_;
    problemLabel_->setText(text);
    problemLabel_->setVisible(!text.isEmpty());
    highlight(isMine ? problem_->key : QString());
    generateButton_->setEnabled(canSubmit());
    queueButton_->setEnabled(canSubmit());
    Q_EMIT problemChanged();
}

void GenerationPanel::setExternalProblem(const QString& message) {
    if (externalProblem_ != message) {
        externalProblem_ = message;
        validateNow();
    }
}

bool GenerationPanel::canSubmit() const { return !problem_ && externalProblem_.isEmpty(); }

} // namespace ditstudio::ui
