#include "ui/widgets/compile_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QGroupBox>
#include <QLabel>
#include <QSignalBlocker>
#include <QVBoxLayout>

namespace ditstudio::ui {

namespace {

QLabel* explanation(const QString& text) {
    auto* label = new QLabel(text);
    label->setWordWrap(true);
    label->setStyleSheet("color: palette(mid); margin-left: 22px;");
    return label;
}

} // namespace

QString CompilePanel::explainMode(CompileMode mode) {
    switch (mode) {
    case CompileMode::None: return tr("Eager: every op as LibTorch runs it. The reference path, no warm-up.");
    case CompileMode::Default:
        return tr("Fused kernels for the memory-bound chains around the matmuls and attention (LayerNorm+modulate, "
                  "RMSNorm+RoPE, gated residual, bias+GELU, fused QKV).");
    case CompileMode::ReduceOverhead:
        return tr("Default + CUDA graphs per block (or the whole model with fullgraph): removes launch overhead; "
                  "the first step of a new shape captures the graphs.");
    case CompileMode::MaxAutotune:
        return tr("Reduce-overhead + measures the attention backends (cuDNN, flash, memory-efficient) per shape on "
                  "first use and caches the winners on disk, so later runs start warm.");
    case CompileMode::MaxAutotuneNoCudagraphs:
        return tr("Autotuned kernels without CUDA graphs: for shapes that change every job or memory-tight runs.");
    }
    return {};
}

CompilePanel::CompilePanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);

    auto* models = new QGroupBox(tr("Models to compile"));
    auto* modelsLayout = new QVBoxLayout(models);
    ditCheck_ = new QCheckBox(tr("DiT (the denoiser, ~95 % of the time)"));
    ditCheck_->setObjectName("compileDit");
    vaeCheck_ = new QCheckBox(tr("VAE decoder (fused norms; convolutions autotuned per shape on the GPU, ~4 s once)"));
    vaeCheck_->setObjectName("compileVae");
    textEncoderCheck_ = new QCheckBox(tr("Text encoder (UMT5; no compiled path yet: runs eagerly)"));
    textEncoderCheck_->setObjectName("compileTextEncoder");
    modelsLayout->addWidget(ditCheck_);
    modelsLayout->addWidget(vaeCheck_);
    modelsLayout->addWidget(textEncoderCheck_);
    modelsLayout->addWidget(explanation(tr("Compilation is regional: each repeated transformer block is compiled "
                                           "once and reused, so it costs about one block's worth of warm-up.")));
    layout->addWidget(models);

    auto* modeBox = new QGroupBox(tr("Mode"));
    auto* modeLayout = new QVBoxLayout(modeBox);
    modeCombo_ = new QComboBox;
    modeCombo_->setObjectName("compileMode");
    modeCombo_->addItem("none", static_cast<int>(CompileMode::None));
    modeCombo_->addItem("default", static_cast<int>(CompileMode::Default));
    modeCombo_->addItem("reduce-overhead", static_cast<int>(CompileMode::ReduceOverhead));
    modeCombo_->addItem("max-autotune", static_cast<int>(CompileMode::MaxAutotune));
    modeCombo_->addItem("max-autotune-no-cudagraphs", static_cast<int>(CompileMode::MaxAutotuneNoCudagraphs));
    modeExplanation_ = explanation({});
    modeExplanation_->setObjectName("compileModeExplanation");
    modeLayout->addWidget(modeCombo_);
    modeLayout->addWidget(modeExplanation_);
    layout->addWidget(modeBox);

    auto* optionsBox = new QGroupBox(tr("Options"));
    auto* optionsLayout = new QVBoxLayout(optionsBox);
    dynamicCheck_ = new QCheckBox(tr("Dynamic shapes"));
    dynamicCheck_->setObjectName("compileDynamic");
    optionsLayout->addWidget(dynamicCheck_);
    optionsLayout->addWidget(explanation(tr("On: shape-generic kernels, graphs captured lazily per shape — changing "
                                            "size or frames costs little. Off: kernels specialised to the shape, "
                                            "re-captured whenever it changes.")));
    fullgraphCheck_ = new QCheckBox(tr("Full graph"));
    fullgraphCheck_->setObjectName("compileFullgraph");
    optionsLayout->addWidget(fullgraphCheck_);
    optionsLayout->addWidget(explanation(tr("Capture the whole model forward as one graph instead of per block. "
                                            "A clear error if a part cannot be captured.")));
    fullgraphNote_ = explanation({});
    fullgraphNote_->setObjectName("compileNote");
    optionsLayout->addWidget(fullgraphNote_);
    layout->addWidget(optionsBox);
    layout->addStretch();

    for (QCheckBox* check : {ditCheck_, vaeCheck_, textEncoderCheck_, dynamicCheck_, fullgraphCheck_}) {
        connect(check, &QCheckBox::toggled, this, [this] {
            updateExplanations();
            Q_EMIT settingsEdited();
        });
    }
    connect(modeCombo_, &QComboBox::currentIndexChanged, this, [this] {
        updateExplanations();
        Q_EMIT settingsEdited();
    });
    setCompileSettings(CompileSettings{});
}

CompileSettings CompilePanel::compileSettings() const {
    CompileSettings s;
    s.mode = static_cast<CompileMode>(modeCombo_->currentData().toInt());
    s.dynamic = dynamicCheck_->isChecked();
    s.fullgraph = fullgraphCheck_->isChecked();
    s.models.clear();
    if (ditCheck_->isChecked()) {
        s.models.push_back("dit");
    }
    if (vaeCheck_->isChecked()) {
        s.models.push_back("vae");
    }
    if (textEncoderCheck_->isChecked()) {
        s.models.push_back("text_encoder");
    }
    return s;
}

void CompilePanel::setCompileSettings(const CompileSettings& s) {
    const QSignalBlocker b1(ditCheck_), b2(vaeCheck_), b3(textEncoderCheck_), b4(dynamicCheck_), b5(fullgraphCheck_),
        b6(modeCombo_);
    auto has = [&](const char* name) { return std::find(s.models.begin(), s.models.end(), name) != s.models.end(); };
    ditCheck_->setChecked(has("dit"));
    vaeCheck_->setChecked(has("vae"));
    textEncoderCheck_->setChecked(has("text_encoder"));
    modeCombo_->setCurrentIndex(modeCombo_->findData(static_cast<int>(s.mode)));
    dynamicCheck_->setChecked(s.dynamic);
    fullgraphCheck_->setChecked(s.fullgraph);
    updateExplanations();
}

void CompilePanel::updateExplanations() {
    const auto mode = static_cast<CompileMode>(modeCombo_->currentData().toInt());
    modeExplanation_->setText(explainMode(mode));
    const bool isEager = mode == CompileMode::None;
    for (QCheckBox* check : {ditCheck_, vaeCheck_, textEncoderCheck_, dynamicCheck_, fullgraphCheck_}) {
        check->setEnabled(!isEager);
    }
    QString note;
    if (!isEager && fullgraphCheck_->isChecked() &&
        (mode == CompileMode::Default || mode == CompileMode::MaxAutotuneNoCudagraphs)) {
        note = tr("Note: full graph matters only with CUDA graphs (reduce-overhead or max-autotune).");
    } else if (!isEager && compileSettings().models.empty()) {
        note = tr("No model chosen: nothing is compiled.");
    }
    fullgraphNote_->setText(note);
    fullgraphNote_->setVisible(!note.isEmpty());
}

} // namespace ditstudio::ui
