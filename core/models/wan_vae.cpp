#include "core/models/wan_vae.h"

#include "core/util/error.h"
#include "core/util/shape.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace ditstudio {

// ---------------------------------------------------------------------------------------------- config

int64_t WanVAEConfig::spatialFactor() const { return int64_t(1) << (dimMult.size() - 1); }

int64_t WanVAEConfig::temporalFactor() const {
    return int64_t(1) << std::count(temporalDownsample.begin(), temporalDownsample.end(), true);
}

void WanVAEConfig::validate() const {
    if (dim <= 0 || zDim <= 0) {
        throw ConfigError(fmt::format("VAE dim and z_dim must be positive, got dim {} z_dim {}", dim, zDim));
    }
    if (dimMult.empty() || dimMult.size() > 8) {
        throw ConfigError(fmt::format("VAE dim_mult must have 1 to 8 entries, got {}", dimMult.size()));
    }
    for (auto m : dimMult) {
        if (m <= 0) {
            throw ConfigError("VAE dim_mult entries must be positive");
        }
    }
    if (numResBlocks < 0) {
        throw ConfigError(fmt::format("VAE num_res_blocks must be ≥ 0, got {}", numResBlocks));
    }
    if (temporalDownsample.size() != dimMult.size() - 1) {
        throw ConfigError(fmt::format("VAE temperal_downsample must have {} entries (one per level but the last), got {}",
                                      dimMult.size() - 1, temporalDownsample.size()));
    }
    if (static_cast<int64_t>(latentMean.size()) != zDim || static_cast<int64_t>(latentStd.size()) != zDim) {
        throw ConfigError(fmt::format("VAE latent_mean/latent_std must have z_dim = {} values each, got {} and {}",
                                      zDim, latentMean.size(), latentStd.size()));
    }
    for (size_t i = 0; i < latentStd.size(); ++i) {
        if (!(latentStd[i] > 0)) {
            throw ConfigError(fmt::format("VAE latent_std[{}] must be positive, got {}", i, latentStd[i]));
        }
    }
}

WanVAEConfig WanVAEConfig::fromManifestOrWeights(const nlohmann::json& manifestConfig,
                                                 const io::WeightSource& weights) {
    return manifestConfig.is_object() ? fromJson(manifestConfig) : fromWeights(weights);
}

WanVAEConfig WanVAEConfig::fromJson(const nlohmann::json& json) {
    if (!json.is_object()) {
        throw ConfigError("VAE config must be a JSON object");
    }
    WanVAEConfig c;
    auto integer = [&](const char* key, int64_t& field) {
        if (json.contains(key)) {
            if (!json[key].is_number_integer()) {
                throw ConfigError(fmt::format("VAE config '{}' must be an integer, got {}", key, json[key].dump()));
            }
            field = json[key].get<int64_t>();
        }
    };
    integer("dim", c.dim);
    integer("z_dim", c.zDim);
    integer("num_res_blocks", c.numResBlocks);
    if (json.contains("dim_mult")) {
        const auto& a = json["dim_mult"];
        if (!a.is_array()) {
            throw ConfigError(fmt::format("VAE config 'dim_mult' must be an array of integers, got {}", a.dump()));
        }
        c.dimMult.clear();
        for (const auto& v : a) {
            if (!v.is_number_integer()) {
                throw ConfigError(fmt::format("VAE config 'dim_mult' must be an array of integers, got {}", a.dump()));
            }
            c.dimMult.push_back(v.get<int64_t>());
        }
    }
    for (const char* key : {"temperal_downsample", "temporal_downsample"}) { // the reference's spelling first
        if (json.contains(key)) {
            const auto& a = json[key];
            if (!a.is_array()) {
                throw ConfigError(fmt::format("VAE config '{}' must be an array of booleans, got {}", key, a.dump()));
            }
            c.temporalDownsample.clear();
            for (const auto& v : a) {
                if (!v.is_boolean()) {
                    throw ConfigError(fmt::format("VAE config '{}' must be an array of booleans, got {}", key,
                                                  a.dump()));
                }
                c.temporalDownsample.push_back(v.get<bool>());
            }
            break;
        }
    }
    auto floats = [&](const char* key, std::vector<float>& field) {
        if (json.contains(key)) {
            const auto& a = json[key];
            if (!a.is_array()) {
                throw ConfigError(fmt::format("VAE config '{}' must be an array of numbers", key));
            }
            field.clear();
            for (const auto& v : a) {
                if (!v.is_number()) {
                    throw ConfigError(fmt::format("VAE config '{}' must be an array of numbers, got {}", key,
                                                  v.dump()));
                }
                field.push_back(static_cast<float>(v.get<double>()));
            }
        }
    };
    floats("latent_mean", c.latentMean);
    floats("latent_std", c.latentStd);
    c.validate();
    return c;
}

