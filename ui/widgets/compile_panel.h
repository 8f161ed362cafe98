// The compile panel: the `compile_pipeline` knobs (which models, mode, dynamic, fullgraph), each with a short
// explanation of what it does in DiT Studio's compile layer.
#pragma once
#include "core/presets/generation_settings.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;

namespace ditstudio::ui {

class CompilePanel : public QWidget {
    Q_OBJECT
public:
    explicit CompilePanel(QWidget* parent = nullptr);

    CompileSettings compileSettings() const;
    void setCompileSettings(const CompileSettings& settings);
    static QString explainMode(CompileMode mode);

Q_SIGNALS:
    void settingsEdited();

private:
    void updateExplanations();

    QCheckBox* ditCheck_;
    QCheckBox* vaeCheck_;
    QCheckBox* textEncoderCheck_;
    QComboBox* modeCombo_;
    QLabel* modeExplanation_;
    QCheckBox* dynamicCheck_;
    QCheckBox* fullgraphCheck_;
    QLabel* fullgraphNote_;
};

} // namespace ditstudio::ui
