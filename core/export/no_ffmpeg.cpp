// The export entry points of a build without FFmpeg's development files (a headless GPU server): every call that
// would write or read a video says so clearly. Latents and frames can still be produced and saved.
#include "core/export/video_exporter.h"
#include "core/export/video_info.h"
#include "core/util/error.h"

namespace ditstudio {

static const char* kNoFfmpeg =
    "this DiT Studio was built without FFmpeg (libavformat/libavcodec/libswscale development files were not found "
    "at configure time): install them (scripts/setup.sh does) and rebuild to export videos";

VideoExportResult exportVideo(const at::Tensor&, const std::filesystem::path& output, const VideoExportOptions&) {
    throw ExportError(std::string(output.string()) + ": " + kNoFfmpeg);
}

std::string defaultExtension(ExportFormat format) {
    return format == ExportFormat::Mp4 ? ".mp4" : format == ExportFormat::WebM ? ".webm" : format == ExportFormat::Gif ? ".gif" : "";
}

std::string formatName(ExportFormat format) { return toString(format); }

bool hasEncoderFor(ExportFormat) { return false; }

VideoInfo readVideoInfo(const std::filesystem::path& path) { throw FormatError(path.string() + ": " + kNoFfmpeg); }

std::string describe(const VideoInfo& info) { return info.codec; }

} // namespace ditstudio
