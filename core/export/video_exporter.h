// Writes decoded frames (uint8 [T, H, W, 3] RGB, what the VAE's videoToUint8Frames produces) through FFmpeg's
// libraries, in process: MP4 (H.264 via libx264, yuv420p, +faststart), WebM (VP9 via libvpx-vp9), GIF (one
// median-cut palette for the whole clip, gif encoder) or a PNG sequence (a folder of frame_00000.png ...).
// Atomic: everything goes to a hidden temporary name beside the target and is renamed when complete; on any
// failure (disk full, unwritable folder, encoder missing from the local FFmpeg build) the temporary is removed
// and ExportError says what happened, with FFmpeg's own error text.
#pragma once
#include "core/presets/generation_settings.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace ditstudio {

struct VideoExportOptions {
    ExportFormat format = ExportFormat::Mp4;
    double fps = 16.0;
    int quality = 80; // 1..100: CRF for H.264/VP9, palette size for GIF; PNG is lossless and ignores it
};

struct VideoExportResult {
    std::filesystem::path path; // the final file (a folder for a PNG sequence)
    int64_t frameCount = 0;
    int64_t width = 0;          // as encoded (odd sizes are padded to even for yuv420p)
    int64_t height = 0;
    std::string codec;          // FFmpeg's encoder name: libx264, libvpx-vp9, gif, png
    uint64_t bytesWritten = 0;
    double seconds = 0;
};

// frames: uint8 [T, H, W, 3] (any device; copied to the CPU). Throws ConfigError for a bad fps/quality/shape,
// ExportError for everything the write itself can hit. An existing file at `output` is replaced; an existing
// folder (PNG sequence) is an error rather than merged into.
VideoExportResult exportVideo(const at::Tensor& frames, const std::filesystem::path& output,
                              const VideoExportOptions& options);

// Whether `output` can take an export of `format`, before any work is done: ExportError naming the path for an
// existing folder where a file is expected ("clips/"), an existing path where a new PNG folder is expected, or a
// missing parent folder. exportVideo checks the same.
void checkExportTarget(const std::filesystem::path& output, ExportFormat format);

// ".mp4", ".webm", ".gif", "" (a PNG sequence is a folder).
std::string defaultExtension(ExportFormat format);
std::string formatName(ExportFormat format); // mp4, webm, gif, png

// Whether this FFmpeg build has the encoder a format needs (libx264, libvpx-vp9, gif, png).
bool hasEncoderFor(ExportFormat format);

} // namespace ditstudio
