#include "core/models/umt5.h"

#include "core/runtime/trace.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <c10/util/Half.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace ditstudio {

// ---------------------------------------------------------------------------------------------- config

UMT5Config UMT5Config::fromJson(const nlohmann::json& json) {
    if (!json.is_object()) {
        throw ConfigError(fmt::format("UMT5 config must be a JSON object, got {}", json.dump()));
    }
    UMT5Config c;
    auto integer = [&](const char* key, int64_t& field) {
        if (json.contains(key)) {
            if (!json[key].is_number_integer()) {
                throw ConfigError(fmt::format("UMT5 config '{}' must be an integer, got {}", key, json[key].dump()));
            }
            field = json[key].get<int64_t>();
        }
    };
    integer("vocab", c.vocab);
    integer("dim", c.dim);
    integer("dim_attn", c.dimAttn);
    integer("dim_ffn", c.dimFfn);
    integer("num_heads", c.numHeads);
    integer("num_layers", c.numLayers);
    integer("num_buckets", c.numBuckets);
    if (json.contains("shared_pos")) {
        if (!json["shared_pos"].is_boolean()) {
            throw ConfigError(fmt::format("UMT5 config 'shared_pos' must be true or false, got {}",
                                          json["shared_pos"].dump()));
        }
        c.sharedPos = json["shared_pos"].get<bool>();
    }
    if (json.contains("eps")) {
        if (!json["eps"].is_number()) {
            throw ConfigError(fmt::format("UMT5 config 'eps' must be a number, got {}", json["eps"].dump()));
        }
        c.eps = json["eps"].get<double>();
    }
    c.validate();
    return c;
}

nlohmann::json UMT5Config::toJson() const {
    return nlohmann::json{{"vocab", vocab},           {"dim", dim},
                          {"dim_attn", dimAttn},      {"dim_ffn", dimFfn},
                          {"num_heads", numHeads},    {"num_layers", numLayers},
                          {"num_buckets", numBuckets}, {"shared_pos", sharedPos},
                          {"eps", eps}};
}

void UMT5Config::validate() const {
    auto positive = [](const char* key, int64_t value) {
        if (value <= 0) {
            throw ConfigError(fmt::format("UMT5 config '{}' must be positive, got {}", key, value));
        }
    };
    positive("vocab", vocab);
    positive("dim", dim);
    positive("dim_attn", dimAttn);
    positive("dim_ffn", dimFfn);
    positive("num_heads", numHeads);
    positive("num_layers", numLayers);
    if (dimAttn % numHeads != 0) {
        throw ConfigError(fmt::format("UMT5 dim_attn {} must be a multiple of num_heads {}", dimAttn, numHeads));
    }
    if (numBuckets < 4 || numBuckets % 4 != 0) {
        throw ConfigError(fmt::format("UMT5 num_buckets must be a positive multiple of 4, got {}", numBuckets));
    }
    if (!(eps > 0)) {
        throw ConfigError(fmt::format("UMT5 eps must be positive, got {}", eps));
    }
}

UMT5Config UMT5Config::fromWeights(const io::WeightSource& source, std::optional<int64_t> numHeads) {
    auto need = [&](const std::string& name, size_t rank) {
        if (!source.contains(name)) {
            throw ModelError(fmt::format("{}: not a UMT5 encoder checkpoint: missing tensor '{}'", source.origin(),
                                         name));
        }
        auto shape = source.shape(name);
        if (shape.size() != rank) {
            throw ModelError(fmt::format("{}: tensor '{}' has rank {}, expected {}", source.fileOf(name), name,
                                         shape.size(), rank));
        }
        return shape;
    };
    UMT5Config c;
    const auto embedding = need("token_embedding.weight", 2); // [vocab, D]
    c.vocab = embedding[0];
    c.dim = embedding[1];
    c.dimAttn = need("blocks.0.attn.q.weight", 2)[0]; // [dimAttn, D]
    c.dimFfn = need("blocks.0.ffn.fc1.weight", 2)[0]; // [F, D]
    int64_t layers = 0;
    while (source.contains(fmt::format("blocks.{}.norm1.weight", layers))) {
        ++layers;
    }
    c.numLayers = layers;
    std::vector<int64_t> table;
    if (source.contains("blocks.0.pos_embedding.embedding.weight")) {
        c.sharedPos = false;
        table = need("blocks.0.pos_embedding.embedding.weight", 2);
    } else if (source.contains("pos_embedding.embedding.weight")) {
        c.sharedPos = true;
        table = need("pos_embedding.embedding.weight", 2);
    } else {
        throw ModelError(fmt::format("{}: not a UMT5 encoder checkpoint: no relative-position table "
                                     "('blocks.0.pos_embedding.embedding.weight' or 'pos_embedding.embedding.weight')",
                                     source.origin()));
    }
    c.numBuckets = table[0];
    c.numHeads = table[1];
    if (numHeads && *numHeads != c.numHeads) {
        throw ModelError(fmt::format("{}: {} heads requested, but the relative-position table has {} columns",
                                     source.origin(), *numHeads, c.numHeads));
    }
    c.validate();
    return c;
}

