#include "ui/widgets/status_panel.h"

#include "ui/models/gpu_model.h"

#include <QComboBox>
#include <QDateTime>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace ditstudio::ui {

namespace {

int levelRank(const QString& level) {
    static const QStringList levels{"trace", "debug", "info", "warn", "warning", "error", "critical"};
    const int index = static_cast<int>(levels.indexOf(level.toLower()));
    if (index == 4) {
        return 3;
    }
    return index < 0 ? 2 : (index > 4 ? index - 1 : index);
}

} // namespace

StatusPanel::StatusPanel(GpuModel* gpus, QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    auto* stateRow = new QHBoxLayout;
    stateLabel_ = new QLabel;
    stateLabel_->setObjectName("workerState");
    stateLabel_->setWordWrap(true);
    reconnectButton_ = new QPushButton(tr("Reconnect"));
    reconnectButton_->setObjectName("reconnectButton");
    reconnectButton_->setToolTip(tr("Connect to the worker again, starting one if none runs"));
    auto* refresh = new QPushButton(tr("Refresh"));
    stateRow->addWidget(stateLabel_, 1);
    stateRow->addWidget(refresh);
    stateRow->addWidget(reconnectButton_);
    layout->addLayout(stateRow);
    groupLabel_ = new QLabel;
    groupLabel_->setObjectName("groupLabel");
    groupLabel_->setWordWrap(true);
    layout->addWidget(groupLabel_);

    gpuView_ = new QTableView;
    gpuView_->setObjectName("statusGpuView");
    gpuView_->setModel(gpus);
    gpuView_->verticalHeader()->hide();
    gpuView_->horizontalHeader()->setStretchLastSection(true);
    gpuView_->setMaximumHeight(120);
    layout->addWidget(gpuView_);

    auto* logRow = new QHBoxLayout;
    logRow->addWidget(new QLabel(tr("Log")));
    levelCombo_ = new QComboBox;
    levelCombo_->setObjectName("logLevel");
    levelCombo_->addItem(tr("debug and above"), 1);
    levelCombo_->addItem(tr("info and above"), 2);
    levelCombo_->addItem(tr("warnings and errors"), 3);
    levelCombo_->addItem(tr("errors only"), 4);
    levelCombo_->setCurrentIndex(1);
    auto* clear = new QPushButton(tr("Clear"));
    logRow->addWidget(levelCombo_);
    logRow->addStretch();
    logRow->addWidget(clear);
    layout->addLayout(logRow);
    log_ = new QPlainTextEdit;
    log_->setObjectName("logView");
    log_->setReadOnly(true);
    log_->setMaximumBlockCount(kMaxLogLines);
    log_->setLineWrapMode(QPlainTextEdit::NoWrap);
    QFont mono("monospace");
    mono.setStyleHint(QFont::TypeWriter);
    log_->setFont(mono);
    layout->addWidget(log_, 1);

    connect(reconnectButton_, &QPushButton::clicked, this, &StatusPanel::reconnectRequested);
    connect(refresh, &QPushButton::clicked, this, &StatusPanel::refreshRequested);
    connect(clear, &QPushButton::clicked, log_, &QPlainTextEdit::clear);
    setStateText(tr("Not connected"), false);
}

void StatusPanel::setStateText(const QString& text, bool isConnected) {
    stateLabel_->setText(QString("<b style='color:%1'>●</b> %2")
                             .arg(isConnected ? "#6cc070" : "#e0a040")
                             .arg(text.toHtmlEscaped()));
    reconnectButton_->setEnabled(!isConnected);
}

QString StatusPanel::stateText() const { return stateLabel_->text(); }

void StatusPanel::setStatus(const WorkerStatus& status) {
    QStringList parts;
    parts << tr("Worker %1, pid %2, up %3 s").arg(status.worker).arg(status.pid).arg(status.uptimeSeconds, 0, 'f', 0);
    parts << tr("%n job(s) queued", "", status.queueLength) + (status.isPaused ? tr(" (paused)") : QString());
    if (status.runningJob) {
        parts << tr("running #%1").arg(*status.runningJob);
    }
    QStringList group;
    for (auto it = status.group.begin(); it != status.group.end(); ++it) {
        const QJsonValue v = it.value();
        const QString value = v.isString() ? v.toString()
                              : v.isBool() ? (v.toBool() ? "yes" : "no")
                              : v.isDouble() ? QString::number(v.toDouble())
                                             : QString::fromUtf8(QJsonDocument(v.toObject()).toJson(QJsonDocument::Compact));
        group << QString("%1: %2").arg(it.key(), value);
    }
    groupLabel_->setText(parts.join(" · ") + (group.isEmpty() ? QString() : "\n" + tr("Rank group: ") + group.join(", ")) +
                         (status.logFile.isEmpty() ? QString() : "\n" + tr("Log file: %1").arg(status.logFile)));
}

void StatusPanel::appendLog(const QString& level, const QString& message, double time, quint64 job) {
    if (levelRank(level) < levelCombo_->currentData().toInt()) {
        return;
    }
    const QDateTime when = time > 0 ? QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(time * 1000.0))
                                    : QDateTime::currentDateTime();
    QString line = QString("%1 [%2]").arg(when.toString("hh:mm:ss.zzz"), level);
    if (job != 0) {
        line += QString(" #%1").arg(job);
    }
    line += " " + message;
    log_->appendPlainText(line);
}

QString StatusPanel::logText() const { return log_->toPlainText(); }

} // namespace ditstudio::ui
