#include "core/training/content_probe.h"

#include "core/presets/preset_store.h"
#include "core/io/model_folder.h"
#include "core/models/wan_vae.h"
#include "core/runtime/generation.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace ditstudio::training {

namespace {

struct Hsv {
    double h = 0, s = 0, v = 0;
};

Hsv toHsv(double r, double g, double b) {
    const double mx = std::max({r, g, b}), mn = std::min({r, g, b}), d = mx - mn;
    Hsv out{0, mx > 0 ? d / mx : 0, mx};
    if (d > 1e-9) {
        if (mx == r) {
            out.h = 60 * std::fmod((g - b) / d + 6, 6.0);
        } else if (mx == g) {
            out.h = 60 * ((b - r) / d + 2);
        } else {
            out.h = 60 * ((r - g) / d + 4);
        }
    }
    return out;
}

double hueDistance(double a, double b) {
    const double d = std::fabs(a - b);
    return std::min(d, 360 - d);
}

// Reference fill ratios (area / bounding box) of the synthetic world's shapes.
double referenceFill(const std::string& shape) {
    if (shape == "square") { return 1.0; }
    if (shape == "circle") { return 3.14159265358979 / 4; }
    if (shape == "triangle") { return 0.5; }
    throw ConfigError(fmt::format("content probe: no reference fill ratio for shape \"{}\" "
                                  "(it knows circle, square, triangle)", shape));
}

} // namespace

ObjectProbe probeObject(const at::Tensor& frames) {
    if (frames.dim() != 4 || frames.size(3) != 3 || frames.scalar_type() != at::kByte) {
        throw ConfigError(fmt::format("content probe needs uint8 frames [T, H, W, 3], got {} {}",
                                      c10::toString(frames.scalar_type()), c10::str(frames.sizes())));
    }
    at::Tensor x = frames.to(at::kFloat).div(255.0);                  // [T, H, W, 3]
    const int64_t T = x.size(0), H = x.size(1), W = x.size(2);
    at::Tensor background = std::get<0>(x.reshape({T, H * W, 3}).median(1)).view({T, 1, 1, 3});
    // Object pixels: far from the background, at least half as far as the frame's most distinct pixels (so that a
    // decoder's faint ringing around a high-contrast object does not count), then opened with a 3×3 square
    // (specks of one or two pixels removed: they would stretch the bounding box the fill ratio divides by).
    at::Tensor distance = (x - background).abs().amax(3);                       // [T, H, W]
    at::Tensor peak = std::get<0>(distance.reshape({T, H * W}).max(1)).view({T, 1, 1});
    at::Tensor mask = (distance > at::clamp_min(peak * 0.5, 0.15)).to(at::kFloat).unsqueeze(1); // [T, 1, H, W]
    mask = -at::max_pool2d(-mask, {3, 3}, {1, 1}, {1, 1});                      // erode
    mask = at::max_pool2d(mask, {3, 3}, {1, 1}, {1, 1}).squeeze(1);             // dilate → [T, H, W]
    at::Tensor area = mask.sum({1, 2});                               // [T]
    ObjectProbe p;
    p.objectShare = area.mean().item<double>() / static_cast<double>(H * W);
    p.found = area[0].item<double>() >= 4 && area[T - 1].item<double>() >= 4;
    if (!p.found) {
        return p;
    }
    const double total = area.sum().item<double>();
    at::Tensor rgb = (x * mask.unsqueeze(3)).sum({0, 1, 2}) / total; // [3]
    const Hsv hsv = toHsv(rgb[0].item<double>(), rgb[1].item<double>(), rgb[2].item<double>());
    p.hueDegrees = hsv.h;
    p.saturation = hsv.s;
    p.value = hsv.v;

    at::Tensor ys = at::arange(H, x.options()).view({1, H, 1}), xs = at::arange(W, x.options()).view({1, 1, W});
    const auto centroid = [&](int64_t t, const at::Tensor& coords) {
        return (mask[t] * coords[0]).sum().item<double>() / area[t].item<double>();
    };
    p.dx = (centroid(T - 1, xs) - centroid(0, xs)) / W;
    p.dy = (centroid(T - 1, ys) - centroid(0, ys)) / H;
    p.areaGrowth = area[T - 1].item<double>() / area[0].item<double>();

    double fill = 0;
    int64_t counted = 0;
    for (int64_t t = 0; t < T; ++t) {
        if (area[t].item<double>() < 4) {
            continue;
        }
        at::Tensor rows = at::nonzero(mask[t].sum(1)), cols = at::nonzero(mask[t].sum(0));
        const double h = rows.max().item<double>() - rows.min().item<double>() + 1;
        const double w = cols.max().item<double>() - cols.min().item<double>() + 1;
        fill += area[t].item<double>() / (h * w);
        ++counted;
    }
    p.fillRatio = fill / static_cast<double>(counted);
    return p;
}

std::string nearestColour(const ObjectProbe& probe, const std::vector<std::string>& candidates) {
    std::string best;
    double bestDistance = std::numeric_limits<double>::infinity();
    for (const auto& name : candidates) {
        const auto c = SyntheticWorld::colourRgb(name);
        const double d = hueDistance(probe.hueDegrees, toHsv(c[0], c[1], c[2]).h);
        if (d < bestDistance) {
            bestDistance = d;
            best = name;
        }
    }
    return best;
}

std::string nearestShape(const ObjectProbe& probe, const std::vector<std::string>& candidates) {
    std::string best;
    double bestDistance = std::numeric_limits<double>::infinity();
    for (const auto& name : candidates) {
        const double d = std::fabs(probe.fillRatio - referenceFill(name));
        if (d < bestDistance) {
            bestDistance = d;
            best = name;
        }
    }
    return best;
}

