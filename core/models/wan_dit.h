// Wan 2.1 diffusion transformer (WanModel), text-to-video variant: the forward of DiffSynth's
// `model_fn_wan_video` (see ../shared/reference/wan21-spec.md §3). Any config: the real 1.3B/14B or the tiny
// golden ones. Module tree = checkpoint key tree (`blocks.3.self_attn.q.weight`).
#pragma once
#include "core/io/weight_loader.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace ditstudio {

struct WanDiTConfig {
    int64_t dim = 1536;
    int64_t ffnDim = 8960;
    int64_t numHeads = 12;
    int64_t numLayers = 30;
    int64_t inDim = 16;
    int64_t outDim = 16;
    int64_t textDim = 4096;
    int64_t freqDim = 256;
    std::array<int64_t, 3> patchSize{1, 2, 2};
    double eps = 1e-6;

    int64_t headDim() const { return dim / numHeads; }
    // Infers everything from tensor shapes; the head count is not in the weights: real Wan models use head
    // dim 128, so numHeads = dim / 128 unless `numHeads` is given.
    static WanDiTConfig fromWeights(const io::WeightSource& source, std::optional<int64_t> numHeads = std::nullopt);
    // The reference's config names (dim, ffn_dim, num_heads, num_layers, in_dim, out_dim, text_dim, freq_dim,
    // patch_size, eps); missing keys keep the 1.3B defaults, wrong types are a ConfigError naming the key.
    static WanDiTConfig fromJson(const nlohmann::json& json);
    nlohmann::json toJson() const;
    static WanDiTConfig wan13B();
    static WanDiTConfig wan14B();
    void validate() const; // throws ConfigError naming the bad field
};

// Per-axis RoPE split of a head (complex pairs): f gets d − 2⌊d/3⌋ channels, h and w ⌊d/3⌋ each.
struct RopeSplit {
    int64_t frameChannels, heightChannels, widthChannels;
    static RopeSplit forHeadDim(int64_t headDim);
};

// cos/sin of the 3-D rotary factors for a (f, h, w) token grid, float64 [L, headDim/2] each, token order
// (fi·h + hi)·w + wi. Rows beyond L (sequence padding) can be appended as identity (cos 1, sin 0).
struct RopeTable {
    at::Tensor cos, sin;
    static RopeTable build(int64_t headDim, int64_t f, int64_t h, int64_t w, at::Device device);
    RopeTable slice(int64_t begin, int64_t end) const; // rows [begin, end), identity past L
};

// Applies the interleaved-pair rotation in float64 and rounds once: x [B, L, H, d] → same shape and dtype.
at::Tensor applyRope(const at::Tensor& x, const RopeTable& rope);

// Self-attention over [B, L, H, d] q/k/v; replaceable so that sequence parallelism (Ulysses/ring) can plug in.
using AttentionFn = std::function<at::Tensor(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v)>;
at::Tensor denseAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v); // SDPA, [B,L,H,d]

struct Linear {
    at::Tensor weight, bias; // [out, in], [out] (bias optional)
    void load(io::WeightLoader& w, const std::string& name, int64_t in, int64_t out, bool hasBias = true);
    at::Tensor operator()(const at::Tensor& x) const;
};

struct DiTSelfAttention {
    Linear q, k, v, o;
    at::Tensor normQ, normK; // [D]
    void load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg);
    // x [B, L, D] (a sequence shard when parallel) → [B, L, D]
    at::Tensor forward(const at::Tensor& x, const RopeTable& rope, const WanDiTConfig& cfg,
                       const AttentionFn& attention) const;
};

struct DiTCrossAttention {
    Linear q, k, v, o;
    at::Tensor normQ, normK;
    void load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg);
    // x [B, L, D], ctx [B, Lc, D]; the context is replicated on every rank: no communication needed.
    at::Tensor forward(const at::Tensor& x, const at::Tensor& ctx, const WanDiTConfig& cfg) const;
};

// The repeated block (DiffSynth's `_repeated_blocks = ["DiTBlock"]`): the unit the compile layer targets.
struct WanAttentionBlock {
    at::Tensor modulation; // [1, 6, D]
    DiTSelfAttention selfAttn;
    DiTCrossAttention crossAttn;
    at::Tensor norm3Weight, norm3Bias;
    Linear ffn0, ffn2;
    void load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg);
    // x [B, L, D], ctx [B, Lc, D], tmod [B, 6, D] → [B, L, D]
    at::Tensor forward(const at::Tensor& x, const at::Tensor& ctx, const at::Tensor& tmod, const RopeTable& rope,
                       const WanDiTConfig& cfg, const AttentionFn& attention) const;
};

// Hooks for sequence parallelism: split the token sequence before the blocks, gather the head output after.
struct SequenceParallelHooks {
    // Given X [B, L, D] and the full rope table, return the local shard and its rope slice.
    std::function<std::pair<at::Tensor, RopeTable>(const at::Tensor& x, const RopeTable& rope)> shard;
    // Given the local head output [B, Lshard, P·out], return the full [B, L, P·out].
    std::function<at::Tensor(const at::Tensor& local, int64_t fullLength)> gather;
    AttentionFn attention;
};

class WanDiT {
public:
    using RepeatedBlock = WanAttentionBlock;

    WanDiT(const io::WeightSource& source, const WanDiTConfig& config, at::ScalarType dtype, at::Device device);

    const WanDiTConfig& config() const { return config_; }
    at::ScalarType dtype() const { return dtype_; }
    at::Device device() const { return device_; }
    std::vector<WanAttentionBlock>& blocks() { return blocks_; }

    // x [B, 16, F, H, W] latents, t [B] timestep (σ·1000), context [B, Lc, textDim] → velocity [B, 16, F, H, W].
    // Inputs are converted to the model's dtype/device. Traces: t_embedded, t_projected, context_embedded,
    // block{i}_out, head_out.
    at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                       const SequenceParallelHooks* parallel = nullptr) const;

    // The context embedding alone (cacheable across steps: it does not depend on t or x).
    at::Tensor embedContext(const at::Tensor& context) const;

private:
    WanDiTConfig config_;
    at::ScalarType dtype_;
    at::Device device_;
    at::Tensor patchWeight, patchBias;
    Linear textEmb0, textEmb2, timeEmb0, timeEmb2, timeProj;
    std::vector<WanAttentionBlock> blocks_;
    at::Tensor headModulation;
    Linear head;
};

// The sinusoidal timestep embedding: float64 [cos(t·ω_k)…, sin(t·ω_k)…], cast to t's dtype. t [B] → [B, freqDim].
at::Tensor sinusoidalEmbedding(const at::Tensor& t, int64_t freqDim);

} // namespace ditstudio