// The key prefix of a VAE checkpoint: "" for the official keys, "model." for DiffSynth's.
static std::string detectPrefix(const io::WeightSource& source) {
    bool plain = false, prefixed = false;
    for (const auto& name : source.names()) {
        plain = plain || name.rfind("decoder.", 0) == 0 || name.rfind("encoder.", 0) == 0 || name == "conv1.weight" ||
                name == "conv2.weight";
        prefixed = prefixed || name.rfind("model.", 0) == 0;
    }
    return !plain && prefixed ? "model." : "";
}

WanVAEConfig WanVAEConfig::fromWeights(const io::WeightSource& source) {
    const std::string prefix = detectPrefix(source);
    auto need = [&](const std::string& name, size_t rank) {
        const std::string key = prefix + name;
        if (!source.contains(key)) {
            throw ModelError(fmt::format("{}: not a Wan VAE checkpoint: missing tensor '{}'", source.origin(), key));
        }
        auto shape = source.shape(key);
        if (shape.size() != rank) {
            throw ModelError(fmt::format("{}: tensor '{}' has rank {}, expected {}", source.origin(), key,
                                         shape.size(), rank));
        }
        return shape;
    };
    WanVAEConfig c;
    c.dim = need("encoder.conv1.weight", 5)[0];      // [dim, 3, 3, 3, 3]
    c.zDim = need("conv2.weight", 5)[0];             // [z, z, 1, 1, 1]
    const int64_t levels = static_cast<int64_t>(c.dimMult.size());
    int64_t layers = 0;
    while (source.contains(prefix + fmt::format("encoder.downsamples.{}.", layers) + "residual.0.gamma") ||
           source.contains(prefix + fmt::format("encoder.downsamples.{}.", layers) + "resample.1.weight")) {
        ++layers;
    }
    // layers = levels · numResBlocks + (levels − 1) resamples
    if (layers < levels - 1 || (layers - (levels - 1)) % levels != 0) {
        throw ModelError(fmt::format("{}: {} encoder.downsamples entries do not fit {} levels", source.origin(), layers,
                                     levels));
    }
    c.numResBlocks = (layers - (levels - 1)) / levels;
    for (int64_t i = 0; i < levels - 1; ++i) {
        const int64_t index = (i + 1) * c.numResBlocks + i;
        c.temporalDownsample[i] = source.contains(prefix + fmt::format("encoder.downsamples.{}.time_conv.weight", index));
    }
    if (c.zDim != static_cast<int64_t>(c.latentMean.size())) {
        throw ConfigError(fmt::format("{}: z_dim {} has no default latent statistics; give latent_mean/latent_std",
                                      source.origin(), c.zDim));
    }
    c.validate();
    return c;
}

// ---------------------------------------------------------------------------------------------- tiling

std::vector<TileRegion> tileRegions(int64_t latentH, int64_t latentW, const TileSettings& tiles) {
    if (tiles.tileH <= 0 || tiles.tileW <= 0 || tiles.strideH <= 0 || tiles.strideW <= 0 ||
        tiles.strideH > tiles.tileH || tiles.strideW > tiles.tileW) {
        throw ConfigError(fmt::format("VAE tiles must satisfy 0 < stride ≤ tile, got tile {}x{} stride {}x{}",
                                      tiles.tileH, tiles.tileW, tiles.strideH, tiles.strideW));
    }
    std::vector<TileRegion> regions;
    for (int64_t h = 0; h < latentH; h += tiles.strideH) {
        if (h - tiles.strideH >= 0 && h - tiles.strideH + tiles.tileH >= latentH) {
            continue; // the previous tile already reached the bottom
        }
        for (int64_t w = 0; w < latentW; w += tiles.strideW) {
            if (w - tiles.strideW >= 0 && w - tiles.strideW + tiles.tileW >= latentW) {
                continue;
            }
            regions.push_back({h, std::min(h + tiles.tileH, latentH), w, std::min(w + tiles.tileW, latentW)});
        }
    }
    return regions;
}

