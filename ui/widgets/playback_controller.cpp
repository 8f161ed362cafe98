#include "ui/widgets/playback_controller.h"

#include <algorithm>
#include <cmath>

namespace ditstudio::ui {

PlaybackController::PlaybackController(QObject* parent) : QObject(parent) {
    timer_.setTimerType(Qt::PreciseTimer);
    connect(&timer_, &QTimer::timeout, this, &PlaybackController::advance);
    setFps(fps_);
}

void PlaybackController::setFrameCount(int count) {
    frameCount_ = std::max(0, count);
    if (frameCount_ == 0) {
        pause();
        if (currentFrame_ != 0) {
            currentFrame_ = 0;
            Q_EMIT currentFrameChanged(0);
        }
        return;
    }
    if (currentFrame_ >= frameCount_) {
        setCurrentFrame(frameCount_ - 1);
    }
}

void PlaybackController::setCurrentFrame(int frame) {
    const int clamped = frameCount_ == 0 ? 0 : std::clamp(frame, 0, frameCount_ - 1);
    if (clamped != currentFrame_) {
        currentFrame_ = clamped;
        Q_EMIT currentFrameChanged(currentFrame_);
    }
}

void PlaybackController::setFps(double fps) {
    fps_ = std::clamp(fps, 0.1, 240.0);
    timer_.setInterval(static_cast<int>(std::lround(1000.0 / fps_)));
}

void PlaybackController::setLooping(bool isLooping) { isLooping_ = isLooping; }

void PlaybackController::play() {
    if (frameCount_ < 2 || timer_.isActive()) {
        return;
    }
    if (currentFrame_ == frameCount_ - 1) {
        setCurrentFrame(0);
    }
    timer_.start();
    Q_EMIT playingChanged(true);
}

void PlaybackController::pause() {
    if (timer_.isActive()) {
        timer_.stop();
        Q_EMIT playingChanged(false);
    }
}

void PlaybackController::togglePlay() {
    if (isPlaying()) {
        pause();
    } else {
        play();
    }
}

void PlaybackController::stepForward() {
    if (frameCount_ == 0) {
        return;
    }
    if (currentFrame_ + 1 < frameCount_) {
        setCurrentFrame(currentFrame_ + 1);
    } else if (isLooping_) {
        setCurrentFrame(0);
    }
}

void PlaybackController::stepBackward() {
    if (frameCount_ == 0) {
        return;
    }
    if (currentFrame_ > 0) {
        setCurrentFrame(currentFrame_ - 1);
    } else if (isLooping_) {
        setCurrentFrame(frameCount_ - 1);
    }
}

void PlaybackController::advance() {
    if (frameCount_ == 0) {
        pause();
        return;
    }
    if (currentFrame_ + 1 < frameCount_) {
        setCurrentFrame(currentFrame_ + 1);
    } else if (isLooping_) {
        setCurrentFrame(0);
    } else {
        pause();
    }
}

} // namespace ditstudio::ui
