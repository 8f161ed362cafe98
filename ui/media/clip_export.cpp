#include "ui/media/clip_export.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstring>

namespace ditstudio::ui {

VideoExportResult exportClip(const QVector<QImage>& frames, const QString& path, const VideoExportOptions& options) {
    if (frames.isEmpty()) {
        throw ConfigError("export: the clip has no frames");
    }
    const int width = frames.front().width();
    const int height = frames.front().height();
    at::Tensor video = at::empty({frames.size(), height, width, 3}, at::kByte); // [T, H, W, 3] uint8 RGB
    auto* out = video.data_ptr<uint8_t>();
    const size_t rowBytes = static_cast<size_t>(width) * 3;
    for (qsizetype t = 0; t < frames.size(); ++t) {
        if (frames[t].width() != width || frames[t].height() != height) {
            throw ConfigError(fmt::format("export: frame {} is {}x{}, but the clip is {}x{}", t, frames[t].width(),
                                          frames[t].height(), width, height));
        }
        const QImage rgb = frames[t].convertToFormat(QImage::Format_RGB888);
        for (int y = 0; y < height; ++y) {
            std::memcpy(out + ((static_cast<size_t>(t) * height + y) * rowBytes), rgb.constScanLine(y), rowBytes);
        }
    }
    return exportVideo(video, path.toStdString(), options);
}

} // namespace ditstudio::ui