// 1-D ramp of a tile side of n pixels: ones, rising 1/b … b/b over the first b unless at the start, falling b/b … 1/b
// over the last b unless at the end (the falling ramp overwrites the rising one where they overlap, as in the
// reference). b = 0 (tile = stride) means no ramp.
static at::Tensor blendRamp(int64_t n, bool atStart, bool atEnd, int64_t b) {
    at::Tensor x = at::ones({n}, at::kFloat);
    if (b <= 0) {
        return x;
    }
    at::Tensor rising = at::arange(1, b + 1, at::kFloat) / static_cast<float>(b); // [b]
    const int64_t m = std::min(b, n);
    if (!atStart) {
        x.slice(0, 0, m).copy_(rising.slice(0, 0, m));
    }
    if (!atEnd) {
        x.slice(0, n - m, n).copy_(rising.flip({0}).slice(0, b - m, b));
    }
    return x;
}

at::Tensor tileBlendWeight(const TileRegion& r, int64_t latentH, int64_t latentW, const TileSettings& tiles,
                           int64_t spatialFactor) {
    const int64_t f = spatialFactor;
    at::Tensor rows = blendRamp(f * (r.hEnd - r.h), r.h == 0, r.h + tiles.tileH >= latentH,
                                f * (tiles.tileH - tiles.strideH)); // [8·th]
    at::Tensor cols = blendRamp(f * (r.wEnd - r.w), r.w == 0, r.w + tiles.tileW >= latentW,
                                f * (tiles.tileW - tiles.strideW)); // [8·tw]
    return at::minimum(rows.unsqueeze(1), cols.unsqueeze(0));        // [8·th, 8·tw]
}

// ---------------------------------------------------------------------------------------------- modules

at::Tensor eagerVaeNorm(const at::Tensor& x, const at::Tensor& gamma, bool silu) {
    // F.normalize over channels (x / max(‖x‖₂, 1e-12)), then · √C · γ: [B, C, …] → same.
    const double scale = std::sqrt(static_cast<double>(gamma.size(0)));
    at::Tensor norm = x.norm(2, {1}, true).clamp_min(1e-12); // [B, 1, …]
    at::Tensor y = x / norm * scale * gamma;                 // [B, C, …]
    return silu ? at::silu(y) : y;
}

