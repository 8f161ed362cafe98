#include "kernels/dit_bench.h"

#include "core/io/weight_source.h"
#include "core/util/error.h"
#include "kernels/bench_profile.h"
#include "kernels/bench_timing.h"
#include "kernels/compile.h"
#include "kernels/compile_settings.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

namespace ditstudio::kernels {

std::map<std::string, at::Tensor> randomDiTWeights(const WanDiTConfig& c, at::ScalarType dtype, at::Device device,
                                                   uint64_t seed) {
    at::manual_seed(seed);
    const auto opts = at::TensorOptions().dtype(dtype).device(device);
    std::map<std::string, at::Tensor> w;
    auto normal = [&](const std::string& name, std::vector<int64_t> shape, double std) {
        at::Tensor t = at::randn(shape, opts);
        t.mul_(std);
        w[name] = t;
    };
    auto linear = [&](const std::string& name, int64_t in, int64_t out) {
        normal(name + ".weight", {out, in}, 1.0 / std::sqrt(double(in)));
        normal(name + ".bias", {out}, 0.02);
    };
    const int64_t P = c.patchSize[0] * c.patchSize[1] * c.patchSize[2];
    normal("patch_embedding.weight", {c.dim, c.inDim, c.patchSize[0], c.patchSize[1], c.patchSize[2]},
           1.0 / std::sqrt(double(c.inDim * P)));
    normal("patch_embedding.bias", {c.dim}, 0.02);
    linear("text_embedding.0", c.textDim, c.dim);
    linear("text_embedding.2", c.dim, c.dim);
    linear("time_embedding.0", c.freqDim, c.dim);
    linear("time_embedding.2", c.dim, c.dim);
    linear("time_projection.1", c.dim, 6 * c.dim);
    for (int64_t i = 0; i < c.numLayers; ++i) {
        const std::string b = fmt::format("blocks.{}.", i);
        normal(b + "modulation", {1, 6, c.dim}, 1.0 / std::sqrt(double(c.dim)));
        for (const char* attn : {"self_attn.", "cross_attn."}) {
            for (const char* p : {"q", "k", "v", "o"}) {
                linear(b + attn + p, c.dim, c.dim);
            }
            normal(b + attn + "norm_q.weight", {c.dim}, 0.1);
            normal(b + attn + "norm_k.weight", {c.dim}, 0.1);
            w[b + attn + "norm_q.weight"].add_(1.0);
            w[b + attn + "norm_k.weight"].add_(1.0);
        }
        normal(b + "norm3.weight", {c.dim}, 0.1);
        w[b + "norm3.weight"].add_(1.0);
        normal(b + "norm3.bias", {c.dim}, 0.02);
        linear(b + "ffn.0", c.dim, c.ffnDim);
        linear(b + "ffn.2", c.ffnDim, c.dim);
    }
    normal("head.modulation", {1, 2, c.dim}, 1.0 / std::sqrt(double(c.dim)));
    linear("head.head", c.dim, c.outDim * P);
    return w;
}

double ditForwardFlops(const WanDiTConfig& c, int64_t N, int64_t ctx) {
    const double d = double(c.dim), f = double(c.ffnDim), n = double(N), m = double(ctx);
    const double perLayer = 4 * 2 * n * d * d + 2 * 2 * n * n * d // self-attention projections + attention
                            + 2 * 2 * n * d * d + 2 * 2 * m * d * d + 2 * 2 * n * m * d // cross-attention
                            + 2 * 2 * n * d * f;                                        // FFN
    return perLayer * double(c.numLayers);
}

nlohmann::json runDiTBench(const DiTBenchOptions& o) {
    WanDiTConfig cfg;
    if (o.modelConfig == "1.3B") {
        cfg = WanDiTConfig::wan13B();
    } else if (o.modelConfig == "14B") {
        cfg = WanDiTConfig::wan14B();
    } else {
        throw ConfigError(fmt::format("bench --model-config: unknown config '{}' (expected 1.3B or 14B)",
                                      o.modelConfig));
    }
    if (o.layers > 0) {
        cfg.numLayers = o.layers;
    }
    if (o.height % 16 != 0 || o.width % 16 != 0 || o.height <= 0 || o.width <= 0) {
        throw ConfigError(fmt::format("bench: height {} and width {} must be positive multiples of 16", o.height,
                                      o.width));
    }
    if (o.frames < 1 || (o.frames - 1) % 4 != 0) {
        throw ConfigError(fmt::format("bench --frames: {} is not of the form 4k+1", o.frames));
    }
    if (o.iterations < 1 || o.warmup < 0) {
        throw ConfigError("bench: --iters must be ≥ 1 and --warmup ≥ 0");
    }
    const int64_t F = (o.frames - 1) / 4 + 1, H = o.height / 8, W = o.width / 8;
    const int64_t tokens = F * (H / cfg.patchSize[1]) * (W / cfg.patchSize[2]) / cfg.patchSize[0];

    nlohmann::json result;
    result["model"] = o.modelConfig;
    result["layers"] = cfg.numLayers;
    result["latent"] = {1, cfg.inDim, F, H, W};
    result["tokens"] = tokens;
    result["text_tokens"] = o.textLength;
    result["dtype"] = c10::toString(o.dtype);
    result["compile"] = describe(o.compile);
    result["compile_mode"] = compileModeName(o.compile.mode);
    result["device"] = deviceName(o.device);

    const double t0 = nowSeconds();
    auto source = io::WeightSource::fromTensors(randomDiTWeights(cfg, o.dtype, o.device), "random weights");
    WanDiT dit(source, cfg, o.dtype, o.device);
    source = io::WeightSource::fromTensors({}, "released");
    const CompileReport report = compileDiT(dit, o.compile);
    result["compile_report"] = report.summary;
    synchronizeDevice(o.device);
    result["setup_s"] = nowSeconds() - t0;

    at::manual_seed(0);
    const auto opts = at::TensorOptions().dtype(o.dtype).device(o.device);
    const at::Tensor x = at::randn({1, cfg.inDim, F, H, W}, opts);
    const at::Tensor t = at::full({1}, 937.0, opts);
    const at::Tensor ctx = at::randn({1, o.textLength, cfg.textDim}, opts);

    at::Tensor out;
    const RepeatedTiming timing = timeRepeated(o.device, o.warmup, o.iterations, [&] { out = dit.forward(x, t, ctx); });
    const double flops = ditForwardFlops(cfg, tokens, o.textLength);
    result["first_call_s"] = timing.firstCallSeconds;
    result["output_finite"] = at::isfinite(out).all().item<bool>();
    result["median_s"] = timing.median;
    result["all_s"] = timing.seconds;
    result["flops_per_forward"] = flops;
    result["tflops"] = flops / timing.median / 1e12;
    if (const auto peak = peakMemoryGiB(o.device)) {
        result["peak_mem_GiB"] = *peak;
    }
    if (o.profileIterations > 0) {
        result["profile"] = profileCalls(o.device, o.profileIterations, [&] { out = dit.forward(x, t, ctx); });
    }
    return result;
}

} // namespace ditstudio::kernels
