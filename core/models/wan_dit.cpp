#include "core/models/wan_dit.h"

#include "core/runtime/trace.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>

namespace ditstudio {

// ---------------------------------------------------------------------------------------------- config

WanDiTConfig WanDiTConfig::fromJson(const nlohmann::json& json) {
    if (!json.is_object()) {
        throw ConfigError("DiT config must be a JSON object");
    }
    WanDiTConfig c;
    auto integer = [&](const char* key, int64_t& field) {
        if (json.contains(key)) {
            if (!json[key].is_number_integer()) {
                throw ConfigError(fmt::format("DiT config '{}' must be an integer, got {}", key, json[key].dump()));
            }
            field = json[key].get<int64_t>();
        }
    };
    integer("dim", c.dim);
    integer("ffn_dim", c.ffnDim);
    integer("num_heads", c.numHeads);
    integer("num_layers", c.numLayers);
    integer("in_dim", c.inDim);
    integer("out_dim", c.outDim);
    integer("text_dim", c.textDim);
    integer("freq_dim", c.freqDim);
    if (json.contains("eps")) {
        if (!json["eps"].is_number()) {
            throw ConfigError("DiT config 'eps' must be a number");
        }
        c.eps = json["eps"].get<double>();
    }
    if (json.contains("patch_size")) {
        const auto& p = json["patch_size"];
        if (!p.is_array() || p.size() != 3 || !p[0].is_number_integer() || !p[1].is_number_integer() ||
            !p[2].is_number_integer()) {
            throw ConfigError(fmt::format("DiT config 'patch_size' must be three integers, got {}", p.dump()));
        }
        c.patchSize = {p[0].get<int64_t>(), p[1].get<int64_t>(), p[2].get<int64_t>()};
    }
    c.validate();
    return c;
}

nlohmann::json WanDiTConfig::toJson() const {
    return nlohmann::json{{"dim", dim},         {"ffn_dim", ffnDim},   {"num_heads", numHeads},
                          {"num_layers", numLayers}, {"in_dim", inDim}, {"out_dim", outDim},
                          {"text_dim", textDim}, {"freq_dim", freqDim}, {"patch_size", patchSize},
                          {"eps", eps}};
}

WanDiTConfig WanDiTConfig::wan13B() { return WanDiTConfig{}; }

WanDiTConfig WanDiTConfig::wan14B() {
    WanDiTConfig c;
    c.dim = 5120;
    c.ffnDim = 13824;
    c.numHeads = 40;
    c.numLayers = 40;
    return c;
}

void WanDiTConfig::validate() const {
    if (dim <= 0 || numHeads <= 0 || dim % numHeads != 0) {
        throw ConfigError(fmt::format("DiT dim {} must be a positive multiple of num_heads {}", dim, numHeads));
    }
    if (headDim() % 2 != 0) {
        throw ConfigError(fmt::format("DiT head dim {} must be even for rotary embedding", headDim()));
    }
    const auto split = RopeSplit::forHeadDim(headDim());
    if (split.frameChannels / 2 + split.heightChannels / 2 + split.widthChannels / 2 != headDim() / 2) {
        throw ConfigError(fmt::format("DiT head dim {} does not split into 3-D rotary pairs ({}+{}+{} channels)",
                                      headDim(), split.frameChannels, split.heightChannels, split.widthChannels));
    }
    if (freqDim <= 0 || freqDim % 2 != 0) {
        throw ConfigError(fmt::format("DiT freq_dim must be a positive even number, got {}", freqDim));
    }
    for (auto p : patchSize) {
        if (p <= 0) {
            throw ConfigError("DiT patch_size entries must be positive");
        }
    }
}

WanDiTConfig WanDiTConfig::fromWeights(const io::WeightSource& source, std::optional<int64_t> numHeads) {
    auto need = [&](const std::string& name, size_t rank) {
        if (!source.contains(name)) {
            throw ModelError(fmt::format("{}: not a Wan DiT checkpoint: missing tensor '{}'", source.origin(), name));
        }
        auto shape = source.shape(name);
        if (shape.size() != rank) {
            throw ModelError(fmt::format("{}: tensor '{}' has rank {}, expected {}", source.origin(), name,
                                         shape.size(), rank));
        }
        return shape;
    };
    WanDiTConfig c;
    const auto patch = need("patch_embedding.weight", 5); // [D, in, pt, ph, pw]
    c.dim = patch[0];
    c.inDim = patch[1];
    c.patchSize = {patch[2], patch[3], patch[4]};
    c.textDim = need("text_embedding.0.weight", 2)[1];
    c.freqDim = need("time_embedding.0.weight", 2)[1];
    c.ffnDim = need("blocks.0.ffn.0.weight", 2)[0];
    const auto headShape = need("head.head.weight", 2);
    c.outDim = headShape[0] / (c.patchSize[0] * c.patchSize[1] * c.patchSize[2]);
    int64_t layers = 0;
    while (source.contains(fmt::format("blocks.{}.modulation", layers))) {
        ++layers;
    }
    c.numLayers = layers;
    c.numHeads = numHeads.value_or(c.dim % 128 == 0 ? c.dim / 128 : 0);
    if (c.numHeads <= 0) {
        throw ModelError(fmt::format("{}: dim {} is not a multiple of the Wan head size 128; give the head count",
                                     source.origin(), c.dim));
    }
    c.validate();
    return c;
}

// ---------------------------------------------------------------------------------------------- RoPE

RopeSplit RopeSplit::forHeadDim(int64_t headDim) {
    return RopeSplit{headDim - 2 * (headDim / 3), headDim / 3, headDim / 3};
}

// θ_{p,j} = p · 1/10000^(2j/a) for j < a/2 (float64), positions 0..n−1: [n, a/2].
static at::Tensor axisAngles(int64_t channels, int64_t positions) {
    auto opts = at::TensorOptions().dtype(at::kDouble);
    at::Tensor exponents = at::arange(0, channels, 2, opts).slice(0, 0, channels / 2).div(static_cast<double>(channels));
    at::Tensor inv = 1.0 / at::pow(10000.0, exponents);
    return at::outer(at::arange(positions, opts), inv);
}

RopeTable RopeTable::build(int64_t headDim, int64_t f, int64_t h, int64_t w, at::Device device) {
    if (f > 1024 || h > 1024 || w > 1024) {
        throw ConfigError(fmt::format("token grid {}x{}x{} exceeds the rotary table of 1024 positions per axis", f, h,
                                      w));
    }
    const auto split = RopeSplit::forHeadDim(headDim);
    at::Tensor af = axisAngles(split.frameChannels, f);  // [f, cf]
    at::Tensor ah = axisAngles(split.heightChannels, h); // [h, ch]
    at::Tensor aw = axisAngles(split.widthChannels, w);  // [w, cw]
    at::Tensor angles = at::cat({af.view({f, 1, 1, -1}).expand({f, h, w, af.size(1)}),
                                 ah.view({1, h, 1, -1}).expand({f, h, w, ah.size(1)}),
                                 aw.view({1, 1, w, -1}).expand({f, h, w, aw.size(1)})},
                                -1)
                           .reshape({f * h * w, -1}); // [L, d/2]
    // torch.polar(1, θ) = cos θ + i sin θ.
    return RopeTable{at::cos(angles).to(device), at::sin(angles).to(device)};
}

RopeTable RopeTable::slice(int64_t begin, int64_t end) const {
    const int64_t length = cos.size(0);
    const int64_t validEnd = std::min(end, length);
    at::Tensor c = cos.slice(0, std::min(begin, length), validEnd);
    at::Tensor s = sin.slice(0, std::min(begin, length), validEnd);
    const int64_t missing = (end - begin) - c.size(0);
    if (missing > 0) { // identity rotation for padding tokens
        c = at::cat({c, at::ones({missing, cos.size(1)}, cos.options())});
        s = at::cat({s, at::zeros({missing, sin.size(1)}, sin.options())});
    }
    return RopeTable{c, s};
}

at::Tensor applyRope(const at::Tensor& x, const RopeTable& rope) {
    // x [B, L, H, d]; rope.cos/sin [L, d/2], float64 unless converted (RopeTable::to).
    const auto sizes = x.sizes().vec();
    at::Tensor xd = x.to(rope.cos.scalar_type()).reshape({sizes[0], sizes[1], sizes[2], sizes[3] / 2, 2});
    at::Tensor re = xd.select(-1, 0);                   // [B, L, H, d/2]
    at::Tensor im = xd.select(-1, 1);
    at::Tensor c = rope.cos.view({1, sizes[1], 1, -1}); // [1, L, 1, d/2]
    at::Tensor s = rope.sin.view({1, sizes[1], 1, -1});
    at::Tensor outRe = re * c - im * s;
    at::Tensor outIm = re * s + im * c;
    return at::stack({outRe, outIm}, -1).reshape(sizes).to(x.scalar_type());
}

// ---------------------------------------------------------------------------------------------- pieces

at::Tensor sinusoidalEmbedding(const at::Tensor& t, int64_t freqDim) {
    const int64_t half = freqDim / 2;
    auto opts = at::TensorOptions().dtype(at::kDouble).device(t.device());
    at::Tensor omega = at::pow(10000.0, -at::arange(half, opts).div(static_cast<double>(half))); // [half]
    at::Tensor a = at::outer(t.to(at::kDouble).reshape({-1}), omega);                           // [B, half]
    return at::cat({at::cos(a), at::sin(a)}, 1).to(t.scalar_type());                            // [B, freqDim]
}

at::Tensor denseAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    // [B, L, H, d] → SDPA on [B, H, L, d] (scale 1/sqrt(d)) → [B, L, H, d]
    at::Tensor o = at::scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2));
    return o.transpose(1, 2);
}

