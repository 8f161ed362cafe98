// Reads a finished output back for the player and the compare view: every frame of a video file (MP4, WebM, GIF,
// through FFmpeg's libraries) or a PNG-sequence folder, as RGB images. Blocking: the studio calls it on a worker
// thread (QThreadPool), never on the GUI thread.
#pragma once
#include <QImage>
#include <QString>
#include <QVector>

namespace ditstudio::ui {

struct DecodedClip {
    QVector<QImage> frames;
    double fps = 16.0;
};

// Throws ditstudio::FormatError naming the file and FFmpeg's own error text. `maxFrames` guards memory (a 4 GiB
// clip is refused with a message saying so).
DecodedClip readClip(const QString& path, int maxFrames = 2000);

} // namespace ditstudio::ui
