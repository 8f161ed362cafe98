#include "core/training/synthetic_world.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <array>
#include <cmath>
#include <map>

namespace ditstudio::training {

namespace {

constexpr double kPi = 3.14159265358979323846;

const std::map<std::string, std::array<float, 3>>& colourTable() {
    static const std::map<std::string, std::array<float, 3>> table = {
        {"red", {0.90f, 0.12f, 0.10f}},   {"green", {0.15f, 0.80f, 0.20f}}, {"blue", {0.15f, 0.35f, 0.95f}},
        {"yellow", {0.97f, 0.88f, 0.10f}}, {"white", {0.96f, 0.96f, 0.96f}}, {"purple", {0.62f, 0.22f, 0.82f}},
        {"orange", {1.00f, 0.55f, 0.08f}}, {"cyan", {0.10f, 0.85f, 0.90f}}};
    return table;
}

const std::map<std::string, std::array<float, 3>>& backgroundTable() {
    static const std::map<std::string, std::array<float, 3>> table = {
        {"black", {0.04f, 0.04f, 0.05f}},     {"dark blue", {0.08f, 0.12f, 0.38f}},
        {"dark green", {0.07f, 0.28f, 0.12f}}, {"gray", {0.45f, 0.45f, 0.47f}},
        {"white", {0.93f, 0.93f, 0.90f}}};
    return table;
}

const std::map<std::string, std::vector<std::string>>& motionPhrases() {
    static const std::map<std::string, std::vector<std::string>> table = {
        {"left", {"moving left", "sliding to the left", "drifting left"}},
        {"right", {"moving right", "sliding to the right", "drifting right"}},
        {"up", {"moving up", "rising", "floating upward"}},
        {"down", {"moving down", "falling", "sinking"}},
        {"bounce", {"bouncing", "hopping up and down"}},
        {"grow", {"growing", "getting bigger"}},
        {"shrink", {"shrinking", "getting smaller"}},
        {"spin", {"spinning", "rotating"}},
        {"still", {"standing still", "resting"}}};
    return table;
}

template <typename T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
}

float uniform(std::mt19937_64& rng, float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }

std::string plural(const std::string& shape) { return shape == "cross" ? "crosses" : shape + "s"; }

} // namespace

const std::vector<std::string>& SyntheticWorld::shapes() {
    static const std::vector<std::string> v = {"circle", "square", "triangle", "star", "ring", "cross"};
    return v;
}
const std::vector<std::string>& SyntheticWorld::colours() {
    static const std::vector<std::string> v = {"red", "green", "blue", "yellow", "white", "purple", "orange", "cyan"};
    return v;
}
const std::vector<std::string>& SyntheticWorld::motions() {
    static const std::vector<std::string> v = {"left", "right", "up", "down", "bounce", "grow", "shrink", "spin", "still"};
    return v;
}
const std::vector<std::string>& SyntheticWorld::backgrounds() {
    static const std::vector<std::string> v = {"black", "dark blue", "dark green", "gray", "white"};
    return v;
}

namespace {
std::array<float, 3> lookUp(const std::map<std::string, std::array<float, 3>>& table, const std::string& name,
                            const char* what) {
    const auto it = table.find(name);
    if (it == table.end()) {
        std::string known;
        for (const auto& [k, v] : table) {
            known += (known.empty() ? "" : ", ") + k;
        }
        throw ConfigError(fmt::format("the synthetic world has no {} \"{}\" (it has {})", what, name, known));
    }
    return it->second;
}
} // namespace

SyntheticWorld::SyntheticWorld(WorldSettings settings) : settings_(settings) {
    if (!(settings_.objectScale >= 0.5f && settings_.objectScale <= 1.6f)) {
        throw ConfigError(fmt::format("synthetic world: object scale {} is outside [0.5, 1.6] (object radii are "
                                      "0.10-0.22 of the frame side times it)", settings_.objectScale));
    }
}

std::array<float, 3> SyntheticWorld::colourRgb(const std::string& colour) {
    return lookUp(colourTable(), colour, "colour");
}
std::array<float, 3> SyntheticWorld::backgroundRgb(const std::string& background) {
    return lookUp(backgroundTable(), background, "background");
}