// ---------------------------------------------------------------------------------------------- buckets

int64_t relativePositionBucket(int64_t relative, int64_t numBuckets) {
    const int64_t half = numBuckets / 2;
    const int64_t base = relative > 0 ? half : 0;
    const int64_t a = relative < 0 ? -relative : relative;
    if (numBuckets == 32) {
        // Spec §4.4 table (the reference's float32 log evaluated once, so no rounding question at 16, 32, 64).
        static constexpr int64_t kFirstDistance[] = {8, 12, 16, 23, 32, 46, 64, 91}; // first a of buckets 8..15
        if (a < 8) {
            return base + a;
        }
        int64_t bucket = 7;
        for (int64_t first : kFirstDistance) {
            bucket += a >= first ? 1 : 0;
        }
        return base + bucket;
    }
    // Any other count: the reference's formula in float32 (max distance 128).
    const int64_t maxExact = half / 2;
    if (a < maxExact) {
        return base + a;
    }
    const float ratio = static_cast<float>(a) / static_cast<float>(maxExact);
    const float scale = static_cast<float>(std::log(128.0 / static_cast<double>(maxExact)));
    const auto large = maxExact + static_cast<int64_t>(std::log(ratio) / scale * static_cast<float>(half - maxExact));
    return base + std::min(large, half - 1);
}

at::Tensor relativePositionBuckets(int64_t lq, int64_t lk, int64_t numBuckets, at::Device device) {
    // One lookup per distinct r = k − q ∈ [−(lq−1), lk−1], then gathered into the [Lq, Lk] grid.
    std::vector<int64_t> byOffset(static_cast<size_t>(lq + lk - 1));
    for (int64_t r = -(lq - 1); r < lk; ++r) {
        byOffset[static_cast<size_t>(r + lq - 1)] = relativePositionBucket(r, numBuckets);
    }
    at::Tensor table = at::tensor(byOffset, at::TensorOptions().dtype(at::kLong));           // [Lq + Lk − 1]
    at::Tensor offsets = at::arange(lk, at::kLong).unsqueeze(0) - at::arange(lq, at::kLong).unsqueeze(1) + (lq - 1);
    return table.index({offsets}).to(device); // [Lq, Lk]
}

// ---------------------------------------------------------------------------------------------- pieces

at::Tensor t5Norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
    // x · rsqrt(mean(x_f32²) + eps): the product is promoted to float32, as in the reference.
    at::Tensor normed = x * at::rsqrt(x.to(at::kFloat).pow(2).mean(-1, true) + eps);
    if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) {
        normed = normed.to(weight.scalar_type());
    }
    return weight * normed;
}

static at::Tensor geluTanh(const at::Tensor& u) {
    // The reference's explicit formula (each op rounds in the compute dtype, as there), not erf-GELU.
    const double c = std::sqrt(2.0 / M_PI);
    return 0.5 * u * (1.0 + at::tanh(c * (u + 0.044715 * at::pow(u, 3.0))));
}

