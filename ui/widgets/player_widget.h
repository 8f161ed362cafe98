// The player: a clip (the job that just finished, or an output from the history) with play/pause, a scrub slider,
// loop, frame step and zoom, and an optional second clip side by side for comparing two outputs frame by frame.
#pragma once
#include "ui/widgets/playback_controller.h"

#include <QImage>
#include <QVector>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QSlider;
class QToolButton;

namespace ditstudio::ui {

class ImageView;

class PlayerWidget : public QWidget {
    Q_OBJECT
public:
    explicit PlayerWidget(QWidget* parent = nullptr);

    void setClip(const QVector<QImage>& frames, double fps, const QString& title);
    // Frames of a clip that is still decoding, at their index (the clip grows; playback goes on).
    void setFramesAt(int firstFrame, const QVector<QImage>& frames);
    void setCompareClip(const QVector<QImage>& frames, const QString& title);
    void clearCompare();
    bool isComparing() const { return !compareFrames_.isEmpty(); }

    const QVector<QImage>& frames() const { return frames_; }
    double fps() const { return controller_.fps(); }
    QString title() const { return title_; }
    PlaybackController& controller() { return controller_; }
    ImageView* view() const { return view_; }

Q_SIGNALS:
    void compareRequested(); // the user asked to pick a second output
    void exportRequested();

private:
    void showFrame(int frame);
    void setZoomFromCombo();

    PlaybackController controller_;
    QVector<QImage> frames_;
    QVector<QImage> compareFrames_;
    QString title_;
    QString compareTitle_;

    ImageView* view_;
    ImageView* compareView_;
    QToolButton* playButton_;
    QToolButton* previousButton_;
    QToolButton* nextButton_;
    QSlider* slider_;
    QLabel* frameLabel_;
    QCheckBox* loopCheck_;
    QComboBox* zoomCombo_;
    QToolButton* compareButton_;
    QToolButton* exportButton_;
};

} // namespace ditstudio::ui