namespace vae {

void CausalConv3d::load(io::WeightLoader& w, const std::string& name, int64_t in, int64_t out,
                        std::array<int64_t, 3> kernel, size_t& slotCounter) {
    weight = w.take(name + ".weight", {out, in, kernel[0], kernel[1], kernel[2]});
    bias = w.take(name + ".bias", {out});
    slot = kernel[0] > 1 ? static_cast<int64_t>(slotCounter++) : -1;
}

at::Tensor CausalConv3d::forward(const at::Tensor& x, StreamCache& cache) const {
    // x [B, in, t, h, w] → [B, out, t, h, w]; padding (kt−1 frames in front, kh/2 and kw/2 pixels around).
    const int64_t context = weight.size(2) - 1, ph = weight.size(3) / 2, pw = weight.size(4) / 2;
    if (slot < 0) {
        return at::conv3d(x, weight, bias, {1, 1, 1}, {0, ph, pw});
    }
    auto& state = cache.states.at(slot);
    const int64_t cached = state.frames.defined() ? state.frames.size(2) : 0;
    at::Tensor stream = cached ? at::cat({state.frames, x}, 2) : x; // [B, in, cached + t, h, w]
    const int64_t total = stream.size(2);
    // Keep the last `context` frames of the input stream (a copy: the chunk itself is released).
    state.frames = stream.slice(2, std::max<int64_t>(0, total - context), total).clone();
    state.framesSeen += x.size(2);
    // Only the missing causal frames are padded here; the convolution pads h and w itself (a padded copy of the
    // whole stream per convolution was a quarter of the decode's time on an H100).
    const int64_t front = context - std::min(cached, context);
    at::Tensor padded = front > 0 ? at::constant_pad_nd(stream, {0, 0, 0, 0, front, 0}) : stream;
    return at::conv3d(padded, weight, bias, {1, 1, 1}, {0, ph, pw}); // [B, out, t, h, w]
}

void RMSNorm::load(io::WeightLoader& w, const std::string& name, int64_t channels, bool images) {
    gamma = images ? w.take(name + ".gamma", {channels, 1, 1}) : w.take(name + ".gamma", {channels, 1, 1, 1});
}

at::Tensor RMSNorm::forward(const at::Tensor& x, bool silu, const VaeNormOp& normOp) const {
    return normOp ? normOp(x, gamma, silu) : eagerVaeNorm(x, gamma, silu); // [B, C, …]
}

void ResidualBlock::load(io::WeightLoader& w, const std::string& prefix, int64_t in, int64_t out,
                         size_t& slotCounter) {
    norm0.load(w, prefix + "residual.0", in, false);
    conv2.load(w, prefix + "residual.2", in, out, {3, 3, 3}, slotCounter);
    norm3.load(w, prefix + "residual.3", out, false);
    conv6.load(w, prefix + "residual.6", out, out, {3, 3, 3}, slotCounter);
    if (in != out) {
        shortcut.load(w, prefix + "shortcut", in, out, {1, 1, 1}, slotCounter);
    }
}

at::Tensor ResidualBlock::forward(const at::Tensor& x, StreamCache& cache, const VaeNormOp& normOp) const {
    at::Tensor h = shortcut.weight.defined() ? shortcut.forward(x, cache) : x; // [B, out, t, h, w]
    at::Tensor y = conv2.forward(norm0.forward(x, true, normOp), cache);      // [B, out, t, h, w]
    y = conv6.forward(norm3.forward(y, true, normOp), cache);                 // [B, out, t, h, w]
    return y + h;
}

void AttentionBlock::load(io::WeightLoader& w, const std::string& prefix, int64_t channels) {
    norm.load(w, prefix + "norm", channels, true);
    qkvWeight = w.take(prefix + "to_qkv.weight", {3 * channels, channels, 1, 1});
    qkvBias = w.take(prefix + "to_qkv.bias", {3 * channels});
    projWeight = w.take(prefix + "proj.weight", {channels, channels, 1, 1});
    projBias = w.take(prefix + "proj.bias", {channels});
}

at::Tensor AttentionBlock::forward(const at::Tensor& x, const VaeNormOp& normOp) const {
    const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
    at::Tensor f = x.permute({0, 2, 1, 3, 4}).reshape({B * T, C, H, W});          // [B·T, C, H, W] frames as batch
    at::Tensor qkv = at::conv2d(norm.forward(f, false, normOp), qkvWeight, qkvBias); // [B·T, 3C, H, W]
    qkv = qkv.reshape({B * T, 1, 3 * C, H * W}).permute({0, 1, 3, 2}).contiguous(); // [B·T, 1, HW, 3C]
    auto parts = qkv.chunk(3, -1);                                          // q, k, v: [B·T, 1, HW, C]
    at::Tensor o = at::scaled_dot_product_attention(parts[0], parts[1], parts[2]); // [B·T, 1, HW, C]
    o = o.squeeze(1).permute({0, 2, 1}).reshape({B * T, C, H, W});          // [B·T, C, H, W]
    o = at::conv2d(o, projWeight, projBias);                                // [B·T, C, H, W]
    return o.reshape({B, T, C, H, W}).permute({0, 2, 1, 3, 4}) + x;        // [B, C, T, H, W]
}

void Resample::load(io::WeightLoader& w, const std::string& prefix, ResampleMode m, int64_t c, size_t& slotCounter) {
    mode = m;
    channels = c;
    const bool up = m == ResampleMode::Upsample2d || m == ResampleMode::Upsample3d;
    const int64_t out = up ? c / 2 : c;
    spatialWeight = w.take(prefix + "resample.1.weight", {out, c, 3, 3});
    spatialBias = w.take(prefix + "resample.1.bias", {out});
    if (m == ResampleMode::Upsample3d) {
        timeConv.load(w, prefix + "time_conv", c, 2 * c, {3, 1, 1}, slotCounter); // causal, cached
        slot = static_cast<int64_t>(slotCounter++);
    } else if (m == ResampleMode::Downsample3d) {
        timeConv.weight = w.take(prefix + "time_conv.weight", {c, c, 3, 1, 1}); // stride 2, unpadded
        timeConv.bias = w.take(prefix + "time_conv.bias", {c});
        slot = static_cast<int64_t>(slotCounter++);
    }
}

// Per frame: x [B, C, t, h, w] → frames as batch → fn → back to [B, C', t, h', w'].
template <typename Fn>
static at::Tensor perFrame(const at::Tensor& x, Fn&& fn) {
    const int64_t B = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
    at::Tensor y = fn(x.permute({0, 2, 1, 3, 4}).reshape({B * T, C, H, W})); // [B·T, C', h', w']
    return y.reshape({B, T, y.size(1), y.size(2), y.size(3)}).permute({0, 2, 1, 3, 4}).contiguous();
}

at::Tensor Resample::temporalUp(const at::Tensor& x, StreamCache& cache) const {
    // Stream u_0, u_1, …: u_0 passes unchanged; time_conv runs over the stream without u_0 (causally zero-padded),
    // each output [2C] becoming two frames (channels 0..C−1 first).
    auto& state = cache.states.at(slot);
    at::Tensor first, rest = x;
    if (state.framesSeen == 0) {
        first = x.slice(2, 0, 1);         // [B, C, 1, h, w]
        rest = x.slice(2, 1, x.size(2));  // [B, C, t−1, h, w]
    }
    state.framesSeen += x.size(2);
    std::vector<at::Tensor> parts;
    if (first.defined()) {
        parts.push_back(first);
    }
    if (rest.size(2) > 0) {
        const int64_t B = x.size(0), C = x.size(1), r = rest.size(2), H = x.size(3), W = x.size(4);
        at::Tensor o = timeConv.forward(rest, cache).view({B, 2, C, r, H, W}); // [B, 2, C, r, h, w]
        o = at::stack({o.select(1, 0), o.select(1, 1)}, 3);                    // [B, C, r, 2, h, w]
        parts.push_back(o.reshape({B, C, 2 * r, H, W}));                       // [B, C, 2r, h, w]
    }
    return parts.size() == 1 ? parts[0] : at::cat(parts, 2);
}

at::Tensor Resample::temporalDown(const at::Tensor& x, StreamCache& cache) const {
    // Stream u_0, u_1, …: output u_0, then o_m = time_conv(u_{2m−2}, u_{2m−1}, u_{2m}) (stride 2, no padding). The
    // slot keeps the frames from the start of the next window on.
    auto& state = cache.states.at(slot);
    std::vector<at::Tensor> parts;
    if (state.framesSeen == 0) {
        parts.push_back(x.slice(2, 0, 1)); // [B, C, 1, h, w]
    }
    state.framesSeen += x.size(2);
    at::Tensor buffer = state.frames.defined() ? at::cat({state.frames, x}, 2) : x; // [B, C, n, h, w]
    const int64_t windows = (buffer.size(2) - 1) / 2;
    if (windows > 0) {
        parts.push_back(at::conv3d(buffer.slice(2, 0, 2 * windows + 1), timeConv.weight, timeConv.bias, {2, 1, 1}));
    }
    state.frames = buffer.slice(2, 2 * windows, buffer.size(2)).clone();
    if (parts.empty()) {
        return x.slice(2, 0, 0);
    }
    return parts.size() == 1 ? parts[0] : at::cat(parts, 2);
}

at::Tensor Resample::forward(const at::Tensor& xIn, StreamCache& cache) const {
    at::Tensor x = xIn;
    switch (mode) {
    case ResampleMode::Upsample3d:
        x = temporalUp(x, cache);
        [[fallthrough]];
    case ResampleMode::Upsample2d:
        return perFrame(x, [&](const at::Tensor& f) {
            // nearest-exact ×2 (pixel (y, x) copies (⌊y/2⌋, ⌊x/2⌋)) in float32, as the reference, then 3×3 conv.
            at::Tensor up = at::_upsample_nearest_exact2d(f.to(at::kFloat), {2 * f.size(2), 2 * f.size(3)})
                                .to(f.scalar_type());                          // [N, C, 2h, 2w]
            return at::conv2d(up, spatialWeight, spatialBias, {1, 1}, {1, 1}); // [N, C/2, 2h, 2w]
        });
    case ResampleMode::Downsample2d:
    case ResampleMode::Downsample3d:
        x = perFrame(x, [&](const at::Tensor& f) {
            at::Tensor padded = at::constant_pad_nd(f, {0, 1, 0, 1}); // right and bottom only
            return at::conv2d(padded, spatialWeight, spatialBias, {2, 2}); // [N, C, ⌈h/2⌉, ⌈w/2⌉]
        });
        return mode == ResampleMode::Downsample3d ? temporalDown(x, cache) : x;
    }
    return x;
}

at::Tensor StackLayer::forward(const at::Tensor& x, StreamCache& cache, const VaeNormOp& normOp) const {
    return isResample ? resample.forward(x, cache) : residual.forward(x, cache, normOp);
}

void Encoder3d::load(io::WeightLoader& w, const WanVAEConfig& cfg) {
    const int64_t levels = static_cast<int64_t>(cfg.dimMult.size());
    std::vector<int64_t> dims{cfg.dim}; // [dim, dim·m_0, …, dim·m_{L−1}]
    for (auto m : cfg.dimMult) {
        dims.push_back(cfg.dim * m);
    }
    size_t slotCounter = 0;
    conv1.load(w, "encoder.conv1", 3, dims[0], {3, 3, 3}, slotCounter);
    downsamples.clear();
    for (int64_t i = 0; i < levels; ++i) {
        int64_t in = dims[i];
        const int64_t out = dims[i + 1];
        for (int64_t r = 0; r < cfg.numResBlocks; ++r) {
            StackLayer layer;
            layer.residual.load(w, fmt::format("encoder.downsamples.{}.", downsamples.size()), in, out, slotCounter);
            downsamples.push_back(std::move(layer));
            in = out;
        }
        if (i != levels - 1) {
            StackLayer layer;
            layer.isResample = true;
            const auto mode = cfg.temporalDownsample[i] ? ResampleMode::Downsample3d : ResampleMode::Downsample2d;
            layer.resample.load(w, fmt::format("encoder.downsamples.{}.", downsamples.size()), mode, out, slotCounter);
            downsamples.push_back(std::move(layer));
        }
    }
    const int64_t top = dims.back();
    middle0.load(w, "encoder.middle.0.", top, top, slotCounter);
    middle1.load(w, "encoder.middle.1.", top);
    middle2.load(w, "encoder.middle.2.", top, top, slotCounter);
    headNorm.load(w, "encoder.head.0", top, false);
    headConv.load(w, "encoder.head.2", top, 2 * cfg.zDim, {3, 3, 3}, slotCounter);
    slotCount = slotCounter;
}

at::Tensor Encoder3d::forward(const at::Tensor& xIn, StreamCache& cache, const VaeNormOp& normOp) const {
    at::Tensor x = conv1.forward(xIn, cache); // [B, dim, t, H, W]
    for (const auto& layer : downsamples) {
        x = layer.forward(x, cache, normOp);
    }
    x = middle0.forward(x, cache, normOp); // [B, 4·dim, t', H/8, W/8]
    x = middle1.forward(x, normOp);
    x = middle2.forward(x, cache, normOp);
    return headConv.forward(headNorm.forward(x, true, normOp), cache); // [B, 2z, t', H/8, W/8]
}

void Decoder3d::load(io::WeightLoader& w, const WanVAEConfig& cfg) {
    const int64_t levels = static_cast<int64_t>(cfg.dimMult.size());
    std::vector<int64_t> dims{cfg.dim * cfg.dimMult.back()}; // [dim·m_{L−1}, dim·m_{L−1}, …, dim·m_0]
    for (auto it = cfg.dimMult.rbegin(); it != cfg.dimMult.rend(); ++it) {
        dims.push_back(cfg.dim * *it);
    }
    size_t slotCounter = 0;
    conv1.load(w, "decoder.conv1", cfg.zDim, dims[0], {3, 3, 3}, slotCounter);
    middle0.load(w, "decoder.middle.0.", dims[0], dims[0], slotCounter);
    middle1.load(w, "decoder.middle.1.", dims[0]);
    middle2.load(w, "decoder.middle.2.", dims[0], dims[0], slotCounter);
    upsamples.clear();
    for (int64_t i = 0; i < levels; ++i) {
        // Every level after the first starts from the previous level's upsample, which halved the channels.
        int64_t in = i == 0 ? dims[i] : dims[i] / 2;
        const int64_t out = dims[i + 1];
        for (int64_t r = 0; r < cfg.numResBlocks + 1; ++r) {
            StackLayer layer;
            layer.residual.load(w, fmt::format("decoder.upsamples.{}.", upsamples.size()), in, out, slotCounter);
            upsamples.push_back(std::move(layer));
            in = out;
        }
        if (i != levels - 1) {
            StackLayer layer;
            layer.isResample = true;
            // temporal upsampling mirrors the downsampling: temperal_upsample = temperal_downsample reversed
            const bool temporal = cfg.temporalDownsample[cfg.temporalDownsample.size() - 1 - i];
            layer.resample.load(w, fmt::format("decoder.upsamples.{}.", upsamples.size()),
                                temporal ? ResampleMode::Upsample3d : ResampleMode::Upsample2d, out, slotCounter);
            upsamples.push_back(std::move(layer));
        }
    }
    headNorm.load(w, "decoder.head.0", dims.back(), false);
    headConv.load(w, "decoder.head.2", dims.back(), 3, {3, 3, 3}, slotCounter);
    slotCount = slotCounter;
}

at::Tensor Decoder3d::forward(const at::Tensor& xIn, StreamCache& cache, const VaeNormOp& normOp) const {
    at::Tensor x = conv1.forward(xIn, cache); // [B, 4·dim, t, h, w]
    x = middle0.forward(x, cache, normOp);
    x = middle1.forward(x, normOp);
    x = middle2.forward(x, cache, normOp);
    for (const auto& layer : upsamples) {
        x = layer.forward(x, cache, normOp);
    }
    return headConv.forward(headNorm.forward(x, true, normOp), cache); // [B, 3, t'', 8h, 8w]
}

} // namespace vae