// The reference's fp16_clamp: only float16 activations that overflowed are pulled back into range.
static at::Tensor fp16Clamp(const at::Tensor& x) {
    if (x.scalar_type() == at::kHalf && at::isinf(x).any().item<bool>()) {
        const double bound = static_cast<double>(std::numeric_limits<c10::Half>::max()) - 1000.0;
        return at::clamp(x, -bound, bound);
    }
    return x;
}

static double lowestFinite(at::ScalarType dtype) {
    switch (dtype) {
    case at::kFloat:
        return std::numeric_limits<float>::lowest();
    case at::kDouble:
        return std::numeric_limits<double>::lowest();
    case at::kHalf:
        return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case at::kBFloat16:
        return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    default:
        throw ConfigError(fmt::format("UMT5 compute dtype {} is not a floating-point type", c10::toString(dtype)));
    }
}

void T5RelativeEmbedding::load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg) {
    embedding = w.take(prefix + "embedding.weight", {cfg.numBuckets, cfg.numHeads});
}

at::Tensor T5RelativeEmbedding::forward(int64_t lq, int64_t lk, int64_t numBuckets) const {
    at::Tensor buckets = relativePositionBuckets(lq, lk, numBuckets, embedding.device()); // [Lq, Lk]
    return at::embedding(embedding, buckets).permute({2, 0, 1}).unsqueeze(0).contiguous(); // [1, H, Lq, Lk]
}

void T5Attention::load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg) {
    q = w.take(prefix + "q.weight", {cfg.dimAttn, cfg.dim});
    k = w.take(prefix + "k.weight", {cfg.dimAttn, cfg.dim});
    v = w.take(prefix + "v.weight", {cfg.dimAttn, cfg.dim});
    o = w.take(prefix + "o.weight", {cfg.dim, cfg.dimAttn});
}

at::Tensor T5Attention::forward(const at::Tensor& x, const at::Tensor& keep, const at::Tensor& bias,
                                const UMT5Config& cfg) const {
    const int64_t B = x.size(0), L = x.size(1), H = cfg.numHeads, d = cfg.headDim();
    at::Tensor qh = at::linear(x, q).view({B, L, H, d}).transpose(1, 2); // [B, H, L, d]
    at::Tensor kh = at::linear(x, k).view({B, L, H, d}).transpose(1, 2); // [B, H, L, d]
    at::Tensor vh = at::linear(x, v).view({B, L, H, d}).transpose(1, 2); // [B, H, L, d]
    // No 1/sqrt(d): T5 folds it into the weights.
    at::Tensor scores = at::matmul(qh, kh.transpose(-1, -2)) + bias;      // [B, H, Lq, Lk]
    scores = scores.masked_fill(keep.logical_not(), lowestFinite(x.scalar_type()));
    at::Tensor p = at::softmax(scores.to(at::kFloat), -1).to(x.scalar_type()); // [B, H, Lq, Lk]
    at::Tensor out = at::matmul(p, vh).transpose(1, 2).reshape({B, L, H * d}); // [B, L, dimAttn]
    return at::linear(out, o);                                                 // [B, L, D]
}

void T5FeedForward::load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg) {
    gate = w.take(prefix + "gate.0.weight", {cfg.dimFfn, cfg.dim});
    fc1 = w.take(prefix + "fc1.weight", {cfg.dimFfn, cfg.dim});
    fc2 = w.take(prefix + "fc2.weight", {cfg.dim, cfg.dimFfn});
}

at::Tensor T5FeedForward::forward(const at::Tensor& x) const {
    at::Tensor h = at::linear(x, fc1) * geluTanh(at::linear(x, gate)); // [B, L, F]
    return at::linear(h, fc2);                                          // [B, L, D]
}

void T5Block::load(io::WeightLoader& w, const std::string& prefix, const UMT5Config& cfg) {
    norm1 = w.take(prefix + "norm1.weight", {cfg.dim});
    attn.load(w, prefix + "attn.", cfg);
    norm2 = w.take(prefix + "norm2.weight", {cfg.dim});
    ffn.load(w, prefix + "ffn.", cfg);
    if (!cfg.sharedPos) {
        posEmbedding.load(w, prefix + "pos_embedding.", cfg);
    }
}

