// Measures the object in a generated demo clip from its pixels alone: what the content test and the trainer's
// evaluation compare against the prompt. The background is the frame's per-channel median (objects cover far less
// than half of a frame in the synthetic world); object pixels are those far from it (at least half the frame's
// largest distance), with isolated specks removed.
#pragma once
#include "core/training/synthetic_world.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ditstudio::training {

struct ObjectProbe {
    bool found = false;       // object pixels in the first and the last frame
    double objectShare = 0;   // mean share of the frame the object covers
    double hueDegrees = 0;    // hue of the mean object colour, in [0, 360)
    double saturation = 0;    // of that mean colour (HSV), in [0, 1]
    double value = 0;         // of that mean colour (HSV), in [0, 1]
    double dx = 0, dy = 0;    // centroid displacement first → last frame, in frame widths/heights (x right, y down)
    double fillRatio = 0;     // mean over frames of object area / bounding-box area (square 1, circle 0.79, triangle 0.5)
    double areaGrowth = 1;    // area in the last frame / area in the first
};

// frames: uint8 [T, H, W, 3] (what Generator returns).
ObjectProbe probeObject(const at::Tensor& frames);

// The candidate whose reference value is nearest: colours by hue (names of the synthetic world's colour table),
// shapes by fill ratio ("circle", "square", "triangle"), directions by the dominant axis of the displacement
// ("left", "right", "up", "down"). Throws ConfigError for a name it does not know.
std::string nearestColour(const ObjectProbe& probe, const std::vector<std::string>& candidates);
std::string nearestShape(const ObjectProbe& probe, const std::vector<std::string>& candidates);
std::string direction(const ObjectProbe& probe);

// The content check of the demo model: prompts that differ in one property only (colour, shape or direction),
// generated for several seeds; each video's measured property is compared with the prompt's.
struct ContentCase {
    std::string property; // "colour", "shape" or "direction"
    std::string expected; // what the prompt asks for
    std::string prompt;
    ObjectSpec object;      // what the prompt describes, for renderCase (position and size vary with the seed)
    std::string background;
};
std::vector<ContentCase> contentCases();
// The clip a case's prompt describes, rendered by the synthetic world → uint8 [T, H, W, 3]. The seed moves the
// object a little and changes its size within the world's range.
at::Tensor renderCase(const ContentCase& c, int64_t seed, const WorldSettings& world);

struct ContentScore {
    std::map<std::string, int> correct, total; // per property
    std::vector<std::string> details;          // one line per video: prompt, seed, measured, verdict
    double accuracy(const std::string& property) const;
};

// generate(prompt, seed) → uint8 [T, H, W, 3].
using ClipGenerator = std::function<at::Tensor(const std::string& prompt, int64_t seed)>;
ContentScore scoreContent(const ClipGenerator& generate, const std::vector<int64_t>& seeds);
// The same with a model folder generating through the demo-cpu preset (float32), as the content test and
// `ditstudio-train --evaluate` run it.
ContentScore scoreModelContent(const std::filesystem::path& modelDir, at::Device device,
                               const std::vector<int64_t>& seeds);
// The VAE's part: each case's rendered clip (renderCase at the demo-cpu size) encoded and decoded by the model
// folder's VAE, then measured the same way. A property the round trip loses cannot come out of the DiT either;
// one it keeps but generation misses is the DiT's to learn.
ContentScore scoreVaeRoundTrip(const std::filesystem::path& modelDir, at::Device device,
                               const std::vector<int64_t>& seeds);

} // namespace ditstudio::training
