// `ditstudio-cli bench --vae-decode`: the Wan 2.1 VAE decode of one video's latents, with random weights at the
// real config (base width 96, z 16), as generation runs it: streaming one latent frame per decoder call, or tiled
// (pipeline tiles 30×52 every 15×26 latents, blended on the host), eager or compiled as generation compiles it.
// First call, warm-up, median of N, peak memory.
#pragma once
#include "core/models/wan_vae.h"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

namespace ditstudio::kernels {

struct VaeBenchOptions {
    int64_t frames = 81, height = 480, width = 832;
    bool tiled = false;
    TileSettings tiles;
    int iterations = 2;
    int warmup = 0;
    at::ScalarType dtype = at::kBFloat16;
    at::Device device = at::kCPU;
    int profileIterations = 0; // > 0: after the timing, that many decodes under the profiler → result["profile"]
    // The compiled VAE (compilesVae: compile.models ∋ vae on CUDA): cuDNN measures conv algorithms per shape and the
    // norms run through kernels::vaeRmsNormSilu (its eager twin under DITSTUDIO_DISABLE_FUSION=1).
    bool compiled = false;
};

// Throws ConfigError for frames that are not 4k+1 or sizes that are not positive multiples of 8.
nlohmann::json runVaeDecodeBench(const VaeBenchOptions& options);

} // namespace ditstudio::kernels
