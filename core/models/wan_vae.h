// Wan 2.1 video VAE (DiffSynth's `WanVideoVAE` → `VideoVAE_`), see ../shared/reference/wan21-spec.md §5: causal
// 3-D convolutions, RMS norms, a per-frame attention block in the middle, 8× spatial and 4× temporal resampling.
// Module tree = checkpoint key tree (`decoder.upsamples.3.time_conv.weight`); DiffSynth's `model.` prefix is found
// automatically.
//
// Decoding and encoding run as a stream of chunks (decode: one latent frame per decoder call; encode: frame 0, then 4
// frames per call) with a per-module StreamCache, exactly as the reference does. Every module is written against the
// stream, not the chunk, so any chunking gives the same result (decodeChunked with all frames in one call is the
// "one causal pass" form); only the memory use and the moments at which frames come out differ.
#pragma once
#include "core/io/weight_loader.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <functional>
#include <vector>

namespace ditstudio {

struct WanVAEConfig {
    int64_t dim = 96;
    int64_t zDim = 16;
    std::vector<int64_t> dimMult{1, 2, 4, 4};
    int64_t numResBlocks = 2;
    std::vector<bool> temporalDownsample{false, true, true};
    // [zDim] each: the Wan 2.1 latent statistics (spec §5.4)
    std::vector<float> latentMean{-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                  0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
    std::vector<float> latentStd{2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                 3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

    int64_t spatialFactor() const;  // 2^(levels − 1) = 8
    int64_t temporalFactor() const; // 2^(temporal downsamples) = 4
    // Infers dim (encoder.conv1.weight [dim, 3, 3, 3, 3]), zDim (conv2.weight [z, z, 1, 1, 1]), numResBlocks (the
    // count of encoder.downsamples entries) and temporalDownsample (which resamples have a time_conv); dimMult and the
    // latent statistics keep the defaults. Accepts official and DiffSynth (`model.`) keys.
    static WanVAEConfig fromWeights(const io::WeightSource& source);
    // The reference's names: dim, z_dim, dim_mult, num_res_blocks, temperal_downsample, latent_mean, latent_std;
    // missing keys keep the defaults, wrong types are a ConfigError naming the key.
    static WanVAEConfig fromJson(const nlohmann::json& json);
    // A model folder's VAE: the manifest's config when it has one (an object), else inferred from the weights.
    static WanVAEConfig fromManifestOrWeights(const nlohmann::json& manifestConfig, const io::WeightSource& weights);
    void validate() const; // throws ConfigError naming the bad field
};

// Spatial tiles of a tiled decode, in latent units (pipeline default: 30×52 tiles every 15×26).
struct TileSettings {
    int64_t tileH = 30, tileW = 52, strideH = 15, strideW = 26;
};

// One tile of a tiled decode: latent rows [h, hEnd) × columns [w, wEnd).
struct TileRegion {
    int64_t h, hEnd, w, wEnd;
};

// Tile origins of spec §5.6 (h outer, w inner): a tile is skipped when the previous one already reached the end.
std::vector<TileRegion> tileRegions(int64_t latentH, int64_t latentW, const TileSettings& tiles);

// Blend weight of one decoded tile, float32 [8·(hEnd−h), 8·(wEnd−w)]: the minimum of a row ramp and a column ramp
// (1/b … b/b over the b = 8·(tile − stride) pixels that overlap a neighbour, 1 elsewhere).
at::Tensor tileBlendWeight(const TileRegion& region, int64_t latentH, int64_t latentW, const TileSettings& tiles,
                           int64_t spatialFactor = 8);

// The VAE's RMS norm, then SiLU when `silu`: y = [silu](x / max(‖x‖₂ over channels, 1e-12) · √C · γ). x [B, C, …]
// (channel axis 1), gamma [C, 1, …] of x's rank → [B, C, …] in x's dtype. Replaceable so that the compile layer
// (kernels/, which core cannot depend on) can install a fused kernel; an empty op means eagerVaeNorm, the reference.
using VaeNormOp = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& gamma, bool silu)>;
at::Tensor eagerVaeNorm(const at::Tensor& x, const at::Tensor& gamma, bool silu);

namespace vae {

// Per-module state carried between the chunks of one stream (one decode, one encode). Each causal module owns one
// slot, numbered at load time.
struct StreamCache {
    struct Slot {
        at::Tensor frames;     // [B, C, ≤2, h, w] the last frames of this module's input stream (undefined: none yet)
        int64_t framesSeen = 0;
    };
    std::vector<Slot> states; // indexed by slot
    explicit StreamCache(size_t slotCount) : states(slotCount) {}
};

// Zero-pads time by 2·pt frames in front (the cached frames of the stream replace as many zeros), space by ph/pw on
// both sides, then a plain Conv3d.
struct CausalConv3d {
    at::Tensor weight, bias; // [out, in, kt, kh, kw], [out]
    int64_t slot = -1;       // −1 for 1×1×1 convs, which need no context
    void load(io::WeightLoader& w, const std::string& name, int64_t in, int64_t out, std::array<int64_t, 3> kernel,
              size_t& slotCounter);
    // x [B, in, t, h, w] (the next t frames of the stream) → [B, out, t, h, w]
    at::Tensor forward(const at::Tensor& x, StreamCache& cache) const;
};

// x / max(‖x‖₂ over channels, 1e-12) · √C · γ, channel axis 1 (then SiLU when asked), through `normOp` (see
// VaeNormOp; empty: eager). Every module below takes the op of its model (WanVAE::setNormOp).
struct RMSNorm {
    at::Tensor gamma; // [C, 1, 1, 1] (5-D input) or [C, 1, 1] (4-D input)
    void load(io::WeightLoader& w, const std::string& name, int64_t channels, bool images);
    // x [B, C, …] → same
    at::Tensor forward(const at::Tensor& x, bool silu, const VaeNormOp& normOp) const;
};

struct ResidualBlock {
    RMSNorm norm0, norm3;
    CausalConv3d conv2, conv6, shortcut; // shortcut.weight undefined when in = out
    void load(io::WeightLoader& w, const std::string& prefix, int64_t in, int64_t out, size_t& slotCounter);
    // x [B, in, t, h, w] → [B, out, t, h, w]
    at::Tensor forward(const at::Tensor& x, StreamCache& cache, const VaeNormOp& normOp) const;
};

// Single-head self-attention over the h·w pixels of each frame.
struct AttentionBlock {
    RMSNorm norm;
    at::Tensor qkvWeight, qkvBias, projWeight, projBias; // [3C, C, 1, 1], [3C], [C, C, 1, 1], [C]
    void load(io::WeightLoader& w, const std::string& prefix, int64_t channels);
    // x [B, C, t, h, w] → same
    at::Tensor forward(const at::Tensor& x, const VaeNormOp& normOp) const;
};

enum class ResampleMode { Upsample2d, Upsample3d, Downsample2d, Downsample3d };

struct Resample {
    ResampleMode mode = ResampleMode::Upsample2d;
    int64_t channels = 0;
    at::Tensor spatialWeight, spatialBias; // resample.1: [C/2, C, 3, 3] (up) or [C, C, 3, 3] (down)
    CausalConv3d timeConv;                 // upsample3d: C → 2C, kernel (3,1,1), causal; downsample3d: C → C, stride 2
    int64_t slot = -1;                     // first-frame bookkeeping (3-D modes)
    void load(io::WeightLoader& w, const std::string& prefix, ResampleMode mode, int64_t channels,
              size_t& slotCounter);
    // up: [B, C, t, h, w] → [B, C/2, t', 2h, 2w]; down: → [B, C, t', ⌈h/2⌉, ⌈w/2⌉] (t' per spec §5.4/§5.5)
    at::Tensor forward(const at::Tensor& x, StreamCache& cache) const;

private:
    at::Tensor temporalUp(const at::Tensor& x, StreamCache& cache) const;
    at::Tensor temporalDown(const at::Tensor& x, StreamCache& cache) const;
};

// One entry of `encoder.downsamples` / `decoder.upsamples`: a residual block or a resample.
struct StackLayer {
    bool isResample = false;
    ResidualBlock residual;
    Resample resample;
    at::Tensor forward(const at::Tensor& x, StreamCache& cache, const VaeNormOp& normOp) const;
};

struct Encoder3d {
    CausalConv3d conv1;
    std::vector<StackLayer> downsamples;
    ResidualBlock middle0, middle2;
    AttentionBlock middle1;
    RMSNorm headNorm;
    CausalConv3d headConv;
    size_t slotCount = 0;
    void load(io::WeightLoader& w, const WanVAEConfig& cfg);
    // x [B, 3, t, H, W] (the next frames of the video) → [B, 2·zDim, t', H/8, W/8]
    at::Tensor forward(const at::Tensor& x, StreamCache& cache, const VaeNormOp& normOp) const;
};

struct Decoder3d {
    CausalConv3d conv1;
    ResidualBlock middle0, middle2;
    AttentionBlock middle1;
    std::vector<StackLayer> upsamples;
    RMSNorm headNorm;
    CausalConv3d headConv;
    size_t slotCount = 0;
    void load(io::WeightLoader& w, const WanVAEConfig& cfg);
    // x [B, zDim, t, h, w] (the next latent frames, after conv2) → [B, 3, t'', 8h, 8w] unclamped
    at::Tensor forward(const at::Tensor& x, StreamCache& cache, const VaeNormOp& normOp) const;
};

} // namespace vae

class WanVAE {
public:
    // prefix: "" for official keys (encoder.*, decoder.*, conv1.*, conv2.*); DiffSynth files use "model.", which is
    // detected when the plain keys are absent. Every tensor is declared with its shape; unexpected tensors under the
    // prefix are an error.
    WanVAE(const io::WeightSource& source, const WanVAEConfig& config, at::ScalarType dtype, at::Device device);