static at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps) {
    // Statistics in float32, rounded back to the input dtype, then scaled by the weight (reference order).
    at::Tensor xf = x.to(at::kFloat);
    at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
    return normed.to(x.scalar_type()) * weight;
}

static at::Tensor layerNorm(const at::Tensor& x, double eps) {
    return at::layer_norm(x, {x.size(-1)}, {}, {}, eps);
}

void Linear::load(io::WeightLoader& w, const std::string& name, int64_t in, int64_t out, bool hasBias) {
    weight = w.take(name + ".weight", {out, in});
    if (hasBias) {
        bias = w.take(name + ".bias", {out});
    }
}

at::Tensor Linear::operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }

// ---------------------------------------------------------------------------------------------- block ops

DiTBlockOps DiTBlockOps::eager() {
    DiTBlockOps ops;
    ops.layerNormModulate = [](const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
        return layerNorm(x, eps) * (1 + scale) + shift; // [B, L, D]
    };
    ops.qkNormRope = [](const at::Tensor& x, const at::Tensor& weight, const RopeTable* rope, int64_t heads,
                        double eps) {
        at::Tensor y = rmsNorm(x, weight, eps).view({x.size(0), x.size(1), heads, -1}); // [B, L, H, d]
        return rope ? applyRope(y, *rope) : y;
    };
    ops.gatedResidual = [](const at::Tensor& x, const at::Tensor& gate, const at::Tensor& y) { return x + gate * y; };
    ops.ffnGeluTanh = [](const at::Tensor& x, const Linear& ffn0, const Linear& ffn2) {
        return ffn2(at::gelu(ffn0(x), "tanh")); // [B, L, D]
    };
    ops.qkvProjection = [](const at::Tensor& x, const DiTSelfAttention& attn) {
        return std::array<at::Tensor, 3>{attn.q(x), attn.k(x), attn.v(x)}; // [B, L, D] each
    };
    ops.attention = denseAttention;
    ops.ropeTable = RopeTable::build;
    return ops;
}

