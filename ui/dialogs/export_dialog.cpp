#include "ui/dialogs/export_dialog.h"

#include "ui/dialogs/error_advice.h"
#include "ui/media/clip_export.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace ditstudio::ui {

ExportDialog::ExportDialog(QVector<QImage> frames, double fps, const QString& suggestedPath, QWidget* parent)
    : QDialog(parent), frames_(std::move(frames)) {
    setWindowTitle(tr("Export clip"));
    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    formatCombo_ = new QComboBox;
    formatCombo_->setObjectName("exportFormat");
    formatCombo_->addItem(tr("MP4 (H.264)"), static_cast<int>(ExportFormat::Mp4));
    formatCombo_->addItem(tr("WebM (VP9)"), static_cast<int>(ExportFormat::WebM));
    formatCombo_->addItem(tr("GIF"), static_cast<int>(ExportFormat::Gif));
    formatCombo_->addItem(tr("PNG sequence (a folder of frames)"), static_cast<int>(ExportFormat::PngSequence));
    auto* items = qobject_cast<QStandardItemModel*>(formatCombo_->model());
    for (int i = 0; i < formatCombo_->count(); ++i) {
        const auto format = static_cast<ExportFormat>(formatCombo_->itemData(i).toInt());
        if (!hasEncoderFor(format) && items) {
            items->item(i)->setEnabled(false);
            items->item(i)->setToolTip(tr("This FFmpeg build has no encoder for %1")
                                           .arg(QString::fromStdString(formatName(format))));
        }
    }
    form->addRow(tr("Format"), formatCombo_);
    fpsSpin_ = new QSpinBox;
    fpsSpin_->setObjectName("exportFps");
    fpsSpin_->setRange(1, 120);
    fpsSpin_->setValue(static_cast<int>(std::lround(fps)));
    fpsSpin_->setSuffix(" fps");
    form->addRow(tr("Frame rate"), fpsSpin_);
    auto* qualityRow = new QHBoxLayout;
    qualitySlider_ = new QSlider(Qt::Horizontal);
    qualitySlider_->setObjectName("exportQuality");
    qualitySlider_->setRange(1, 100);
    qualitySlider_->setValue(80);
    qualityLabel_ = new QLabel;
    qualityLabel_->setMinimumWidth(40);
    qualityRow->addWidget(qualitySlider_, 1);
    qualityRow->addWidget(qualityLabel_);
    form->addRow(tr("Quality"), qualityRow);
    auto* pathRow = new QHBoxLayout;
    pathEdit_ = new QLineEdit(suggestedPath);
    pathEdit_->setObjectName("exportPath");
    auto* browse = new QToolButton;
    browse->setText(tr("Browse ..."));
    pathRow->addWidget(pathEdit_, 1);
    pathRow->addWidget(browse);
    form->addRow(tr("Save to"), pathRow);
    layout->addLayout(form);
    auto* info = new QLabel(tr("%n frame(s)", "", static_cast<int>(frames_.size())) +
                            (frames_.isEmpty() ? QString()
                                               : tr(", %1×%2").arg(frames_.front().width()).arg(frames_.front().height())));
    layout->addWidget(info);
    resultLabel_ = new QLabel;
    resultLabel_->setObjectName("exportResult");
    resultLabel_->setWordWrap(true);
    resultLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(resultLabel_);
    buttons_ = new QDialogButtonBox(QDialogButtonBox::Close);
    auto* exportButton = buttons_->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    exportButton->setObjectName("exportStart");
    layout->addWidget(buttons_);

    watcher_ = new QFutureWatcher<QString>(this);
    connect(watcher_, &QFutureWatcher<QString>::finished, this, [this] {
        const QString result = watcher_->result();
        const bool isSuccess = !result.startsWith("error:");
        resultLabel_->setStyleSheet(isSuccess ? "color: #6cc070;" : "color: #e06c6c;");
        if (isSuccess) {
            resultLabel_->setText(result);
        } else {
            const ErrorAdvice advice = adviseOnError("export", "export_failed", result.mid(6).trimmed());
            resultLabel_->setText(advice.summary + " " + advice.advice + "\n" + advice.details);
        }
        buttons_->setEnabled(true);
        Q_EMIT exportFinished(isSuccess, isSuccess ? targetPath() : result.mid(6).trimmed());
    });
    connect(exportButton, &QPushButton::clicked, this, &ExportDialog::startExport);
    connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(formatCombo_, &QComboBox::currentIndexChanged, this, &ExportDialog::formatChanged);
    connect(qualitySlider_, &QSlider::valueChanged, this,
            [this](int value) { qualityLabel_->setText(QString::number(value)); });
    connect(browse, &QToolButton::clicked, this, [this] {
        const auto format = static_cast<ExportFormat>(formatCombo_->currentData().toInt());
        const QString path = format == ExportFormat::PngSequence
                                 ? QFileDialog::getSaveFileName(this, tr("Folder for the PNG frames"), targetPath())
                                 : QFileDialog::getSaveFileName(this, tr("Export clip"), targetPath());
        if (!path.isEmpty()) {
            pathEdit_->setText(path);
        }
    });
    qualityLabel_->setText(QString::number(qualitySlider_->value()));
    formatChanged();
}

