#include "core/training/content_probe.h"

#include "core/presets/preset_store.h"
#include "core/runtime/generation.h"
#include "core/training/synthetic_world.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

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
    at::Tensor mask = ((x - background).abs().amax(3) > 0.15).to(at::kFloat); // [T, H, W]
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
    for (const char* colour : {"red", "green", "blue", "yellow"}) {
        cases.push_back({"colour", colour, fmt::format("a {} circle standing still on a black background", colour)});
    }
    for (const char* shape : {"circle", "square", "triangle"}) {
        cases.push_back({"shape", shape, fmt::format("a yellow {} standing still on a dark blue background", shape)});
    }
    for (const char* dir : {"left", "right", "up", "down"}) {
        cases.push_back({"direction", dir, fmt::format("a red square moving {} on a gray background", dir)});
    }
    return cases;
}

double ContentScore::accuracy(const std::string& property) const {
    const auto t = total.find(property);
    return t == total.end() || t->second == 0 ? 0.0 : static_cast<double>(correct.at(property)) / t->second;
}

ContentScore scoreContent(const ClipGenerator& generate, const std::vector<int64_t>& seeds) {
    const auto cases = contentCases();
    std::map<std::string, std::vector<std::string>> candidates;
    for (const auto& c : cases) {
        candidates[c.property].push_back(c.expected);
    }
    ContentScore score;
    for (const auto& c : cases) {
        for (const int64_t seed : seeds) {
            const ObjectProbe p = probeObject(generate(c.prompt, seed));
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

} // namespace ditstudio::training