static const DiTBlockOps& eagerOps() {
    static const DiTBlockOps ops = DiTBlockOps::eager();
    return ops;
}

void DiTSelfAttention::load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg) {
    q.load(w, prefix + "q", cfg.dim, cfg.dim);
    k.load(w, prefix + "k", cfg.dim, cfg.dim);
    v.load(w, prefix + "v", cfg.dim, cfg.dim);
    o.load(w, prefix + "o", cfg.dim, cfg.dim);
    normQ = w.take(prefix + "norm_q.weight", {cfg.dim});
    normK = w.take(prefix + "norm_k.weight", {cfg.dim});
}

at::Tensor DiTSelfAttention::forward(const at::Tensor& x, const RopeTable& rope, const WanDiTConfig& cfg,
                                     const AttentionFn& attention, const DiTBlockOps* ops) const {
    const DiTBlockOps& op = ops ? *ops : eagerOps();
    const int64_t B = x.size(0), L = x.size(1), H = cfg.numHeads, d = cfg.headDim();
    const auto qkv = op.qkvProjection(x, *this);                      // [B, L, D] each
    at::Tensor qh = op.qkNormRope(qkv[0], normQ, &rope, H, cfg.eps);  // [B, L, H, d]
    at::Tensor kh = op.qkNormRope(qkv[1], normK, &rope, H, cfg.eps);  // [B, L, H, d]
    at::Tensor vh = qkv[2].view({B, L, H, d});                        // [B, L, H, d]
    at::Tensor out = attention ? attention(qh, kh, vh) : op.attention(qh, kh, vh); // [B, L, H, d]
    return o(out.reshape({B, L, H * d}));                                          // [B, L, D]
}

