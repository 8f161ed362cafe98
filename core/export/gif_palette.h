// One palette for a whole GIF clip by median cut (Heckbert 1982) over a 5-bit-per-channel histogram of every
// frame, and the pixel → palette index map. No dithering: generated clips are smooth and dithering noise
// costs more bytes than it saves banding at these sizes.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ditstudio {

class GifPalette {
public:
    // rgb: `pixelCount` packed RGB24 pixels (all frames); maxColors in [2, 256].
    static GifPalette medianCut(const uint8_t* rgb, size_t pixelCount, int maxColors);

    const std::vector<std::array<uint8_t, 3>>& colors() const { return colors_; }
    uint8_t indexOf(uint8_t r, uint8_t g, uint8_t b) const { return lut_[binOf(r, g, b)]; }
    // FFmpeg's PAL8 layout: 256 native-endian 0xAARRGGBB entries, opaque, unused entries black.
    void toPal8(uint32_t* out256) const;

    static uint32_t binOf(uint8_t r, uint8_t g, uint8_t b) {
        return (uint32_t(r >> 3) << 10) | (uint32_t(g >> 3) << 5) | uint32_t(b >> 3);
    }
    static constexpr uint32_t kBinCount = 1u << 15;

private:
    std::vector<std::array<uint8_t, 3>> colors_;
    std::vector<uint8_t> lut_; // [kBinCount] histogram bin → palette index
};

} // namespace ditstudio
