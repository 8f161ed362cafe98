// UMT5-XXL text encoder (DiffSynth's WanTextEncoder / T5Encoder), exactly as ../shared/reference/wan21-spec.md
// §4.2–4.5: bidirectional relative-position buckets with a per-layer bias (UMT5: shared_pos = false), attention
// WITHOUT 1/sqrt(d) scaling, padded keys replaced by the most negative finite value of the compute dtype, softmax
// in float32, T5 RMS norms with float32 statistics and a gated GELU-tanh feed-forward. Module tree = checkpoint key
// tree (`blocks.3.attn.q.weight`, `blocks.3.pos_embedding.embedding.weight`).
#pragma once
#include "core/io/weight_loader.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <vector>

namespace ditstudio {

struct UMT5Config {
    int64_t vocab = 256384;
    int64_t dim = 4096;
    int64_t dimAttn = 4096;
    int64_t dimFfn = 10240;
    int64_t numHeads = 64;
    int64_t numLayers = 24;
    int64_t numBuckets = 32;
    bool sharedPos = false;
    double eps = 1e-6;

    int64_t headDim() const { return dimAttn / numHeads; }
    // The reference's names (vocab, dim, dim_attn, dim_ffn, num_heads, num_layers, num_buckets, shared_pos, eps);
    // missing keys keep the XXL defaults, a wrong type is a ConfigError naming the key.
    static UMT5Config fromJson(const nlohmann::json& json);
    nlohmann::json toJson() const;
    // Everything from tensor shapes. The head count is the column count of a relative-position table
    // ([buckets, heads]); `numHeads`, when given, must agree with it.
    static UMT5Config fromWeights(const io::WeightSource& source, std::optional<int64_t> numHeads = std::nullopt);
    void validate() const; // throws ConfigError naming the bad field
};

// Bidirectional T5 bucket of a relative position r = key − query (max distance 128): key at or before the query →
// 0..numBuckets/2−1, key after it → numBuckets/2..numBuckets−1. For 32 buckets this is the spec's §4.4 table (exact
// in integers); other bucket counts follow the reference's float32 formula.
int64_t relativePositionBucket(int64_t relative, int64_t numBuckets = 32);
// [Lq, Lk] int64 bucket indices of (k − q).
at::Tensor relativePositionBuckets(int64_t lq, int64_t lk, int64_t numBuckets, at::Device device);

// T5LayerNorm: x · rsqrt(mean(x_f32²) + eps) in float32, rounded to the weight's dtype when that is reduced, · weight.
at::Tensor t5Norm(const at::Tensor& x, const at::Tensor& weight, double eps);

struct T5RelativeEmbedding {
    at::Tensor embedding; // [numBuckets, H]
    void load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg);
    // → [1, H, Lq, Lk] bias in the table's dtype
    at::Tensor forward(int64_t lq, int64_t lk, int64_t numBuckets) const;
};

struct T5Attention {
    at::Tensor q, k, v, o; // [dimAttn, dim] ×3, [dim, dimAttn]; T5 has no biases
    void load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg);
    // x [B, L, D], keep [B, 1, 1, L] bool (true = valid key), bias [1, H, L, L] → [B, L, D]
    at::Tensor forward(const at::Tensor& x, const at::Tensor& keep, const at::Tensor& bias,
                       const UMT5Config& cfg) const;
};

struct T5FeedForward {
    at::Tensor gate, fc1, fc2; // [F, D], [F, D], [D, F]
    void load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg);
    // fc2(fc1(x) ⊙ gelu_tanh(gate(x))): [B, L, D] → [B, L, D]
    at::Tensor forward(const at::Tensor& x) const;
};

// The repeated block (T5SelfAttention in the reference).
struct T5Block {
    at::Tensor norm1, norm2; // [D]
    T5Attention attn;
    T5FeedForward ffn;
    T5RelativeEmbedding posEmbedding; // empty when the config shares one table
    void load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg);
    // x [B, L, D], keep [B, 1, 1, L], sharedBias [1, H, L, L] or undefined → [B, L, D]
    at::Tensor forward(const at::Tensor& x, const at::Tensor& keep, const at::Tensor& sharedBias,
                       const UMT5Config& cfg) const;
};

class UMT5Encoder {
public:
    using RepeatedBlock = T5Block;

    UMT5Encoder(const io::WeightSource& source, const UMT5Config& config, at::ScalarType dtype, at::Device device);

    const UMT5Config& config() const { return config_; }
    at::ScalarType dtype() const { return dtype_; }
    at::Device device() const { return device_; }

    // ids [B, L] int64, mask [B, L] (non-zero = valid) → raw encoder output [B, L, dim] in the model dtype; rows at
    // padded positions are computed too (they attend to the valid keys only). Traces: embedded, block{i}_out.
    at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) const;
    // What the pipeline hands to the DiT (spec §4.5): forward(), then for each batch row b the rows
    // ≥ Σ mask[b] set to exact zeros. Length stays L.
    at::Tensor encode(const at::Tensor& ids, const at::Tensor& mask) const;

private:
    UMT5Config config_;
    at::ScalarType dtype_;
    at::Device device_;
    at::Tensor tokenEmbedding_; // [vocab, D]
    std::vector<T5Block> blocks_;
    T5RelativeEmbedding sharedPos_; // only when config_.sharedPos
    at::Tensor norm_;               // [D]
};

} // namespace ditstudio
