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
    // The same factors in another dtype; applyRope computes in the table's dtype (training rotates in float32).
    RopeTable to(at::ScalarType dtype) const { return RopeTable{cos.to(dtype), sin.to(dtype)}; }
};

// Applies the interleaved-pair rotation in the table's dtype (float64, the reference's, unless the table was
// converted) and rounds once: x [B, L, H, d] → same shape and dtype.
at::Tensor applyRope(const at::Tensor& x, const RopeTable& rope);

// Self-attention over [B, L, H, d] q/k/v; replaceable so that sequence parallelism (Ulysses/ring) can plug in.
using AttentionFn = std::function<at::Tensor(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v)>;
at::Tensor denseAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v); // SDPA, [B,L,H,d]

struct Linear {
    at::Tensor weight, bias; // [out, in], [out] (bias optional)
    void load(io::WeightLoader& w, const std::string& name, int64_t in, int64_t out, bool hasBias = true);
    at::Tensor operator()(const at::Tensor& x) const;
};

struct DiTSelfAttention;
class WanDiT;

// The memory-bound chains of the repeated block, replaceable as one table so that the compile layer (kernels/,
// which core cannot depend on) can install fused kernels. Every entry of `DiTBlockOps::eager()` is the plain ATen
// path, the reference; an empty entry means the eager one. Shapes in the model dtype unless said otherwise.
struct DiTBlockOps {
    // LayerNorm over D without affine, then ·(1 + scale) + shift. x [B, L, D], shift/scale [B, 1, D] → [B, L, D]
    std::function<at::Tensor(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps)>
        layerNormModulate;
    // RMSNorm over the whole D (weight [D]), then the 3-D rotation when `rope` is given (none for cross-attention
    // queries). x [B, L, D] (rows may be strided) → [B, L, H, d]; the result may be a transposed view of a
    // contiguous [B, H, L, d] buffer, the layout attention wants.
    std::function<at::Tensor(const at::Tensor& x, const at::Tensor& weight, const RopeTable* rope, int64_t heads,
                             double eps)>
        qkNormRope;
    // x + gate · y. x, y [B, L, D], gate [B, 1, D] → [B, L, D]
    std::function<at::Tensor(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y)> gatedResidual;
    // ffn2(gelu_tanh(ffn0(x))). x [B, L, D] → [B, L, D]
    std::function<at::Tensor(const at::Tensor& x, const Linear& ffn0, const Linear& ffn2)> ffnGeluTanh;
    // The self-attention projections. x [B, L, D] → q, k, v [B, L, D] each (may be views of one [B, L, 3D]).
    std::function<std::array<at::Tensor, 3>(const at::Tensor& x, const DiTSelfAttention& attn)> qkvProjection;
    // Self-attention when no sequence-parallel attention is given (see AttentionFn).
    AttentionFn attention;
    // Runs every block (tokens [B, L, D] → [B, L, D]) instead of the plain loop, e.g. replaying CUDA graphs; it
    // calls `WanDiT::runBlock` itself. Not used when sequence-parallel hooks are given.
    std::function<at::Tensor(const WanDiT& dit, const at::Tensor& tokens, const at::Tensor& ctx,
                             const at::Tensor& tmod, const RopeTable& rope)>
        runBlocks;

    // The rotary table of a (f, h, w) token grid; the compile layer caches it per grid. Default RopeTable::build.
    std::function<RopeTable(int64_t headDim, int64_t f, int64_t h, int64_t w, at::Device device)> ropeTable;

    static DiTBlockOps eager(); // every entry filled with the eager ATen path
};

struct DiTSelfAttention {
    Linear q, k, v, o;
    at::Tensor normQ, normK; // [D]
    void load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg);
    // x [B, L, D] (a sequence shard when parallel) → [B, L, D]
    at::Tensor forward(const at::Tensor& x, const RopeTable& rope, const WanDiTConfig& cfg,
                       const AttentionFn& attention, const DiTBlockOps* ops = nullptr) const;
};

struct DiTCrossAttention {
    Linear q, k, v, o;
    at::Tensor normQ, normK;
    void load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg);
    // x [B, L, D], ctx [B, Lc, D]; the context is replicated on every rank: no communication needed.
    at::Tensor forward(const at::Tensor& x, const at::Tensor& ctx, const WanDiTConfig& cfg,
                       const DiTBlockOps* ops = nullptr) const;
};

// The repeated block (DiffSynth's `_repeated_blocks = ["DiTBlock"]`): the unit the compile layer targets.
struct WanAttentionBlock {
    at::Tensor modulation; // [1, 6, D]
    DiTSelfAttention selfAttn;
    DiTCrossAttention crossAttn;
    at::Tensor norm3Weight, norm3Bias;
    Linear ffn0, ffn2;
    void load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg);
    // x [B, L, D], ctx [B, Lc, D], tmod [B, 6, D] → [B, L, D]. `ops` null = eager.
    at::Tensor forward(const at::Tensor& x, const at::Tensor& ctx, const at::Tensor& tmod, const RopeTable& rope,
                       const WanDiTConfig& cfg, const AttentionFn& attention,
                       const DiTBlockOps* ops = nullptr) const;
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
    const std::vector<WanAttentionBlock>& blocks() const { return blocks_; }

    // x [B, 16, F, H, W] latents, t [B] timestep (σ·1000), context [B, Lc, textDim] → velocity [B, 16, F, H, W].
    // Inputs are converted to the model's dtype/device. Traces: t_embedded, t_projected, context_embedded,
    // block{i}_out, head_out.
    at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                       const SequenceParallelHooks* parallel = nullptr) const;

    // The context embedding alone (cacheable across steps: it does not depend on t or x).
    at::Tensor embedContext(const at::Tensor& context) const;

    // The block ops (eager by default); the compile layer sets fused ones. Not thread-safe against forward().
    void setOps(DiTBlockOps ops);
    const DiTBlockOps& ops() const { return ops_; }
    // Block i with the model's ops: x [B, L, D] → [B, L, D] (for DiTBlockOps::runBlocks).
    at::Tensor runBlock(size_t i, const at::Tensor& x, const at::Tensor& ctx, const at::Tensor& tmod,
                        const RopeTable& rope) const;

private:
    WanDiTConfig config_;
    at::ScalarType dtype_;
    at::Device device_;
    at::Tensor patchWeight, patchBias;
    Linear textEmb0, textEmb2, timeEmb0, timeEmb2, timeProj;
    std::vector<WanAttentionBlock> blocks_;
    at::Tensor headModulation;
    Linear head;
    DiTBlockOps ops_ = DiTBlockOps::eager();
};

// The sinusoidal timestep embedding: float64 [cos(t·ω_k)…, sin(t·ω_k)…], cast to t's dtype. t [B] → [B, freqDim].
at::Tensor sinusoidalEmbedding(const at::Tensor& t, int64_t freqDim);

} // namespace ditstudio