void DiTCrossAttention::load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg) {
    q.load(w, prefix + "q", cfg.dim, cfg.dim);
    k.load(w, prefix + "k", cfg.dim, cfg.dim);
    v.load(w, prefix + "v", cfg.dim, cfg.dim);
    o.load(w, prefix + "o", cfg.dim, cfg.dim);
    normQ = w.take(prefix + "norm_q.weight", {cfg.dim});
    normK = w.take(prefix + "norm_k.weight", {cfg.dim});
}

at::Tensor DiTCrossAttention::forward(const at::Tensor& x, const at::Tensor& ctx, const WanDiTConfig& cfg,
                                      const DiTBlockOps* ops) const {
    // Every query (local shard or not) attends to the full context, which each rank holds whole.
    const DiTBlockOps& op = ops ? *ops : eagerOps();
    const int64_t B = x.size(0), L = x.size(1), Lc = ctx.size(1), H = cfg.numHeads, d = cfg.headDim();
    at::Tensor qh = op.qkNormRope(q(x), normQ, nullptr, H, cfg.eps);    // [B, L, H, d]
    at::Tensor kh = rmsNorm(k(ctx), normK, cfg.eps).view({B, Lc, H, d}); // [B, Lc, H, d]
    at::Tensor vh = v(ctx).view({B, Lc, H, d});                          // [B, Lc, H, d]
    return o(denseAttention(qh, kh, vh).reshape({B, L, H * d}));         // [B, L, D]
}

void WanAttentionBlock::load(io::WeightLoader& w, const std::string& prefix, const WanDiTConfig& cfg) {
    modulation = w.take(prefix + "modulation", {1, 6, cfg.dim});
    selfAttn.load(w, prefix + "self_attn.", cfg);
    crossAttn.load(w, prefix + "cross_attn.", cfg);
    norm3Weight = w.take(prefix + "norm3.weight", {cfg.dim});
    norm3Bias = w.take(prefix + "norm3.bias", {cfg.dim});
    ffn0.load(w, prefix + "ffn.0", cfg.dim, cfg.ffnDim);
    ffn2.load(w, prefix + "ffn.2", cfg.ffnDim, cfg.dim);
}

