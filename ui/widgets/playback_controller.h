// Playback state of a clip, without any widget: frame count, current frame, frame rate, play/pause, loop and frame
// stepping. The player widget presents it; the tests drive it directly.
#pragma once
#include <QObject>
#include <QTimer>

namespace ditstudio::ui {

class PlaybackController : public QObject {
    Q_OBJECT
public:
    explicit PlaybackController(QObject* parent = nullptr);

    int frameCount() const { return frameCount_; }
    // Keeps the current frame when it is still inside; a clip that grows while decoding keeps playing.
    void setFrameCount(int count);
    int currentFrame() const { return currentFrame_; }
    void setCurrentFrame(int frame); // clamped to [0, frameCount-1]
    double fps() const { return fps_; }
    void setFps(double fps);
    bool isLooping() const { return isLooping_; }
    void setLooping(bool isLooping);
    bool isPlaying() const { return timer_.isActive(); }

    void play();  // from the start when at the last frame
    void pause();
    void togglePlay();
    // One frame forward/back; at an end it wraps when looping and stays otherwise.
    void stepForward();
    void stepBackward();
    // One timer tick: the next frame; at the end, back to frame 0 when looping, else pause on the last frame.
    void advance();

Q_SIGNALS:
    void currentFrameChanged(int frame);
    void playingChanged(bool isPlaying);

private:
    QTimer timer_;
    int frameCount_ = 0;
    int currentFrame_ = 0;
    double fps_ = 16.0;
    bool isLooping_ = true;
};

} // namespace ditstudio::ui
