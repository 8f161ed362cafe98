// The live view of the job being generated: the latent preview of each denoising step (the predicted clean latent
// projected to RGB), then the frames as the VAE decodes them; a progress bar with step i/N, it/s and ETA; the
// current stage and the seconds each stage took.
#pragma once
#include "ui/client/worker_types.h"

#include <QImage>
#include <QMap>
#include <QTimer>
#include <QVector>
#include <QWidget>

class QLabel;
class QProgressBar;

namespace ditstudio::ui {

class ImageView;

class LiveView : public QWidget {
    Q_OBJECT
public:
    explicit LiveView(QWidget* parent = nullptr);

    // Starts showing `job` (clears the previous one's images and times).
    void watchJob(quint64 job, const QString& prompt);
    quint64 watchedJob() const { return job_; }

    void onStarted(quint64 job);
    void onStage(quint64 job, const QString& stage, double elapsedSeconds);
    void onProgress(const JobProgress& progress);
    void onPreview(quint64 job, int step, const QVector<QImage>& frames);
    void onFrames(quint64 job, int firstFrame, const QVector<QImage>& frames);
    void onFinished(quint64 job, const QJsonObject& timings);
    void onFailed(quint64 job, const QString& reason);
    void onCancelled(quint64 job);

    int progressPercent() const;
    QString progressText() const;
    int previewCount() const { return previewCount_; }
    int decodedFrameCount() const { return decodedFrames_; }
    QString stageText() const;
    const QImage& shownImage() const;

private:
    void showStages();
    void cyclePreview();

    quint64 job_ = 0;
    QString currentStage_;
    QMap<QString, double> stageSeconds_; // stage → seconds (finished stages, then the running one)
    QVector<QImage> previewFrames_;
    int previewFrameIndex_ = 0;
    int previewCount_ = 0;
    int decodedFrames_ = 0;
    QTimer previewTimer_;

    ImageView* view_;
    QProgressBar* progressBar_;
    QLabel* headline_;
    QLabel* stageLabel_;
};

QString formatSeconds(double seconds); // "0:42", "1:02:03", "—"

} // namespace ditstudio::ui
