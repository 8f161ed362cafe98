#include "kernels/vae_bench.h"

#include "core/io/weight_loader.h"
#include "core/io/weight_source.h"
#include "core/runtime/generation.h"
#include "core/util/error.h"
#include "kernels/bench_profile.h"
#include "kernels/bench_timing.h"
#include "kernels/cuda_check.h"
#include "kernels/fused_ops.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

namespace ditstudio::kernels {

namespace {

// Norm scales 1, biases 0, everything else N(0, 1/fan_in): activations stay in range through the whole decoder.
at::Tensor randomVaeTensor(const std::string& name, const std::vector<int64_t>& shape, at::ScalarType dtype,
                           at::Device device) {
    const auto opts = at::TensorOptions().dtype(dtype).device(device);
    if (name.find("gamma") != std::string::npos) {
        return at::ones(shape, opts);
    }
    if (name.ends_with(".bias")) {
        return at::zeros(shape, opts);
    }
    int64_t fanIn = 1;
    for (size_t i = 1; i < shape.size(); ++i) {
        fanIn *= shape[i];
    }
    return at::randn(shape, opts).div_(std::sqrt(static_cast<double>(std::max<int64_t>(fanIn, 1))));
}

} // namespace

nlohmann::json runVaeDecodeBench(const VaeBenchOptions& o) {
    if (o.frames < 1 || (o.frames - 1) % 4 != 0) {
        throw ConfigError(fmt::format("bench --vae-decode --frames: {} is not of the form 4k+1", o.frames));
    }
    if (o.height <= 0 || o.width <= 0 || o.height % 8 != 0 || o.width % 8 != 0) {
        throw ConfigError(fmt::format("bench --vae-decode: height {} and width {} must be positive multiples of 8",
                                      o.height, o.width));
    }
    if (o.iterations < 1 || o.warmup < 0) {
        throw ConfigError("bench: --iters must be ≥ 1 and --warmup ≥ 0");
    }
    const WanVAEConfig cfg;
    const int64_t F = (o.frames - 1) / 4 + 1, H = o.height / 8, W = o.width / 8;
    nlohmann::json result;
    result["bench"] = "vae_decode";
    result["latent"] = {1, cfg.zDim, F, H, W};
    result["video"] = {o.frames, o.height, o.width};
    result["tiled"] = o.tiled;
    if (o.tiled) {
        result["tiles"] = {o.tiles.tileH, o.tiles.tileW, o.tiles.strideH, o.tiles.strideW};
    }
    result["dtype"] = c10::toString(o.dtype);
    result["device"] = deviceName(o.device);

    const double t0 = nowSeconds();
    at::manual_seed(0);
    std::map<std::string, at::Tensor> weights;
    std::unique_ptr<WanVAE> vae;
    {
        io::ScopedWeightInit init([&](const std::string& n, const std::vector<int64_t>& shape) {
            return randomVaeTensor(n, shape, o.dtype, o.device);
        }, &weights);
        const auto none = io::WeightSource::fromTensors({}, "random weights");
        vae = std::make_unique<WanVAE>(none, cfg, o.dtype, o.device);
    }
    synchronizeDevice(o.device);
    result["setup_s"] = nowSeconds() - t0;

    const at::Tensor z = at::randn({1, cfg.zDim, F, H, W}, at::TensorOptions().dtype(o.dtype).device(o.device));
    at::Tensor video;
    result["conv_autotune"] = o.compiled;
    result["fused_norm"] = o.compiled && o.device.is_cuda() && isFusionEnabled();
    const ConvolutionAutotuneScope tuned(o.compiled); // for the timing and the profile below
    if (o.compiled) {
        vae->setNormOp(vaeRmsNormSilu);
    }
    const RepeatedTiming timing = timeRepeated(o.device, o.warmup, o.iterations, [&] {
        video = o.tiled ? vae->decodeTiled(z, o.tiles) : vae->decode(z);
    });
    result["output_shape"] = video.sizes().vec();
    result["output_finite"] = at::isfinite(video).all().item<bool>();
    result["first_call_s"] = timing.firstCallSeconds;
    result["median_s"] = timing.median;
    result["all_s"] = timing.seconds;
    if (const auto peak = peakMemoryGiB(o.device)) {
        result["peak_mem_GiB"] = *peak;
    }
    if (o.profileIterations > 0) {
        result["profile"] = profileCalls(o.device, o.profileIterations, [&] {
            video = o.tiled ? vae->decodeTiled(z, o.tiles) : vae->decode(z);
        });
    }
    return result;
}

} // namespace ditstudio::kernels