at::Tensor WanAttentionBlock::forward(const at::Tensor& x, const at::Tensor& ctx, const at::Tensor& tmod,
                                      const RopeTable& rope, const WanDiTConfig& cfg,
                                      const AttentionFn& attention, const DiTBlockOps* ops) const {
    const DiTBlockOps& op = ops ? *ops : eagerOps();
    // mod [B, 6, D] → six [B, 1, D]: shift/scale/gate for self-attention, then for the FFN.
    auto mod = (modulation + tmod).chunk(6, 1);
    const auto &shiftMsa = mod[0], &scaleMsa = mod[1], &gateMsa = mod[2];
    const auto &shiftMlp = mod[3], &scaleMlp = mod[4], &gateMlp = mod[5];

    at::Tensor a = op.layerNormModulate(x, shiftMsa, scaleMsa, cfg.eps); // [B, L, D]
    at::Tensor h = op.gatedResidual(x, gateMsa, selfAttn.forward(a, rope, cfg, attention, ops));
    at::Tensor c = at::layer_norm(h, {cfg.dim}, norm3Weight, norm3Bias, cfg.eps);
    h = h + crossAttn.forward(c, ctx, cfg, ops);
    at::Tensor m = op.layerNormModulate(h, shiftMlp, scaleMlp, cfg.eps);
    at::Tensor f = op.ffnGeluTanh(m, ffn0, ffn2); // [B, L, D]
    return op.gatedResidual(h, gateMlp, f);
}

// ---------------------------------------------------------------------------------------------- model

WanDiT::WanDiT(const io::WeightSource& source, const WanDiTConfig& config, at::ScalarType dtype, at::Device device)
    : config_(config), dtype_(dtype), device_(device) {
    config_.validate();
    io::WeightLoader w(source, dtype, device);
    const auto& c = config_;
    patchWeight = w.take("patch_embedding.weight", {c.dim, c.inDim, c.patchSize[0], c.patchSize[1], c.patchSize[2]});
    patchBias = w.take("patch_embedding.bias", {c.dim});
    textEmb0.load(w, "text_embedding.0", c.textDim, c.dim);
    textEmb2.load(w, "text_embedding.2", c.dim, c.dim);
    timeEmb0.load(w, "time_embedding.0", c.freqDim, c.dim);
    timeEmb2.load(w, "time_embedding.2", c.dim, c.dim);
    timeProj.load(w, "time_projection.1", c.dim, 6 * c.dim);
    blocks_.resize(c.numLayers);
    for (int64_t i = 0; i < c.numLayers; ++i) {
        blocks_[i].load(w, fmt::format("blocks.{}.", i), c);
    }
    headModulation = w.take("head.modulation", {1, 2, c.dim});
    head.load(w, "head.head", c.dim, c.outDim * c.patchSize[0] * c.patchSize[1] * c.patchSize[2]);
    w.finish();
}

void WanDiT::setOps(DiTBlockOps ops) {
    const DiTBlockOps& e = eagerOps();
    auto fill = [](auto& entry, const auto& fallback) {
        if (!entry) {
            entry = fallback;
        }
    };
    fill(ops.layerNormModulate, e.layerNormModulate);
    fill(ops.qkNormRope, e.qkNormRope);
    fill(ops.gatedResidual, e.gatedResidual);
    fill(ops.ffnGeluTanh, e.ffnGeluTanh);
    fill(ops.qkvProjection, e.qkvProjection);
    fill(ops.attention, e.attention);
    fill(ops.ropeTable, e.ropeTable);
    ops_ = std::move(ops);
}

at::Tensor WanDiT::runBlock(size_t i, const at::Tensor& x, const at::Tensor& ctx, const at::Tensor& tmod,
                            const RopeTable& rope) const {
    return blocks_.at(i).forward(x, ctx, tmod, rope, config_, AttentionFn{}, &ops_);
}

at::Tensor WanDiT::embedContext(const at::Tensor& context) const {
    return textEmb2(at::gelu(textEmb0(context.to(device_, dtype_)), "tanh")); // [B, Lc, D]
}

