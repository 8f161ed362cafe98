// `ditstudio-cli bench --t2v`: whole text-to-video generations — text encode, the CFG denoise, the VAE decode (no
// export) — with a model folder and resolved settings, as `generate --inline` runs them: the request's compile group
// applied to the DiT and the VAE. Model load timed apart; first call, warm-up, median of N for the whole generation
// and for each stage; peak memory.
#pragma once
#include "core/presets/generation_settings.h"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace ditstudio::kernels {

struct T2VBenchOptions {
    std::filesystem::path modelDir;
    GenerationSettings settings; // preset + overrides, validated by the caller
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;
    int iterations = 1;
    int warmup = 0;
};

// Throws ConfigError for bad counts, the Generator's errors for a bad model folder or settings.
nlohmann::json runT2VBench(const T2VBenchOptions& options);

} // namespace ditstudio::kernels
