#include "core/export/gif_palette.h"

#include "core/util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace ditstudio {

namespace {

struct Bin {
    uint64_t count = 0;
    std::array<uint64_t, 3> sum{}; // per channel, 8-bit values
    std::array<uint8_t, 3> cell{}; // 5-bit coordinates
};

struct Box {
    size_t begin = 0, end = 0; // range of bins
    uint64_t count = 0;
    int axis = 0;   // the longest side
    int extent = 0; // its length in 5-bit cells
};

Box makeBox(const std::vector<Bin>& bins, size_t begin, size_t end) {
    Box box{begin, end, 0, 0, 0};
    std::array<int, 3> lo{31, 31, 31}, hi{0, 0, 0};
    for (size_t i = begin; i < end; ++i) {
        box.count += bins[i].count;
        for (int c = 0; c < 3; ++c) {
            lo[c] = std::min<int>(lo[c], bins[i].cell[c]);
            hi[c] = std::max<int>(hi[c], bins[i].cell[c]);
        }
    }
    for (int c = 0; c < 3; ++c) {
        if (hi[c] - lo[c] > box.extent) {
            box.extent = hi[c] - lo[c];
            box.axis = c;
        }
    }
    return box;
}

std::array<uint8_t, 3> meanColor(const std::vector<Bin>& bins, size_t begin, size_t end) {
    std::array<uint64_t, 3> sum{};
    uint64_t count = 0;
    for (size_t i = begin; i < end; ++i) {
        count += bins[i].count;
        for (int c = 0; c < 3; ++c) {
            sum[c] += bins[i].sum[c];
        }
    }
    std::array<uint8_t, 3> out{};
    for (int c = 0; c < 3; ++c) {
        out[c] = static_cast<uint8_t>((sum[c] + count / 2) / std::max<uint64_t>(count, 1));
    }
    return out;
}

} // namespace

GifPalette GifPalette::medianCut(const uint8_t* rgb, size_t pixelCount, int maxColors) {
    if (maxColors < 2 || maxColors > 256) {
        throw ConfigError(fmt::format("GIF palette size must be 2..256, got {}", maxColors));
    }
    std::vector<Bin> histogram(kBinCount);
    for (size_t p = 0; p < pixelCount; ++p) {
        const uint8_t* px = rgb + 3 * p;
        Bin& bin = histogram[binOf(px[0], px[1], px[2])];
        ++bin.count;
        bin.sum[0] += px[0];
        bin.sum[1] += px[1];
        bin.sum[2] += px[2];
    }
    std::vector<Bin> bins;
    for (uint32_t id = 0; id < kBinCount; ++id) {
        if (histogram[id].count != 0) {
            Bin bin = histogram[id];
            bin.cell = {uint8_t(id >> 10), uint8_t((id >> 5) & 31), uint8_t(id & 31)};
            bins.push_back(bin);
        }
    }

    std::vector<Box> boxes;
    if (!bins.empty()) {
        boxes.push_back(makeBox(bins, 0, bins.size()));
    }
    while (static_cast<int>(boxes.size()) < maxColors) {
        // Split the box with most pixels × longest side; boxes of one cell cannot be split.
        size_t best = boxes.size();
        double bestScore = 0;
        for (size_t b = 0; b < boxes.size(); ++b) {
            const double score = double(boxes[b].count) * boxes[b].extent;
            if (boxes[b].end - boxes[b].begin > 1 && boxes[b].extent > 0 && score > bestScore) {
                best = b;
                bestScore = score;
            }
        }
        if (best == boxes.size()) {
            break;
        }
        const Box box = boxes[best];
        std::sort(bins.begin() + box.begin, bins.begin() + box.end,
                  [axis = box.axis](const Bin& a, const Bin& b) { return a.cell[axis] < b.cell[axis]; });
        // The median by pixel count, keeping both halves non-empty.
        uint64_t running = 0;
        size_t split = box.begin + 1;
        for (size_t i = box.begin; i < box.end - 1; ++i) {
            running += bins[i].count;
            split = i + 1;
            if (running * 2 >= box.count) {
                break;
            }
        }
        boxes[best] = makeBox(bins, box.begin, split);
        boxes.push_back(makeBox(bins, split, box.end));
    }

    GifPalette palette;
    palette.lut_.assign(kBinCount, 0);
    for (const auto& box : boxes) {
        palette.colors_.push_back(meanColor(bins, box.begin, box.end));
    }
    if (palette.colors_.empty()) {
        palette.colors_.push_back({0, 0, 0});
    }
    // Each observed bin maps to the palette colour nearest to the bin's own mean colour.
    for (const auto& bin : bins) {
        std::array<uint8_t, 3> mean{};
        for (int c = 0; c < 3; ++c) {
            mean[c] = static_cast<uint8_t>((bin.sum[c] + bin.count / 2) / bin.count);
        }
        int bestIndex = 0;
        int bestDistance = std::numeric_limits<int>::max();
        for (size_t i = 0; i < palette.colors_.size(); ++i) {
            int distance = 0;
            for (int c = 0; c < 3; ++c) {
                const int d = int(mean[c]) - int(palette.colors_[i][c]);
                distance += d * d;
            }
            if (distance < bestDistance) {
                bestDistance = distance;
                bestIndex = static_cast<int>(i);
            }
        }
        palette.lut_[(uint32_t(bin.cell[0]) << 10) | (uint32_t(bin.cell[1]) << 5) | bin.cell[2]] =
            static_cast<uint8_t>(bestIndex);
    }
    return palette;
}

void GifPalette::toPal8(uint32_t* out256) const {
    for (size_t i = 0; i < 256; ++i) {
        if (i < colors_.size()) {
            out256[i] = 0xFF000000u | (uint32_t(colors_[i][0]) << 16) | (uint32_t(colors_[i][1]) << 8) | colors_[i][2];
        } else {
            out256[i] = 0xFF000000u;
        }
    }
}

} // namespace ditstudio