at::Tensor WanDiT::forward(const at::Tensor& xIn, const at::Tensor& tIn, const at::Tensor& contextIn,
                           const SequenceParallelHooks* parallel) const {
    const auto& c = config_;
    if (xIn.dim() != 5 || xIn.size(1) != c.inDim) {
        throw ConfigError(fmt::format("DiT input must be [B, {}, F, H, W], got {}", c.inDim,
                                      c10::str(xIn.sizes())));
    }
    if (contextIn.dim() != 3 || contextIn.size(2) != c.textDim) {
        throw ConfigError(fmt::format("DiT context must be [B, Lc, {}], got {}", c.textDim,
                                      c10::str(contextIn.sizes())));
    }
    const int64_t B = xIn.size(0);
    const int64_t f = xIn.size(2) / c.patchSize[0], h = xIn.size(3) / c.patchSize[1], w = xIn.size(4) / c.patchSize[2];
    if (f * c.patchSize[0] != xIn.size(2) || h * c.patchSize[1] != xIn.size(3) || w * c.patchSize[2] != xIn.size(4)) {
        throw ConfigError(fmt::format("latent size {} is not divisible by the patch size [{}, {}, {}]",
                                      c10::str(xIn.sizes().slice(2)), c.patchSize[0], c.patchSize[1],
                                      c.patchSize[2]));
    }
    at::Tensor x = xIn.to(device_, dtype_);
    at::Tensor t = tIn.to(device_, dtype_).reshape({-1}); // the pipeline feeds t in its own dtype
    if (t.size(0) != B && t.size(0) == 1) {
        t = t.expand({B});
    }

    at::Tensor temb = timeEmb2(at::silu(timeEmb0(sinusoidalEmbedding(t, c.freqDim)))); // [B, D]
    trace("t_embedded", temb);
    at::Tensor tproj = timeProj(at::silu(temb)); // [B, 6D]
    trace("t_projected", tproj);
    at::Tensor tmod = tproj.view({B, 6, c.dim}); // [B, 6, D]
    at::Tensor ctx = embedContext(contextIn);    // [B, Lc, D]
    trace("context_embedded", ctx);

    at::Tensor tokens = at::conv3d(x, patchWeight, patchBias, {c.patchSize[0], c.patchSize[1], c.patchSize[2]});
    tokens = tokens.flatten(2).transpose(1, 2).contiguous(); // [B, L, D], token (fi·h + hi)·w + wi
    const int64_t L = tokens.size(1);
    RopeTable rope = ops_.ropeTable(c.headDim(), f, h, w, device_);

    AttentionFn attention = parallel ? parallel->attention : AttentionFn{};
    if (parallel && parallel->shard) {
        std::tie(tokens, rope) = parallel->shard(tokens, rope); // [B, L/world, D] (sequence shard)
    }
    if (ops_.runBlocks && !parallel) {
        tokens = ops_.runBlocks(*this, tokens, ctx, tmod, rope); // traces block{i}_out itself
    } else {
        for (size_t i = 0; i < blocks_.size(); ++i) {
            tokens = blocks_[i].forward(tokens, ctx, tmod, rope, c, attention, &ops_);
            if (isTracing()) {
                trace(fmt::format("block{}_out", i), tokens);
            }
        }
    }
    auto hm = (headModulation + temb.unsqueeze(1)).chunk(2, 1); // shift, scale: [B, 1, D]
    at::Tensor z = head(layerNorm(tokens, c.eps) * (1 + hm[1]) + hm[0]); // [B, L(shard), P·out]
    if (parallel && parallel->gather) {
        z = parallel->gather(z, L); // [B, L, P·out]
    }
    trace("head_out", z);

    // Unpatchify: channel index ((pt·ph + py)·pw + px)·out + c.
    const int64_t pt = c.patchSize[0], ph = c.patchSize[1], pw = c.patchSize[2];
    return z.view({B, f, h, w, pt, ph, pw, c.outDim})
        .permute({0, 7, 1, 4, 2, 5, 3, 6})
        .reshape({B, c.outDim, f * pt, h * ph, w * pw});
}

} // namespace ditstudio
