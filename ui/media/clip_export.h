// Export of a clip the studio holds (decoded frames) through core's FFmpeg exporter (core/export/video_exporter.h).
// Blocking: the export dialog runs it on a worker thread.
#pragma once
#include "core/export/video_exporter.h"

#include <QImage>
#include <QString>
#include <QVector>

namespace ditstudio::ui {

// All frames must have the same size. Throws ConfigError (no frames, mixed sizes) or ExportError.
VideoExportResult exportClip(const QVector<QImage>& frames, const QString& path, const VideoExportOptions& options);

} // namespace ditstudio::ui
