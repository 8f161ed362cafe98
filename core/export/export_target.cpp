// checkExportTarget: where a video or PNG sequence may be written (shared by the FFmpeg and the no-FFmpeg builds).
#include "core/export/video_exporter.h"
#include "core/util/error.h"

#include <fmt/format.h>

namespace ditstudio {

namespace fs = std::filesystem;

void checkExportTarget(const fs::path& output, ExportFormat format) {
    std::error_code ec;
    if (format == ExportFormat::PngSequence && fs::exists(output, ec)) {
        throw ExportError(fmt::format("{}: already exists; a PNG sequence is written to a new folder", output.string()));
    }
    if (format != ExportFormat::PngSequence && (fs::is_directory(output, ec) || output.filename().empty())) {
        throw ExportError(fmt::format("{}: is a folder, expected a file name", output.string()));
    }
    const fs::path parent = output.parent_path().empty() ? fs::path(".") : output.parent_path();
    if (!fs::is_directory(parent, ec)) {
        throw ExportError(fmt::format("{}: the folder {} does not exist", output.string(), parent.string()));
    }
}

} // namespace ditstudio
