// The export dialog: format (MP4 H.264, WebM VP9, GIF, PNG sequence; formats this FFmpeg build cannot write are
// disabled with the reason), fps, quality and target path. The export runs on a worker thread; the dialog stays
// responsive and reports the written file (frames, size, codec, bytes) or a clear error.
#pragma once
#include "core/export/video_exporter.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QImage>
#include <QVector>

class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QSlider;
class QSpinBox;

namespace ditstudio::ui {

class ExportDialog : public QDialog {
    Q_OBJECT
public:
    ExportDialog(QVector<QImage> frames, double fps, const QString& suggestedPath, QWidget* parent = nullptr);

    VideoExportOptions options() const;
    QString targetPath() const;
    void setFormat(ExportFormat format);
    void setTargetPath(const QString& path);
    void setQuality(int quality);

    // Starts the export (what the Export button does); finished() tells the result.
    void startExport();
    bool isExporting() const;
    QString resultText() const;

Q_SIGNALS:
    void exportFinished(bool isSuccess, const QString& pathOrError);

private:
    void formatChanged();

    QVector<QImage> frames_;
    QComboBox* formatCombo_;
    QSpinBox* fpsSpin_;
    QSlider* qualitySlider_;
    QLabel* qualityLabel_;
    QLineEdit* pathEdit_;
    QLabel* resultLabel_;
    QDialogButtonBox* buttons_;
    QFutureWatcher<QString>* watcher_;
};

} // namespace ditstudio::ui
