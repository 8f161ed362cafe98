// PNG thumbnails of outputs for the history (libpng, in memory).
#pragma once
#include <cstdint>
#include <string>

namespace ditstudio::service {

// PNG bytes of an RGB8 image (row-major, 3 bytes per pixel). Throws Error when libpng fails.
std::string encodePng(const uint8_t* rgb, int64_t width, int64_t height);
// The middle frame of uint8 [frames, height, width, 3], box-downscaled so that its width is at most `maxWidth`.
std::string makeThumbnail(const std::string& framesRgb, int64_t frames, int64_t height, int64_t width,
                          int64_t maxWidth = 256);

} // namespace ditstudio::service
