// Worker state, the rank group, GPU use and memory per rank, and the worker's log stream (filterable by level).
#pragma once
#include "ui/client/worker_types.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QTableView;

namespace ditstudio::ui {

class GpuModel;

class StatusPanel : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxLogLines = 5000;

    explicit StatusPanel(GpuModel* gpus, QWidget* parent = nullptr);

    void setStateText(const QString& text, bool isConnected);
    void setStatus(const WorkerStatus& status);
    void appendLog(const QString& level, const QString& message, double time, quint64 job);
    QString logText() const;
    QString stateText() const;

Q_SIGNALS:
    void reconnectRequested();
    void refreshRequested();

private:
    QLabel* stateLabel_;
    QLabel* groupLabel_;
    QTableView* gpuView_;
    QComboBox* levelCombo_;
    QPlainTextEdit* log_;
    QPushButton* reconnectButton_;
};

} // namespace ditstudio::ui
