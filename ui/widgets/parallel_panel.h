// The parallel panel: the GPUs the worker detected (name, memory; tick the ones to use), the device, and the
// Ulysses / ring / CFG-parallel degrees, checked on every edit by checkParallelChoice() (core) against the model's
// attention heads and the GPUs available, with the reason shown when a choice is refused.
#pragma once
#include "core/presets/generation_settings.h"
#include "core/presets/parallel_choice.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QSpinBox;
class QTableView;

namespace ditstudio::ui {

class GpuModel;

class ParallelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ParallelPanel(GpuModel* gpus, QWidget* parent = nullptr);

    ParallelSettings parallelSettings() const;
    void setParallelSettings(const ParallelSettings& settings);

    // What the check needs beyond this panel: the model's heads (12 for Wan 2.1 1.3B) and the cfg scale.
    void setModelHeads(int numHeads);
    int modelHeads() const { return numHeads_; }
    void setCfgScale(double cfgScale);

    const ParallelChoiceCheck& check() const { return check_; }
    bool isValid() const { return check_.isValid; }

Q_SIGNALS:
    void settingsEdited();
    void validityChanged(bool isValid);

private:
    void recheck();

    GpuModel* gpus_;
    QTableView* gpuView_;
    QLabel* gpuSummary_;
    QComboBox* deviceCombo_;
    QSpinBox* ulyssesSpin_;
    QSpinBox* ringSpin_;
    QCheckBox* cfgParallelCheck_;
    QSpinBox* headsSpin_;
    QLabel* worldLabel_;
    QLabel* verdictLabel_;

    int numHeads_ = 12;
    double cfgScale_ = 5.0;
    ParallelChoiceCheck check_;
};

} // namespace ditstudio::ui