// ---------------------------------------------------------------------------------------------- model

WanVAE::WanVAE(const io::WeightSource& source, const WanVAEConfig& config, at::ScalarType dtype, at::Device device)
    : config_(config), dtype_(dtype), device_(device), prefix_(detectPrefix(source)) {
    config_.validate();
    io::WeightLoader w(source, dtype, device, prefix_);
    encoder_.load(w, config_);
    decoder_.load(w, config_);
    size_t unused = 0;
    conv1_.load(w, "conv1", 2 * config_.zDim, 2 * config_.zDim, {1, 1, 1}, unused);
    conv2_.load(w, "conv2", config_.zDim, config_.zDim, {1, 1, 1}, unused);
    w.finish();
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    mean_ = at::tensor(config_.latentMean, opts).view({1, config_.zDim, 1, 1, 1}).to(device_);
    // The reference keeps 1/std in float32 and divides by it when decoding.
    invStd_ = at::reciprocal(at::tensor(config_.latentStd, opts)).view({1, config_.zDim, 1, 1, 1}).to(device_);
    spdlog::debug("Wan VAE dim {} z_dim {} from {} (prefix '{}')", config_.dim, config_.zDim, source.origin(),
                  prefix_);
}

void WanVAE::checkLatent(const at::Tensor& z) const {
    if (z.dim() != 5 || z.size(1) != config_.zDim || z.size(2) < 1) {
        throw ConfigError(fmt::format("VAE latent must be [B, {}, T ≥ 1, h, w], got {}", config_.zDim,
                                      shapeString(z.sizes())));
    }
}