std::string direction(const ObjectProbe& probe) {
    if (std::fabs(probe.dx) >= std::fabs(probe.dy)) {
        return probe.dx < 0 ? "left" : "right";
    }
    return probe.dy < 0 ? "up" : "down";
}

ContentScore scoreModelContent(const std::filesystem::path& modelDir, at::Device device,
                               const std::vector<int64_t>& seeds) {
    GenerationSettings settings = PresetStore(PresetStore::defaultBuiltinDir(), {}).load("demo-cpu");
    Generator generator(modelDir, device, at::kFloat);
    return scoreContent([&](const std::string& prompt, int64_t seed) {
        settings.prompt = prompt;
        settings.seed = seed;
        return generator.generate(settings).frames;
    }, seeds);
}

std::vector<ContentCase> contentCases() {
    std::vector<ContentCase> cases;
    const auto add = [&](const char* property, const std::string& expected, const std::string& shape,
                         const std::string& colour, const std::string& motion, const std::string& background) {
        const std::string verb = motion == "still" ? "standing still" : "moving " + motion;
        ObjectSpec o{shape, colour, motion, 0.5f, 0.5f, 0.16f, 0.4f};
        cases.push_back({property, expected,
                         fmt::format("a {} {} {} on a {} background", colour, shape, verb, background), o,
                         background});
    };
    for (const char* colour : {"red", "green", "blue", "yellow"}) {
        add("colour", colour, "circle", colour, "still", "black");
    }
    for (const char* shape : {"circle", "square", "triangle"}) {
        add("shape", shape, shape, "yellow", "still", "dark blue");
    }
    for (const char* dir : {"left", "right", "up", "down"}) {
        add("direction", dir, "square", "red", dir, "gray");
    }
    return cases;
}

at::Tensor renderCase(const ContentCase& c, int64_t seed, const WorldSettings& world) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ull + 17);
    const auto jitter = [&](float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); };
    ObjectSpec o = c.object;
    o.size = jitter(0.13f, 0.19f);
    o.x0 = jitter(0.42f, 0.58f);
    o.y0 = jitter(0.42f, 0.58f);
    // Start on the side the motion leaves, so that the whole path stays in view.
    if (o.motion == "left") { o.x0 += o.speed / 2; }
    if (o.motion == "right") { o.x0 -= o.speed / 2; }
    if (o.motion == "up") { o.y0 += o.speed / 2; }
    if (o.motion == "down") { o.y0 -= o.speed / 2; }
    WorldSettings one = world;
    one.maxObjects = 1;
    return videoToUint8Frames(SyntheticWorld(one).render({o}, c.background, at::kCPU)); // [3, T, H, W] → frames
}

double ContentScore::accuracy(const std::string& property) const {
    const auto t = total.find(property);
    return t == total.end() || t->second == 0 ? 0.0 : static_cast<double>(correct.at(property)) / t->second;
}

namespace {
using CaseClip = std::function<at::Tensor(const ContentCase& c, int64_t seed)>;

ContentScore scoreCases(const CaseClip& clipOf, const std::vector<int64_t>& seeds) {
    const auto cases = contentCases();
    std::map<std::string, std::vector<std::string>> candidates;
    for (const auto& c : cases) {
        candidates[c.property].push_back(c.expected);
    }
    ContentScore score;
    for (const auto& c : cases) {
        for (const int64_t seed : seeds) {
            const ObjectProbe p = probeObject(clipOf(c, seed));
            std::string measured = "nothing";
            if (p.found) {
                measured = c.property == "colour" ? nearestColour(p, candidates[c.property])
                           : c.property == "shape" ? nearestShape(p, candidates[c.property])
                                                   : direction(p);
            }
            const bool ok = measured == c.expected;
            score.correct[c.property] += ok ? 1 : 0;
            score.total[c.property] += 1;
            score.details.push_back(fmt::format(
                "{:<9} seed {:<3} \"{}\": {} ({}; hue {:.0f}, fill {:.2f}, d ({:+.2f}, {:+.2f}), share {:.3f})",
                c.property, seed, c.prompt, measured, ok ? "ok" : "wrong", p.hueDegrees, p.fillRatio, p.dx, p.dy,
                p.objectShare));
        }
    }
    return score;
}

} // namespace

ContentScore scoreContent(const ClipGenerator& generate, const std::vector<int64_t>& seeds) {
    return scoreCases([&](const ContentCase& c, int64_t seed) { return generate(c.prompt, seed); }, seeds);
}

ContentScore scoreVaeRoundTrip(const std::filesystem::path& modelDir, at::Device device,
                               const std::vector<int64_t>& seeds) {
    const GenerationSettings settings = PresetStore(PresetStore::defaultBuiltinDir(), {}).load("demo-cpu");
    const WorldSettings world{settings.numFrames, settings.height, settings.width, 1};
    const auto folder = io::ModelFolder::open(modelDir);
    const auto& weights = folder.vae.weights();
    const WanVAE vae(weights, WanVAEConfig::fromManifestOrWeights(folder.vae.config(), weights), at::kFloat, device);
    return scoreCases([&](const ContentCase& c, int64_t seed) {
        c10::InferenceMode inference;
        const at::Tensor frames = renderCase(c, seed, world);                     // [T, H, W, 3] uint8
        at::Tensor video = frames.permute({3, 0, 1, 2}).unsqueeze(0).to(device, at::kFloat).div(127.5).sub(1);
        return videoToUint8Frames(vae.decode(vae.encode(video))); // as generation turns a decode into frames
    }, seeds);
}

} // namespace ditstudio::training
