// What a written video holds, as libavformat/libavcodec read it back: every frame is decoded and counted.
// Used by the tests and by `ditstudio-cli probe`.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace ditstudio {

struct VideoInfo {
    std::string container;   // demuxer name: "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "gif", "image2"
    std::string codec;       // decoder's codec name: h264, vp9, gif, png
    std::string pixelFormat; // yuv420p, pal8/bgra, rgb24
    int64_t frameCount = 0;  // decoded frames
    int64_t width = 0;
    int64_t height = 0;
    double fps = 0;          // from the decoded timestamps (container rate when fewer than 2 frames); 0 for a
                             // PNG sequence, which stores no rate
    double durationSeconds = 0;
};

// A video file, or a PNG-sequence folder (frame_00000.png, ...). Throws FormatError naming the file and FFmpeg's
// own error text.
VideoInfo readVideoInfo(const std::filesystem::path& path);

std::string describe(const VideoInfo& info); // one line: "h264 64x48, 17 frames, 16 fps, 1.06 s (mp4)"

} // namespace ditstudio