at::Tensor WanVAE::decodeRaw(const at::Tensor& z, int64_t latentFramesPerCall,
                             const std::function<void(const at::Tensor&)>& onChunk) const {
    checkLatent(z);
    if (latentFramesPerCall < 1) {
        throw ConfigError(fmt::format("VAE decode needs ≥ 1 latent frame per call, got {}", latentFramesPerCall));
    }
    at::Tensor zRaw = (z.to(device_, at::kFloat) / invStd_ + mean_).to(dtype_); // [B, z, T, h, w]
    vae::StreamCache unusedCache(0);
    at::Tensor x = conv2_.forward(zRaw, unusedCache); // [B, z, T, h, w]
    vae::StreamCache cache(decoder_.slotCount);
    std::vector<at::Tensor> chunks;
    const int64_t T = x.size(2);
    for (int64_t t0 = 0; t0 < T; t0 += latentFramesPerCall) {
        at::Tensor out = decoder_.forward(x.slice(2, t0, std::min(T, t0 + latentFramesPerCall)), cache, normOp_);
        if (onChunk) {
            onChunk(out); // [B, 3, t, 8h, 8w]
        }
        chunks.push_back(std::move(out));
    }
    return chunks.size() == 1 ? chunks[0] : at::cat(chunks, 2); // [B, 3, 4(T−1)+1, 8h, 8w]
}

