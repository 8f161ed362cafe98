// The demo model's training world: short clips of coloured shapes (circle, square, triangle, star, ring, cross)
// moving, bouncing, growing, shrinking or spinning over plain backgrounds, each with a caption from templates
// and paraphrases ("a red circle moving left on a blue background", "two yellow squares bounce"). Rendered with
// ATen on any device, seeded and reproducible: the same (seed, index) gives the same clip and caption.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ditstudio::training {

struct WorldSettings {
    int64_t frames = 17;
    int64_t height = 128;
    int64_t width = 128;
    int64_t maxObjects = 2;
    // Object radii are drawn from [0.10, 0.22] of the frame side (one object; [0.10, 0.16] for two) times this:
    // larger objects give a shape's outline more latent positions. In [0.5, 1.6].
    float objectScale = 1.3f;
};

struct ObjectSpec {
    std::string shape, colour, motion;
    float x0, y0;      // centre at frame 0, in [0, 1] of the frame
    float size;        // radius as a fraction of the frame side
    float speed;       // fraction of the frame per clip
};

struct Clip {
    at::Tensor video; // [3, T, H, W] float32 in [-1, 1]
    std::string caption;
    std::vector<ObjectSpec> objects;
    std::string background;
};

class SyntheticWorld {
public:
    // What a clip of given draws looks like changed (a dataset built by another version is built again):
    // 1: squares of half-side 0.85 × size (the circle's area), object scale 1 by default;
    // 2: squares of half-side = size (the square around the circle of that size: at the old size a square's latent
    //    differed from a circle's by only 10-24 % of what a change of colour makes, now 29-46 %), object scale 1.3.
    static constexpr int kVersion = 2;

    // ConfigError naming the setting when objectScale is outside [0.5, 1.6].
    explicit SyntheticWorld(WorldSettings settings = {});

    // Deterministic for (seed, index). Rendered on `device`.
    Clip sample(uint64_t seed, uint64_t index, at::Device device = at::kCPU) const;
    // Renders given objects (the sample path, and tests/preview of what a caption should look like).
    at::Tensor render(const std::vector<ObjectSpec>& objects, const std::string& background, at::Device device) const;
    // Every caption form the templates can produce, for training the tokenizer (count per seed sweep).
    std::vector<std::string> captionCorpus(uint64_t seed, int64_t count) const;

    static const std::vector<std::string>& shapes();
    static const std::vector<std::string>& colours();
    static const std::vector<std::string>& motions();
    static const std::vector<std::string>& backgrounds();
    // RGB in [0, 1] of a colour or background name; ConfigError for a name the world does not have.
    static std::array<float, 3> colourRgb(const std::string& colour);
    static std::array<float, 3> backgroundRgb(const std::string& background);

    const WorldSettings& settings() const { return settings_; }

private:
    WorldSettings settings_;
};

} // namespace ditstudio::training
