#include "ui/widgets/player_widget.h"

#include "ui/widgets/image_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSlider>
#include <QSplitter>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

namespace ditstudio::ui {

PlayerWidget::PlayerWidget(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* views = new QSplitter(Qt::Horizontal);
    view_ = new ImageView;
    view_->setObjectName("playerView");
    view_->setPlaceholderText(tr("No clip yet: generate one, or open an output from the history."));
    compareView_ = new ImageView;
    compareView_->setObjectName("compareView");
    compareView_->hide();
    views->addWidget(view_);
    views->addWidget(compareView_);
    layout->addWidget(views, 1);

    auto* controls = new QHBoxLayout;
    auto button = [this](QStyle::StandardPixmap icon, const QString& tip, const char* name) {
        auto* b = new QToolButton;
        b->setIcon(style()->standardIcon(icon));
        b->setToolTip(tip);
        b->setObjectName(name);
        b->setAutoRaise(true);
        return b;
    };
    previousButton_ = button(QStyle::SP_MediaSeekBackward, tr("Previous frame (Left)"), "previousFrameButton");
    playButton_ = button(QStyle::SP_MediaPlay, tr("Play / pause (Space)"), "playButton");
    nextButton_ = button(QStyle::SP_MediaSeekForward, tr("Next frame (Right)"), "nextFrameButton");
    slider_ = new QSlider(Qt::Horizontal);
    slider_->setObjectName("scrubSlider");
    slider_->setRange(0, 0);
    frameLabel_ = new QLabel("0 / 0");
    frameLabel_->setObjectName("frameLabel");
    frameLabel_->setMinimumWidth(90);
    loopCheck_ = new QCheckBox(tr("Loop"));
    loopCheck_->setObjectName("loopCheck");
    loopCheck_->setChecked(true);
    zoomCombo_ = new QComboBox;
    zoomCombo_->setObjectName("zoomCombo");
    zoomCombo_->addItem(tr("Fit"), ImageView::kFit);
    for (double z : {0.5, 1.0, 2.0, 4.0, 8.0}) {
        zoomCombo_->addItem(QString("%1 %").arg(z * 100), z);
    }
    compareButton_ = new QToolButton;
    compareButton_->setText(tr("Compare ..."));
    compareButton_->setObjectName("compareButton");
    compareButton_->setToolTip(tr("Show a second output side by side, frame-locked"));
    compareButton_->setCheckable(true);
    exportButton_ = new QToolButton;
    exportButton_->setText(tr("Export ..."));
    exportButton_->setObjectName("exportButton");
    exportButton_->setToolTip(tr("Export this clip as MP4, WebM, GIF or PNG frames (Ctrl+E)"));
    controls->addWidget(previousButton_);
    controls->addWidget(playButton_);
    controls->addWidget(nextButton_);
    controls->addWidget(slider_, 1);
    controls->addWidget(frameLabel_);
    controls->addWidget(loopCheck_);
    controls->addWidget(zoomCombo_);
    controls->addWidget(compareButton_);
    controls->addWidget(exportButton_);
    layout->addLayout(controls);

    connect(playButton_, &QToolButton::clicked, &controller_, &PlaybackController::togglePlay);
    connect(previousButton_, &QToolButton::clicked, &controller_, &PlaybackController::stepBackward);
    connect(nextButton_, &QToolButton::clicked, &controller_, &PlaybackController::stepForward);
    connect(slider_, &QSlider::valueChanged, &controller_, &PlaybackController::setCurrentFrame);
    connect(loopCheck_, &QCheckBox::toggled, &controller_, &PlaybackController::setLooping);
    connect(zoomCombo_, &QComboBox::currentIndexChanged, this, &PlayerWidget::setZoomFromCombo);
    connect(&controller_, &PlaybackController::currentFrameChanged, this, &PlayerWidget::showFrame);
    connect(&controller_, &PlaybackController::playingChanged, this, [this](bool isPlaying) {
        playButton_->setIcon(style()->standardIcon(isPlaying ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
    });
    connect(compareButton_, &QToolButton::clicked, this, [this](bool isChecked) {
        if (isChecked) {
            compareButton_->setChecked(false); // checked once a clip arrives
            Q_EMIT compareRequested();
        } else {
            clearCompare();
        }
    });
    connect(exportButton_, &QToolButton::clicked, this, &PlayerWidget::exportRequested);
    showFrame(0);
}

void PlayerWidget::setClip(const QVector<QImage>& frames, double fps, const QString& title) {
    controller_.pause();
    frames_ = frames;
    title_ = title;
    controller_.setFps(fps);
    controller_.setFrameCount(static_cast<int>(frames_.size()));
    controller_.setCurrentFrame(0);
    showFrame(controller_.currentFrame());
}

void PlayerWidget::setFramesAt(int firstFrame, const QVector<QImage>& frames) {
    if (firstFrame < 0) {
        return;
    }
    if (frames_.size() < firstFrame + frames.size()) {
        frames_.resize(firstFrame + frames.size());
    }
    for (int i = 0; i < frames.size(); ++i) {
        frames_[firstFrame + i] = frames[i];
    }
    controller_.setFrameCount(static_cast<int>(frames_.size()));
    showFrame(controller_.currentFrame());
}

void PlayerWidget::setCompareClip(const QVector<QImage>& frames, const QString& title) {
    compareFrames_ = frames;
    compareTitle_ = title;
    compareView_->setVisible(!frames.isEmpty());
    compareView_->setZoom(view_->zoom());
    {
        const QSignalBlocker blocker(compareButton_);
        compareButton_->setChecked(!frames.isEmpty());
    }
    showFrame(controller_.currentFrame());
}

void PlayerWidget::clearCompare() { setCompareClip({}, {}); }

void PlayerWidget::showFrame(int frame) {
    const int count = static_cast<int>(frames_.size());
    {
        const QSignalBlocker blocker(slider_);
        slider_->setRange(0, std::max(0, count - 1));
        slider_->setValue(frame);
    }
    frameLabel_->setText(count == 0 ? QStringLiteral("0 / 0") : QString("%1 / %2").arg(frame + 1).arg(count));
    view_->setImage(frame < count ? frames_[frame] : QImage());
    view_->setCaption(title_.isEmpty() ? QString() : title_);
    if (!compareFrames_.isEmpty()) {
        const int compareFrame = std::min(frame, static_cast<int>(compareFrames_.size()) - 1);
        compareView_->setImage(compareFrames_[compareFrame]);
        compareView_->setCaption(compareTitle_);
    }
    for (QWidget* w : {static_cast<QWidget*>(playButton_), static_cast<QWidget*>(previousButton_),
                       static_cast<QWidget*>(nextButton_), static_cast<QWidget*>(slider_),
                       static_cast<QWidget*>(exportButton_)}) {
        w->setEnabled(count > 0);
    }
}

void PlayerWidget::setZoomFromCombo() {
    const double zoom = zoomCombo_->currentData().toDouble();
    view_->setZoom(zoom);
    compareView_->setZoom(zoom);
}

} // namespace ditstudio::ui
