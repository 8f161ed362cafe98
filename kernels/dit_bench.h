// `ditstudio-cli bench`: one DiT forward at a real model config with random weights (no download), as the DiffSynth
// anchor (../shared/gpu/baseline/anchor_bench.py) times it: random bf16 weights at the real shapes, latent
// [1, 16, (frames−1)/4+1, height/8, width/8], 512 text tokens, t = 937; first call timed on the host clock (compile,
// capture and autotune included), then warm-up and the median of N forwards with CUDA events; peak memory as
// torch.cuda.max_memory_allocated (weights included); FLOP per forward with the anchor's formula. With
// profileIterations, the same forward is then profiled per kernel (kernels/bench_profile.h).
#pragma once
#include "core/models/wan_dit.h"
#include "core/presets/generation_settings.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace ditstudio::kernels {

struct DiTBenchOptions {
    std::string modelConfig = "1.3B"; // 1.3B | 14B
    int64_t frames = 81;
    int64_t height = 480;
    int64_t width = 832;
    int64_t textLength = 512;
    int iterations = 3;
    int warmup = 1;
    int64_t layers = 0; // 0 = the config's layer count (fewer for quick runs)
    at::ScalarType dtype = at::kBFloat16;
    at::Device device = at::kCPU;
    CompileSettings compile;
    int profileIterations = 0; // > 0: after the timing, that many forwards under the profiler → result["profile"]
};

// Random weights for every tensor WanDiT loads, created on `device` in `dtype` (N(0, 1/fan_in) scale).
std::map<std::string, at::Tensor> randomDiTWeights(const WanDiTConfig& cfg, at::ScalarType dtype, at::Device device,
                                                   uint64_t seed = 0);
// FLOP of one forward (2 per multiply-add; attention 4·N²·dim per layer), as the anchor counts them.
double ditForwardFlops(const WanDiTConfig& cfg, int64_t tokens, int64_t textLength);

// Throws ConfigError for an unknown config or a size that is not a multiple of 16 / frames not 4k+1.
nlohmann::json runDiTBench(const DiTBenchOptions& options);

} // namespace ditstudio::kernels
