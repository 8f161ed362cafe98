#include "ui/widgets/parallel_panel.h"

#include "ui/models/gpu_model.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>

namespace ditstudio::ui {

ParallelPanel::ParallelPanel(GpuModel* gpus, QWidget* parent) : QWidget(parent), gpus_(gpus) {
    auto* layout = new QVBoxLayout(this);

    auto* gpuBox = new QGroupBox(tr("GPUs detected by the worker"));
    auto* gpuLayout = new QVBoxLayout(gpuBox);
    gpuView_ = new QTableView;
    gpuView_->setObjectName("gpuView");
    gpuView_->setModel(gpus_);
    gpuView_->verticalHeader()->hide();
    gpuView_->horizontalHeader()->setStretchLastSection(true);
    gpuView_->setSelectionMode(QAbstractItemView::NoSelection);
    gpuView_->setMaximumHeight(150);
    gpuSummary_ = new QLabel;
    gpuSummary_->setWordWrap(true);
    gpuLayout->addWidget(gpuView_);
    gpuLayout->addWidget(gpuSummary_);
    layout->addWidget(gpuBox);

    auto* degreeBox = new QGroupBox(tr("Unified sequence parallel"));
    auto* form = new QFormLayout(degreeBox);
    deviceCombo_ = new QComboBox;
    deviceCombo_->setObjectName("deviceCombo");
    deviceCombo_->addItem(tr("auto (GPUs when present)"), "auto");
    deviceCombo_->addItem(tr("cuda"), "cuda");
    deviceCombo_->addItem(tr("cpu"), "cpu");
    form->addRow(tr("Device"), deviceCombo_);
    ulyssesSpin_ = new QSpinBox;
    ulyssesSpin_->setObjectName("ulyssesSpin");
    ulyssesSpin_->setRange(1, 64);
    ulyssesSpin_->setToolTip(tr("Ulysses: an all-to-all turns sequence shards into head shards around attention; "
                                "the degree must divide the attention heads"));
    form->addRow(tr("Ulysses degree"), ulyssesSpin_);
    ringSpin_ = new QSpinBox;
    ringSpin_->setObjectName("ringSpin");
    ringSpin_->setRange(1, 64);
    ringSpin_->setToolTip(tr("Ring attention: key/value blocks travel around the ring with an online-softmax merge; "
                             "any degree works, more communication than Ulysses"));
    form->addRow(tr("Ring degree"), ringSpin_);
    cfgParallelCheck_ = new QCheckBox(tr("CFG parallel (conditional and unconditional passes on two rank groups)"));
    cfgParallelCheck_->setObjectName("cfgParallelCheck");
    form->addRow(QString(), cfgParallelCheck_);
    headsSpin_ = new QSpinBox;
    headsSpin_->setObjectName("headsSpin");
    headsSpin_->setRange(1, 256);
    headsSpin_->setToolTip(tr("Attention heads of the model's DiT: 12 for Wan 2.1 1.3B, 40 for 14B (the worker "
                              "reports the loaded model's)"));
    form->addRow(tr("Model heads"), headsSpin_);
    worldLabel_ = new QLabel;
    worldLabel_->setObjectName("worldLabel");
    form->addRow(tr("World size"), worldLabel_);
    layout->addWidget(degreeBox);

    verdictLabel_ = new QLabel;
    verdictLabel_->setObjectName("parallelVerdict");
    verdictLabel_->setWordWrap(true);
    verdictLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(verdictLabel_);
    layout->addStretch();

    headsSpin_->setValue(numHeads_);
    auto edited = [this] {
        recheck();
        Q_EMIT settingsEdited();
    };
    connect(deviceCombo_, &QComboBox::currentIndexChanged, this, edited);
    connect(ulyssesSpin_, &QSpinBox::valueChanged, this, edited);
    connect(ringSpin_, &QSpinBox::valueChanged, this, edited);
    connect(cfgParallelCheck_, &QCheckBox::toggled, this, edited);
    connect(headsSpin_, &QSpinBox::valueChanged, this, [this](int heads) {
        numHeads_ = heads;
        recheck();
    });
    connect(gpus_, &GpuModel::chosenChanged, this, edited);
    connect(gpus_, &QAbstractItemModel::modelReset, this, [this] { recheck(); });
    recheck();
}

ParallelSettings ParallelPanel::parallelSettings() const {
    ParallelSettings s;
    s.device = deviceCombo_->currentData().toString().toStdString();
    s.ulysses = ulyssesSpin_->value();
    s.ring = ringSpin_->value();
    s.cfgParallel = cfgParallelCheck_->isChecked();
    // All GPUs ticked: the worker takes the first world-size ones; otherwise exactly the ticked ones.
    const QVector<int> chosen = gpus_->chosenIndices();
    if (s.device != "cpu" && chosen.size() != gpus_->gpuCount()) {
        s.gpus.assign(chosen.begin(), chosen.end());
    }
    return s;
}

void ParallelPanel::setParallelSettings(const ParallelSettings& s) {
    {
        const QSignalBlocker b1(deviceCombo_), b2(ulyssesSpin_), b3(ringSpin_), b4(cfgParallelCheck_), b5(gpus_);
        const int device = deviceCombo_->findData(QString::fromStdString(s.device));
        deviceCombo_->setCurrentIndex(device >= 0 ? device : 0);
        ulyssesSpin_->setValue(static_cast<int>(s.ulysses));
        ringSpin_->setValue(static_cast<int>(s.ring));
        cfgParallelCheck_->setChecked(s.cfgParallel);
        gpus_->setChosenIndices(QVector<int>(s.gpus.begin(), s.gpus.end()));
    }
    recheck();
}

void ParallelPanel::setModelHeads(int numHeads) {
    headsSpin_->setValue(numHeads); // rechecks
}

void ParallelPanel::setCfgScale(double cfgScale) {
    if (cfgScale_ != cfgScale) {
        cfgScale_ = cfgScale;
        recheck();
    }
}

void ParallelPanel::recheck() {
    GenerationSettings settings;
    settings.parallel = parallelSettings();
    settings.cfgScale = cfgScale_;
    const bool wasValid = check_.isValid;
    check_ = checkParallelChoice(settings, numHeads_, gpus_->gpuCount());

    const int gpuCount = gpus_->gpuCount();
    gpuSummary_->setText(gpuCount == 0
                             ? tr("No GPU reported (the worker is not connected, or this machine has none): jobs "
                                  "run on the CPU.")
                             : tr("%n GPU(s); %1 ticked for jobs.", "", gpuCount).arg(gpus_->chosenIndices().size()));
    worldLabel_->setText(tr("%1 rank(s) = Ulysses %2 × ring %3 × CFG %4")
                             .arg(check_.worldSize)
                             .arg(ulyssesSpin_->value())
                             .arg(ringSpin_->value())
                             .arg(cfgParallelCheck_->isChecked() ? 2 : 1));
    if (check_.isValid) {
        verdictLabel_->setStyleSheet("color: #6cc070;");
        verdictLabel_->setText(QString::fromUtf8("✓ ") + tr("This split works: %1 rank(s).").arg(check_.worldSize));
    } else {
        verdictLabel_->setStyleSheet("color: #e06c6c;");
        verdictLabel_->setText(QString::fromUtf8("✗ ") + QString::fromStdString(check_.reason));
    }
    if (wasValid != check_.isValid) {
        Q_EMIT validityChanged(check_.isValid);
    }
}

} // namespace ditstudio::ui
