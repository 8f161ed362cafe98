// Golden VAE cases: untiled decode, tiled decode (tile/stride from the manifest), encode, and the uint8 frames of the
// untiled decode. Case file tensors: decode.input/output, tiled_decode.input/output, encode.input ([3, T, H, W] or
// [1, 3, T, H, W]) / encode.output, decode.frames_uint8_THWC. The config is the manifest entry's own keys (dim, z_dim,
// dim_mult, …, or a "config" object), else inferred from the weights.
#include "core/models/wan_vae.h"
#include "core/util/error.h"
#include "core/verify/checkers.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace ditstudio::verify {

// Reduced precision (bf16/fp16) is compared with the float32 reference within these bounds: about 3× the drift
// measured on the CPU with the vae_tiny weights (bf16: rel. L2 0.0139 decode, 0.0138 tiled, 0.0061 encode, uint8
// frames off by up to 5; fp16: 0.0017 and 1).
constexpr double kReducedRelL2Tolerance = 0.04;
constexpr int kReducedU8Tolerance = 12;

// Float32 on CUDA: cuDNN convolutions default to TF32 (≈1e-3 relative error), which is not what the float32 reference
// computed; IEEE float32 convolutions for the duration of the check.
class IeeeConvolutionScope {
public:
    explicit IeeeConvolutionScope(bool active) : active_(active) {
        if (active_) {
            saved_ = at::globalContext().float32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV);
            at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV,
                                                    at::Float32Precision::IEEE);
        }
    }
    ~IeeeConvolutionScope() {
        if (active_) {
            at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV, saved_);
        }
    }
    IeeeConvolutionScope(const IeeeConvolutionScope&) = delete;
    IeeeConvolutionScope& operator=(const IeeeConvolutionScope&) = delete;

private:
    bool active_;
    at::Float32Precision saved_ = at::Float32Precision::NONE;
};

static std::pair<int64_t, int64_t> pairSetting(const CaseContext& ctx, const char* key) {
    const auto& e = ctx.entry;
    if (!e.contains(key) || !e[key].is_array() || e[key].size() != 2 || !e[key][0].is_number_integer() ||
        !e[key][1].is_number_integer()) {
        throw FormatError(fmt::format("manifest case '{}' needs \"{}\": [h, w] in latent units", ctx.name, key));
    }
    return {e[key][0].get<int64_t>(), e[key][1].get<int64_t>()};
}

void checkVae(const CaseContext& ctx, CaseResult& result) {
    if (!ctx.entry.contains("weights") || !ctx.entry["weights"].is_string()) {
        throw FormatError(fmt::format("manifest case '{}' has no \"weights\" file name", ctx.name));
    }
    const auto weights = io::WeightSource::open(ctx.dir / ctx.entry["weights"].get<std::string>());
    WanVAEConfig cfg;
    if (ctx.entry.contains("config")) {
        cfg = WanVAEConfig::fromJson(ctx.entry["config"]);
    } else if (ctx.entry.contains("dim")) {
        cfg = WanVAEConfig::fromJson(ctx.entry);
    } else {
        cfg = WanVAEConfig::fromWeights(weights);
    }
    const auto [tileH, tileW] = pairSetting(ctx, "tile_size");
    const auto [strideH, strideW] = pairSetting(ctx, "tile_stride");
    const TileSettings tiles{tileH, tileW, strideH, strideW};
    const auto caseFile = ctx.file("case");
    const WanVAE vae(weights, cfg, ctx.options.dtype, ctx.options.device);

    const bool reduced = ctx.options.dtype != at::kFloat;
    const IeeeConvolutionScope ieee(!reduced && ctx.options.device.is_cuda());
    const std::string suffix = reduced ? fmt::format("({} vs fp32)", c10::toString(ctx.options.dtype)) : "";
    const double relTol = reduced ? kReducedRelL2Tolerance : kRelL2Tolerance;

    at::Tensor decoded = vae.decode(caseFile.tensor("decode.input")); // [1, 3, T, H, W]
    checkRelL2(result, "decode.output" + suffix, decoded, caseFile.tensor("decode.output"), relTol);

    at::Tensor tiled = vae.decodeTiled(caseFile.tensor("tiled_decode.input"), tiles);
    checkRelL2(result, "tiled_decode.output" + suffix, tiled, caseFile.tensor("tiled_decode.output"), relTol);

    at::Tensor clip = caseFile.tensor("encode.input");
    if (clip.dim() == 4) {
        clip = clip.unsqueeze(0); // [3, T, H, W] → [1, 3, T, H, W]
    }
    checkRelL2(result, "encode.output" + suffix, vae.encode(clip), caseFile.tensor("encode.output"), relTol);

    checkMaxAbsU8(result, "decode.frames_uint8_THWC" + suffix, videoToUint8Frames(decoded),
                  caseFile.tensor("decode.frames_uint8_THWC"), reduced ? kReducedU8Tolerance : 1);
}

} // namespace ditstudio::verify