at::Tensor SyntheticWorld::render(const std::vector<ObjectSpec>& objects, const std::string& background,
                                  at::Device device) const {
    const int64_t T = settings_.frames, H = settings_.height, W = settings_.width;
    auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
    const auto& bg = backgroundTable().at(background);
    at::Tensor video = at::empty({3, T, H, W}, opts);
    for (int c = 0; c < 3; ++c) {
        video[c].fill_(bg[c]);
    }
    // Pixel centres in [0, 1] (x to the right, y downwards), aspect-correct against the shorter side.
    const float side = static_cast<float>(std::min(H, W));
    at::Tensor ys = (at::arange(H, opts) + 0.5f).div(side).view({1, H, 1});
    at::Tensor xs = (at::arange(W, opts) + 0.5f).div(side).view({1, 1, W});
    at::Tensor phase = at::arange(T, opts).div(static_cast<float>(std::max<int64_t>(T - 1, 1))).view({T, 1, 1});
    const float xMax = static_cast<float>(W) / side, yMax = static_cast<float>(H) / side;
    for (const auto& o : objects) {
        at::Tensor cx = at::full({T, 1, 1}, o.x0 * xMax, opts);
        at::Tensor cy = at::full({T, 1, 1}, o.y0 * yMax, opts);
        at::Tensor size = at::full({T, 1, 1}, o.size, opts);
        at::Tensor angle = at::zeros({T, 1, 1}, opts);
        if (o.motion == "left") {
            cx = cx - o.speed * phase;
        } else if (o.motion == "right") {
            cx = cx + o.speed * phase;
        } else if (o.motion == "up") {
            cy = cy - o.speed * phase;
        } else if (o.motion == "down") {
            cy = cy + o.speed * phase;
        } else if (o.motion == "bounce") {
            cy = cy - 0.8f * o.speed * at::abs(at::sin(phase * static_cast<float>(2 * kPi)));
        } else if (o.motion == "grow") {
            size = size * (0.55f + 0.9f * phase);
        } else if (o.motion == "shrink") {
            size = size * (1.45f - 0.9f * phase);
        } else if (o.motion == "spin") {
            angle = phase * static_cast<float>(kPi);
        }
        at::Tensor dx = xs - cx, dy = ys - cy; // [T, H, W]
        at::Tensor c = at::cos(angle), s = at::sin(angle);
        at::Tensor u = dx * c + dy * s;        // rotated frame
        at::Tensor v = -dx * s + dy * c;
        at::Tensor r = at::sqrt(u * u + v * v);
        at::Tensor mask;
        if (o.shape == "circle") {
            mask = r <= size;
        } else if (o.shape == "square") {
            mask = at::maximum(at::abs(u), at::abs(v)) <= size;
        } else if (o.shape == "triangle") {
            mask = (v <= size * 0.6f).logical_and(v >= -size + 1.7f * at::abs(u));
        } else if (o.shape == "star") {
            at::Tensor phi = at::atan2(v, u);
            mask = r <= size * (0.55f + 0.45f * at::cos(5.0f * phi));
        } else if (o.shape == "ring") {
            mask = (r <= size).logical_and(r >= size * 0.55f);
        } else { // cross
            mask = ((at::abs(u) <= size * 0.3f).logical_and(at::abs(v) <= size))
                       .logical_or((at::abs(v) <= size * 0.3f).logical_and(at::abs(u) <= size));
        }
        const auto& rgb = colourTable().at(o.colour);
        for (int ch = 0; ch < 3; ++ch) {
            video[ch].masked_fill_(mask, rgb[ch]);
        }
    }
    return video.mul_(2.0f).sub_(1.0f); // [3, T, H, W] in [-1, 1]
}

Clip SyntheticWorld::sample(uint64_t seed, uint64_t index, at::Device device) const {
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + index);
    Clip clip;
    clip.background = pick(rng, backgrounds());
    const int64_t count = settings_.maxObjects > 1 && uniform(rng, 0, 1) < 0.35f ? 2 : 1;
    const bool twins = count == 2 && uniform(rng, 0, 1) < 0.4f;
    for (int64_t i = 0; i < count; ++i) {
        ObjectSpec o;
        if (twins && i == 1) {
            o = clip.objects.front();
        } else {
            o.shape = pick(rng, shapes());
            do {
                o.colour = pick(rng, colours());
            } while ((o.colour == "white" && clip.background == "white") ||
                     (o.colour == "green" && clip.background == "dark green") ||
                     (o.colour == "blue" && clip.background == "dark blue"));
            o.motion = pick(rng, motions());
            o.size = uniform(rng, 0.10f, count == 2 ? 0.16f : 0.22f) * settings_.objectScale;
            o.speed = uniform(rng, 0.35f, 0.55f);
        }
        // Start where the motion keeps the object in view.
        const float margin = o.size + 0.02f;
        float xLo = margin, xHi = 1 - margin, yLo = margin, yHi = 1 - margin;
        if (o.motion == "left") { xLo += o.speed; }
        if (o.motion == "right") { xHi -= o.speed; }
        if (o.motion == "up" || o.motion == "bounce") { yLo += o.speed * (o.motion == "bounce" ? 0.8f : 1.0f); }
        if (o.motion == "down") { yHi -= o.speed; }
        if (count == 2) { // keep the two apart: left and right halves
            if (i == 0) { xHi = std::max(xLo + 0.01f, std::min(xHi, 0.5f)); } else { xLo = std::min(xHi - 0.01f, std::max(xLo, 0.5f)); }
        }
        o.x0 = uniform(rng, xLo, std::max(xLo + 1e-3f, xHi));
        o.y0 = uniform(rng, yLo, std::max(yLo + 1e-3f, yHi));
        clip.objects.push_back(o);
    }
    // Caption.
    const auto phrase = [&](const ObjectSpec& o) { return pick(rng, motionPhrases().at(o.motion)); };
    const std::string onBg = fmt::format(" on a {} background", clip.background);
    const bool withBg = uniform(rng, 0, 1) < 0.7f;
    const auto& a = clip.objects[0];
    if (count == 1) {
        clip.caption = fmt::format("a {} {} {}{}", a.colour, a.shape, phrase(a), withBg ? onBg : "");
    } else if (twins) {
        const std::string verb = a.motion == "bounce" ? "bounce" : phrase(a);
        clip.caption = fmt::format("two {} {} {}{}", a.colour, plural(a.shape), verb, withBg ? onBg : "");
    } else {
        const auto& b = clip.objects[1];
        clip.caption = fmt::format("a {} {} {} and a {} {} {}{}", a.colour, a.shape, phrase(a), b.colour, b.shape,
                                   phrase(b), withBg ? onBg : "");
    }
    clip.video = render(clip.objects, clip.background, device);
    return clip;
}

std::vector<std::string> SyntheticWorld::captionCorpus(uint64_t seed, int64_t count) const {
    WorldSettings tiny = settings_;
    tiny.frames = 1;
    tiny.height = tiny.width = 4;
    SyntheticWorld cheap(tiny);
    std::vector<std::string> out;
    out.reserve(count);
    for (int64_t i = 0; i < count; ++i) {
        out.push_back(cheap.sample(seed, static_cast<uint64_t>(i)).caption);
    }
    return out;
}

} // namespace ditstudio::training