    // z [B, zDim, T, h, w] normalised latents → video [B, 3, 4(T−1)+1, 8h, 8w] in [−1, 1] (clamped), float32 on the
    // model's device. The decoder runs once per latent frame; onFrames (optional) gets each newly decoded chunk
    // [B, 3, t, 8h, 8w] (clamped, float32): 1 frame, then 4 per latent frame.
    at::Tensor decode(const at::Tensor& z, const std::function<void(const at::Tensor&)>& onFrames = {}) const;
    // The same with `latentFramesPerCall` latent frames per decoder call (≥ T: one causal pass over the whole
    // stream). Equal to decode() up to float rounding; larger calls need more memory.
    at::Tensor decodeChunked(const at::Tensor& z, int64_t latentFramesPerCall,
                             const std::function<void(const at::Tensor&)>& onFrames = {}) const;
    // Spec §5.6: each tile decoded alone (unclamped), blended on a CPU float32 canvas, then clamped. → CPU float32.
    at::Tensor decodeTiled(const at::Tensor& z, const TileSettings& tiles) const;
    // video [B, 3, T, H, W] in [−1, 1], T = 4k+1, H and W multiples of 8 → normalised μ [B, zDim, k+1, H/8, W/8]
    // float32 on the model's device (frame 0 alone, then 4 frames per encoder call).
    at::Tensor encode(const at::Tensor& video) const;