at::Tensor WanVAE::decode(const at::Tensor& z, const std::function<void(const at::Tensor&)>& onFrames) const {
    return decodeChunked(z, 1, onFrames);
}

at::Tensor WanVAE::decodeChunked(const at::Tensor& z, int64_t latentFramesPerCall,
                                 const std::function<void(const at::Tensor&)>& onFrames) const {
    std::function<void(const at::Tensor&)> preview;
    if (onFrames) {
        preview = [&](const at::Tensor& chunk) { onFrames(chunk.to(at::kFloat).clamp(-1, 1)); };
    }
    return decodeRaw(z, latentFramesPerCall, preview).to(at::kFloat).clamp_(-1, 1);
}

at::Tensor WanVAE::decodeTiled(const at::Tensor& z, const TileSettings& tiles) const {
    checkLatent(z);
    const int64_t B = z.size(0), T = z.size(2), Hl = z.size(3), Wl = z.size(4);
    const int64_t f = config_.spatialFactor(), outT = config_.temporalFactor() * (T - 1) + 1;
    const auto regions = tileRegions(Hl, Wl, tiles);
    at::Tensor values = at::zeros({B, 3, outT, f * Hl, f * Wl}, at::kFloat); // CPU canvas
    at::Tensor weight = at::zeros({f * Hl, f * Wl}, at::kFloat);
    for (const auto& r : regions) {
        at::Tensor tile = decodeRaw(z.slice(3, r.h, r.hEnd).slice(4, r.w, r.wEnd), 1, {})
                              .to(at::kCPU, at::kFloat); // [B, 3, outT, 8·th, 8·tw]
        at::Tensor mask = tileBlendWeight(r, Hl, Wl, tiles, f); // [8·th, 8·tw]
        values.slice(3, f * r.h, f * r.hEnd).slice(4, f * r.w, f * r.wEnd) += tile * mask;
        weight.slice(0, f * r.h, f * r.hEnd).slice(1, f * r.w, f * r.wEnd) += mask;
    }
    spdlog::debug("VAE tiled decode: {} tiles of {}x{} latents", regions.size(), tiles.tileH, tiles.tileW);
    return (values / weight).clamp_(-1, 1); // [B, 3, outT, 8·Hl, 8·Wl]
}

