#include "ui/widgets/live_view.h"

#include "ui/widgets/image_view.h"

#include <QJsonObject>
#include <QLabel>
#include <QProgressBar>
#include <QVBoxLayout>

#include <cmath>

namespace ditstudio::ui {

QString formatSeconds(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0) {
        return QString::fromUtf8("—");
    }
    const auto total = static_cast<qint64>(std::llround(seconds));
    const qint64 h = total / 3600, m = (total / 60) % 60, s = total % 60;
    return h > 0 ? QString("%1:%2:%3").arg(h).arg(m, 2, 10, QChar('0')).arg(s, 2, 10, QChar('0'))
                 : QString("%1:%2").arg(m).arg(s, 2, 10, QChar('0'));
}

LiveView::LiveView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    headline_ = new QLabel(tr("Idle"));
    headline_->setObjectName("liveHeadline");
    headline_->setWordWrap(true);
    layout->addWidget(headline_);
    view_ = new ImageView;
    view_->setObjectName("liveImage");
    view_->setPlaceholderText(tr("The denoising preview appears here, step by step, then the decoded frames."));
    layout->addWidget(view_, 1);
    progressBar_ = new QProgressBar;
    progressBar_->setObjectName("liveProgress");
    progressBar_->setRange(0, 100);
    progressBar_->setValue(0);
    progressBar_->setFormat(tr("Idle"));
    layout->addWidget(progressBar_);
    stageLabel_ = new QLabel;
    stageLabel_->setObjectName("stageTimes");
    stageLabel_->setTextFormat(Qt::RichText);
    layout->addWidget(stageLabel_);

    previewTimer_.setInterval(250);
    connect(&previewTimer_, &QTimer::timeout, this, &LiveView::cyclePreview);
}

void LiveView::watchJob(quint64 job, const QString& prompt) {
    job_ = job;
    currentStage_.clear();
    stageSeconds_.clear();
    previewFrames_.clear();
    previewCount_ = 0;
    decodedFrames_ = 0;
    previewTimer_.stop();
    view_->setImage({});
    view_->setCaption({});
    view_->setPlaceholderText(tr("Job #%1 is queued ...").arg(job));
    headline_->setText(tr("Job #%1: %2").arg(job).arg(prompt.simplified().left(160)));
    progressBar_->setValue(0);
    progressBar_->setFormat(tr("Queued"));
    showStages();
}

void LiveView::onStarted(quint64 job) {
    if (job != job_) {
        return;
    }
    progressBar_->setFormat(tr("Starting ..."));
    view_->setPlaceholderText(tr("Loading the model ..."));
}

void LiveView::onStage(quint64 job, const QString& stage, double elapsedSeconds) {
    if (job != job_) {
        return;
    }
    // A stage event starts `stage`; `elapsedSeconds` counts from the job's start, so the previous stage took the
    // difference.
    if (!currentStage_.isEmpty()) {
        double before = 0;
        for (auto it = stageSeconds_.cbegin(); it != stageSeconds_.cend(); ++it) {
            if (it.key() != currentStage_) {
                before += it.value();
            }
        }
        stageSeconds_[currentStage_] = std::max(0.0, elapsedSeconds - before);
    }
    currentStage_ = stage;
    stageSeconds_.insert(stage, 0.0);
    progressBar_->setFormat(stage == "denoise" ? tr("Denoising ...") : tr("%1 ...").arg(stage));
    showStages();
}

void LiveView::onProgress(const JobProgress& p) {
    if (p.job != job_ || p.total <= 0) {
        return;
    }
    progressBar_->setValue(static_cast<int>(std::lround(100.0 * p.step / p.total)));
    progressBar_->setFormat(tr("Step %1/%2 — %3 it/s — ETA %4 — %p %")
                                .arg(p.step)
                                .arg(p.total)
                                .arg(p.itPerSecond, 0, 'f', p.itPerSecond < 10 ? 2 : 1)
                                .arg(formatSeconds(p.etaSeconds)));
}

void LiveView::onPreview(quint64 job, int step, const QVector<QImage>& frames) {
    if (job != job_ || frames.isEmpty() || decodedFrames_ > 0) {
        return;
    }
    ++previewCount_;
    previewFrames_ = frames;
    previewFrameIndex_ = std::min(previewFrameIndex_, static_cast<int>(frames.size()) - 1);
    view_->setImage(previewFrames_[previewFrameIndex_]);
    view_->setCaption(tr("latent preview, step %1").arg(step));
    if (frames.size() > 1 && !previewTimer_.isActive()) {
        previewTimer_.start();
    }
}

void LiveView::cyclePreview() {
    if (previewFrames_.isEmpty()) {
        previewTimer_.stop();
        return;
    }
    previewFrameIndex_ = (previewFrameIndex_ + 1) % static_cast<int>(previewFrames_.size());
    view_->setImage(previewFrames_[previewFrameIndex_]);
}

void LiveView::onFrames(quint64 job, int firstFrame, const QVector<QImage>& frames) {
    if (job != job_ || frames.isEmpty()) {
        return;
    }
    previewTimer_.stop();
    previewFrames_.clear();
    decodedFrames_ = std::max(decodedFrames_, firstFrame + static_cast<int>(frames.size()));
    view_->setImage(frames.back());
    view_->setCaption(tr("decoded frames 1–%1").arg(decodedFrames_));
}

void LiveView::onFinished(quint64 job, const QJsonObject& timings) {
    if (job != job_) {
        return;
    }
    previewTimer_.stop();
    for (auto it = timings.begin(); it != timings.end(); ++it) {
        if (it.value().isDouble()) {
            stageSeconds_[it.key()] = it.value().toDouble();
        }
    }
    currentStage_.clear();
    progressBar_->setValue(100);
    progressBar_->setFormat(tr("Done — %p %"));
    showStages();
}

void LiveView::onFailed(quint64 job, const QString& reason) {
    if (job != job_) {
        return;
    }
    previewTimer_.stop();
    currentStage_.clear();
    progressBar_->setFormat(tr("Failed"));
    headline_->setText(tr("Job #%1 failed: %2").arg(job).arg(reason));
    showStages();
}

void LiveView::onCancelled(quint64 job) {
    if (job != job_) {
        return;
    }
    previewTimer_.stop();
    currentStage_.clear();
    progressBar_->setFormat(tr("Cancelled"));
    showStages();
}

int LiveView::progressPercent() const { return progressBar_->value(); }

QString LiveView::progressText() const { return progressBar_->text(); }

QString LiveView::stageText() const { return stageLabel_->text(); }

const QImage& LiveView::shownImage() const { return view_->image(); }

void LiveView::showStages() {
    static const QStringList order{"load", "encode", "denoise", "decode", "export"};
    QStringList parts;
    QStringList keys = order;
    for (auto it = stageSeconds_.cbegin(); it != stageSeconds_.cend(); ++it) {
        if (!keys.contains(it.key())) {
            keys.push_back(it.key());
        }
    }
    for (const QString& stage : keys) {
        if (!stageSeconds_.contains(stage)) {
            continue;
        }
        if (stage == currentStage_) {
            parts << QString("<b>%1 …</b>").arg(stage.toHtmlEscaped());
        } else {
            parts << QString("%1 %2 s").arg(stage.toHtmlEscaped()).arg(stageSeconds_[stage], 0, 'f', 2);
        }
    }
    stageLabel_->setText(parts.isEmpty() ? QString() : tr("Stages: ") + parts.join(QString::fromUtf8(" · ")));
}

} // namespace ditstudio::ui