    const WanVAEConfig& config() const { return config_; }
    at::ScalarType dtype() const { return dtype_; }
    at::Device device() const { return device_; }
    const std::string& prefix() const { return prefix_; }

    // The norm (+SiLU) op of every RMS norm in the encoder and decoder (empty, as loaded: eagerVaeNorm); the compile
    // layer installs a fused one. Not thread-safe against decode()/encode().
    void setNormOp(VaeNormOp op) { normOp_ = std::move(op); }
    const VaeNormOp& normOp() const { return normOp_; }

    // z [B, zDim, T, h, w] → unclamped video in the model dtype, chunks handed to onChunk as they come (may be
    // empty). Training decodes through this: a clamped output has no gradient where it overshoots, which stalls
    // an autoencoder wherever it first predicts a saturated colour.
    at::Tensor decodeRaw(const at::Tensor& z, int64_t latentFramesPerCall,
                         const std::function<void(const at::Tensor&)>& onChunk = {}) const;

private:
    void checkLatent(const at::Tensor& z) const;

    WanVAEConfig config_;
    at::ScalarType dtype_;
    at::Device device_;
    std::string prefix_;
    vae::Encoder3d encoder_;
    vae::Decoder3d decoder_;
    vae::CausalConv3d conv1_, conv2_; // top level: 2z → 2z after the encoder, z → z before the decoder
    at::Tensor mean_, invStd_;        // float32 [1, zDim, 1, 1, 1] on the device; invStd = 1/std in float32
    VaeNormOp normOp_;                // empty: eager
};

// video [1, 3, T, H, W] (or [3, T, H, W]) in [−1, 1] → uint8 [T, H, W, 3] on the CPU,
// trunc(clip((x + 1) · 127.5, 0, 255)) in the video's dtype (spec §5.7).
at::Tensor videoToUint8Frames(const at::Tensor& video);

} // namespace ditstudio