at::Tensor T5Block::forward(const at::Tensor& x, const at::Tensor& keep, const at::Tensor& sharedBias,
                            const UMT5Config& cfg) const {
    const int64_t L = x.size(1);
    at::Tensor bias = cfg.sharedPos ? sharedBias : posEmbedding.forward(L, L, cfg.numBuckets); // [1, H, L, L]
    at::Tensor h = fp16Clamp(x + attn.forward(t5Norm(x, norm1, cfg.eps), keep, bias, cfg));     // [B, L, D]
    return fp16Clamp(h + ffn.forward(t5Norm(h, norm2, cfg.eps)));                              // [B, L, D]
}

// ---------------------------------------------------------------------------------------------- model

UMT5Encoder::UMT5Encoder(const io::WeightSource& source, const UMT5Config& config, at::ScalarType dtype,
                         at::Device device)
    : config_(config), dtype_(dtype), device_(device) {
    config_.validate();
    lowestFinite(dtype); // rejects non-float compute dtypes up front
    io::WeightLoader w(source, dtype, device);
    const auto& c = config_;
    tokenEmbedding_ = w.take("token_embedding.weight", {c.vocab, c.dim});
    if (c.sharedPos) {
        sharedPos_.load(w, "pos_embedding.", c);
    }
    blocks_.resize(c.numLayers);
    for (int64_t i = 0; i < c.numLayers; ++i) {
        blocks_[i].load(w, fmt::format("blocks.{}.", i), c);
    }
    norm_ = w.take("norm.weight", {c.dim});
    w.finish();
}

at::Tensor UMT5Encoder::forward(const at::Tensor& idsIn, const at::Tensor& maskIn) const {
    const auto& c = config_;
    if (idsIn.dim() != 2 || !at::isIntegralType(idsIn.scalar_type(), /*includeBool=*/false)) {
        throw ConfigError(fmt::format("UMT5 ids must be an integer tensor [B, L], got {} {}",
                                      c10::toString(idsIn.scalar_type()), c10::str(idsIn.sizes())));
    }
    if (maskIn.sizes() != idsIn.sizes()) {
        throw ConfigError(fmt::format("UMT5 mask must have the ids' shape {}, got {}", c10::str(idsIn.sizes()),
                                      c10::str(maskIn.sizes())));
    }
    if (idsIn.numel() > 0) {
        const int64_t lo = idsIn.min().item<int64_t>(), hi = idsIn.max().item<int64_t>();
        if (lo < 0 || hi >= c.vocab) {
            throw ConfigError(fmt::format("UMT5 token id out of range: ids span [{}, {}], vocabulary is [0, {})", lo,
                                          hi, c.vocab));
        }
    }
    const int64_t B = idsIn.size(0), L = idsIn.size(1);
    at::Tensor ids = idsIn.to(device_, at::kLong);
    at::Tensor keep = maskIn.to(device_).ne(0).view({B, 1, 1, L}); // [B, 1, 1, Lk] true = valid key

    at::Tensor x = at::embedding(tokenEmbedding_, ids); // [B, L, D]
    trace("embedded", x);
    at::Tensor sharedBias = c.sharedPos ? sharedPos_.forward(L, L, c.numBuckets) : at::Tensor(); // [1, H, L, L]
    for (size_t i = 0; i < blocks_.size(); ++i) {
        x = blocks_[i].forward(x, keep, sharedBias, c);
        if (isTracing()) {
            trace(fmt::format("block{}_out", i), x);
        }
    }
    return t5Norm(x, norm_, c.eps).to(dtype_); // [B, L, D]
}

at::Tensor UMT5Encoder::encode(const at::Tensor& ids, const at::Tensor& mask) const {
    at::Tensor out = forward(ids, mask);                                             // [B, L, D]
    const int64_t L = ids.size(1);
    at::Tensor valid = mask.to(device_).ne(0).sum(1, /*keepdim=*/true);              // [B, 1] valid length v
    at::Tensor isPadding = at::arange(L, valid.options()).unsqueeze(0).ge(valid);    // [B, L] rows ≥ v
    return out.masked_fill(isPadding.unsqueeze(-1), 0.0);                            // [B, L, D]
}

} // namespace ditstudio
