// The generation panel: preset picker, model, prompt and negative prompt (with history and a token count against
// the encoder's 512 tokens), seed, size, frames, fps, steps, cfg, shift, and Generate / Queue / Cancel. It edits
// the plain fields of GenerationSettings; the compile and parallel panels edit theirs, and the main window merges
// them. Every edit is validated by GenerationSettings::validate() (core), and the first problem is shown with the
// offending field highlighted; Generate and Queue are disabled while there is one.
#pragma once
#include "core/presets/generation_settings.h"

#include <QStringList>
#include <QWidget>

#include <functional>
#include <optional>

class QAbstractItemModel;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QToolButton;

namespace ditstudio::ui {

struct SettingsProblem {
    QString key;     // the setting's document key: "width", "num_frames", "parallel.ulysses"
    QString message; // what is wrong, expected vs actual
};

// The first problem GenerationSettings::validate() finds, or nullopt.
std::optional<SettingsProblem> findProblem(const GenerationSettings& settings);

// Token count of a prompt without a tokenizer: about one SentencePiece piece per 4 Latin letters (at least one
// per word), one per CJK character, one per punctuation mark, plus EOS. Labelled as an estimate in the panel.
int estimateTokenCount(const QString& prompt);

struct SizePreset {
    int width;
    int height;
    const char* label;
};
const QVector<SizePreset>& sizePresets();

class GenerationPanel : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxTextTokens = 512;
    static constexpr int kMaxPromptHistory = 50;

    explicit GenerationPanel(QWidget* parent = nullptr);

    // The preset picker lists this model's NameRole (PresetModel).
    void setPresetModel(QAbstractItemModel* model);
    void setCurrentPresetName(const QString& name);

    // The fields this panel edits, on top of `base` (whose compile/parallel/vae/export are kept).
    GenerationSettings settings(const GenerationSettings& base = {}) const;
    void setSettings(const GenerationSettings& settings);
    // The settings of a new job: the seed resolved (random drawn now, increment advanced after this call), sent with
    // seed_mode fixed so that the output's sidecar reproduces it exactly.
    GenerationSettings settingsForSubmit(const GenerationSettings& base = {});

    QString modelName() const;
    void setModelName(const QString& model);
    void setKnownModels(const QStringList& models);

    std::optional<SettingsProblem> problem() const { return problem_; }
    // A problem outside this panel (an impossible parallel split, no worker) that also blocks Generate/Queue; empty
    // clears it.
    void setExternalProblem(const QString& message);
    bool canSubmit() const;
    void setBusy(bool isBusy); // a job of this studio runs: Cancel enabled

    // With a counter (the model's UMT5 tokenizer), exact counts; without, estimateTokenCount().
    void setTokenCounter(std::function<int(const QString&)> counter);
    int promptTokenCount() const;
    bool isTokenCountEstimate() const { return !tokenCounter_; }

    // The problem line and Generate / Queue / Cancel, at the bottom of the panel; the main window takes them out
    // (detachActionBar) to keep them visible below the scrolling settings.
    QWidget* detachActionBar();

    QStringList promptHistory() const { return promptHistory_; }
    void setPromptHistory(const QStringList& prompts);
    void rememberPrompt(const QString& prompt); // most recent first, no duplicates, at most kMaxPromptHistory

Q_SIGNALS:
    void generateRequested();
    void queueRequested();
    void cancelRequested();
    void presetChosen(const QString& name);
    void settingsEdited();
    void problemChanged(); // after every validation, whether or not the problem changed

private:
    void validateNow();
    void updateTokenCount();
    void applySizePreset(int index);
    void syncSizePresetFromSpins();
    void showPromptHistoryMenu();
    void highlight(const QString& key);

    QComboBox* presetCombo_;
    QComboBox* modelCombo_;
    QPlainTextEdit* promptEdit_;
    QPlainTextEdit* negativeEdit_;
    QToolButton* historyButton_;
    QLabel* tokenLabel_;
    QLabel* negativeTokenLabel_;
    QLineEdit* seedEdit_;
    QComboBox* seedModeCombo_;
    QToolButton* diceButton_;
    QComboBox* sizeCombo_;
    QSpinBox* widthSpin_;
    QSpinBox* heightSpin_;
    QSpinBox* framesSpin_;
    QLabel* durationLabel_;
    QSpinBox* fpsSpin_;
    QSpinBox* stepsSpin_;
    QDoubleSpinBox* cfgSpin_;
    QDoubleSpinBox* shiftSpin_;
    QWidget* actionBar_;
    QLabel* problemLabel_;
    QPushButton* generateButton_;
    QPushButton* queueButton_;
    QPushButton* cancelButton_;

    std::optional<SettingsProblem> problem_;
    QString externalProblem_;
    std::function<int(const QString&)> tokenCounter_;
    QStringList promptHistory_;
    QString description_;
    bool isBusy_ = false;
    bool isLoading_ = false;
};

} // namespace ditstudio::ui