at::Tensor WanVAE::encode(const at::Tensor& video) const {
    const int64_t tf = config_.temporalFactor(), f = config_.spatialFactor();
    if (video.dim() != 5 || video.size(1) != 3 || (video.size(2) - 1) % tf != 0 || video.size(3) % f != 0 ||
        video.size(4) % f != 0) {
        throw ConfigError(fmt::format("VAE encode needs a video [B, 3, {}k+1, H, W] with H and W multiples of {}, got {}",
                                      tf, f, shapeString(video.sizes())));
    }
    at::Tensor x = video.to(device_, dtype_); // [B, 3, T, H, W]
    vae::StreamCache cache(encoder_.slotCount);
    std::vector<at::Tensor> chunks;
    // Frame 0 alone, then `tf` frames per call: each call yields one latent frame.
    for (int64_t t0 = 0; t0 < x.size(2); t0 += (t0 == 0 ? 1 : tf)) {
        const int64_t t1 = t0 == 0 ? 1 : t0 + tf;
        chunks.push_back(encoder_.forward(x.slice(2, t0, t1), cache, normOp_)); // [B, 2z, 1, H/8, W/8]
    }
    vae::StreamCache unusedCache(0);
    at::Tensor out = conv1_.forward(at::cat(chunks, 2), unusedCache); // [B, 2z, k+1, H/8, W/8]
    at::Tensor mu = out.slice(1, 0, config_.zDim).to(at::kFloat);      // [B, z, k+1, H/8, W/8]; log σ² dropped
    return (mu - mean_) * invStd_;
}

at::Tensor videoToUint8Frames(const at::Tensor& video) {
    at::Tensor v = video;
    if (v.dim() == 5) {
        if (v.size(0) != 1) {
            throw ConfigError(fmt::format("video to frames takes one video [1, 3, T, H, W], got {}",
                                          shapeString(v.sizes())));
        }
        v = v.select(0, 0);
    }
    if (v.dim() != 4 || v.size(0) != 3) {
        throw ConfigError(fmt::format("video to frames takes [1, 3, T, H, W] or [3, T, H, W], got {}",
                                      shapeString(video.sizes())));
    }
    at::Tensor scaled = ((v + 1) * 127.5).clamp(0, 255);               // [3, T, H, W], video dtype
    return scaled.permute({1, 2, 3, 0}).to(at::kCPU).to(at::kByte).contiguous(); // [T, H, W, 3], truncated
}

} // namespace ditstudio