VideoExportOptions ExportDialog::options() const {
    VideoExportOptions o;
    o.format = static_cast<ExportFormat>(formatCombo_->currentData().toInt());
    o.fps = fpsSpin_->value();
    o.quality = qualitySlider_->value();
    return o;
}

QString ExportDialog::targetPath() const { return pathEdit_->text().trimmed(); }

void ExportDialog::setFormat(ExportFormat format) {
    formatCombo_->setCurrentIndex(formatCombo_->findData(static_cast<int>(format)));
}

void ExportDialog::setTargetPath(const QString& path) { pathEdit_->setText(path); }

void ExportDialog::setQuality(int quality) { qualitySlider_->setValue(quality); }

bool ExportDialog::isExporting() const { return watcher_->isRunning(); }

QString ExportDialog::resultText() const { return resultLabel_->text(); }

void ExportDialog::formatChanged() {
    const auto format = static_cast<ExportFormat>(formatCombo_->currentData().toInt());
    qualitySlider_->setEnabled(format != ExportFormat::PngSequence);
    // Keep the file name, swap the extension for the format's.
    QString path = targetPath();
    if (!path.isEmpty()) {
        const QFileInfo info(path);
        const QString base = info.dir().filePath(info.completeBaseName().isEmpty() ? info.fileName()
                                                                                   : info.completeBaseName());
        const QString knownSuffix = info.suffix().toLower();
        const bool hasKnownSuffix = knownSuffix == "mp4" || knownSuffix == "webm" || knownSuffix == "gif";
        const QString stem = hasKnownSuffix ? base : path;
        pathEdit_->setText(stem + QString::fromStdString(defaultExtension(format)));
    }
}

void ExportDialog::startExport() {
    if (isExporting()) {
        return;
    }
    const QString path = targetPath();
    if (path.isEmpty()) {
        resultLabel_->setText(tr("Choose where to save the clip."));
        return;
    }
    buttons_->setEnabled(false);
    resultLabel_->setStyleSheet({});
    resultLabel_->setText(tr("Exporting %n frame(s) ...", "", static_cast<int>(frames_.size())));
    const VideoExportOptions o = options();
    const QVector<QImage> frames = frames_;
    watcher_->setFuture(QtConcurrent::run([frames, path, o]() -> QString {
        try {
            const VideoExportResult r = exportClip(frames, path, o);
            return QObject::tr("Wrote %1: %2 frames, %3×%4, %5, %6 KiB in %7 s")
                .arg(QString::fromStdString(r.path.string()))
                .arg(r.frameCount)
                .arg(r.width)
                .arg(r.height)
                .arg(QString::fromStdString(r.codec))
                .arg(r.bytesWritten / 1024)
                .arg(r.seconds, 0, 'f', 2);
        } catch (const std::exception& e) {
            return QString("error: ") + QString::fromStdString(e.what());
        }
    }));
}

} // namespace ditstudio::ui
