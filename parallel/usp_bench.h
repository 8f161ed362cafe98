// `ditstudio-cli bench-usp`: one denoising step with classifier-free guidance (the conditional and the unconditional
// DiT forward, combined, then the scheduler update), timed on a rank group of world = cfg × ring × ulysses
// processes started by the launcher, with random bf16 weights at a real Wan 2.1 config (no download).
//
// Every rank runs the generation code path: `makeParallelVelocity` (the USP hooks in `WanDiT::forward`) inside
// `denoise`, as service/rank_control.cpp does; only the four groups of the UspGroups are wrapped in
// TimedCommunicators (comm_timing.h) to measure the communication. Rank 0 gathers every rank's numbers and writes
// the result (JSON):
//   step_s            median over the timed steps of the step time of the slowest rank (host clock, device synced)
//   comm_s            median over the timed steps of the per-rank communication time, averaged over the ranks;
//                     comm_s_max_rank the same for the rank that communicates longest; comm_s_by_group per group
//                     (ulysses, ring, sequence, cfg). On CUDA: CUDA events, i.e. the exposed time (comm_method).
//   peak_mem_GiB      per rank: the CUDA caching allocator's peak allocated bytes (weights included);
//                     on CPU: peak_rss_GiB, the process's peak resident set
//   world, ulysses, ring, cfg, split ("u2r2c1"), tokens, latent, model, layers, text_tokens, dtype, device
#pragma once
#include "core/models/wan_dit.h"
#include "core/runtime/generation.h"
#include "parallel/degrees.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

namespace ditstudio::parallel {

class Communicator;

// What every rank runs (crosses the process boundary as JSON: `ditstudio-rank --bench-usp JSON`).
struct UspBenchSettings {
    std::string modelConfig = "1.3B"; // 1.3B | 14B
    int64_t frames = 81;              // 4k+1
    int64_t height = 480;             // multiple of 16
    int64_t width = 832;              // multiple of 16
    int64_t textLength = 512;
    int64_t layers = 0;               // 0: the config's layer count
    int iterations = 2;               // timed steps
    int warmup = 1;                   // untimed steps first (NCCL communicators are created lazily on first use)
    std::string dtype = "bfloat16";   // bfloat16 | float32
    double cfgScale = 5.0;
    CompileSettings compile;          // the DiT's compile settings (mode none: eager), applied on every rank

    nlohmann::json toJson() const;
    static UspBenchSettings fromJson(const nlohmann::json& json);
    // The model config (layers applied). Throws ConfigError naming the setting: unknown config, a size that is not a
    // multiple of 16, frames not 4k+1, iterations < 1, warmup < 0.
    WanDiTConfig modelConfigChecked() const;
    int64_t tokens() const; // after patchify: F·(H/16)·(W/16) with F = (frames−1)/4 + 1
};

// Random weights for a config (kernels::randomDiTWeights; injected so that parallel/ does not depend on kernels/).
using RandomWeightsFn =
    std::function<std::map<std::string, at::Tensor>(const WanDiTConfig& config, at::ScalarType dtype, at::Device)>;

// Rank side, collective over `world`: builds the model, runs warmup + iterations steps, gathers. The result is
// complete on rank 0 only.
// `compiler` applies settings.compile to the DiT (kernels::compileDiT in ditstudio-rank); needed unless its mode is
// none (ConfigError otherwise).
nlohmann::json runUspStepBench(Communicator& world, const ParallelDegrees& degrees, at::Device device,
                               const UspBenchSettings& settings, const RandomWeightsFn& randomWeights,
                               const Generator::DiTCompiler& compiler);

struct UspBenchOptions {
    UspBenchSettings settings;
    ParallelDegrees degrees;
    std::string device = "cuda"; // cuda: rank r on cuda:r over NCCL; cpu: CPU ranks over the CPU transport
    std::filesystem::path rankExecutable; // empty: findRankExecutable()
    std::chrono::milliseconds timeout{1'800'000};
    std::chrono::milliseconds heartbeatTimeout{60'000};
    std::string logLevel = "info";
};

// Refuses, before anything starts, settings and degrees that cannot run: ConfigError naming the numbers (heads %
// ulysses, more ranks than GPUs, bad sizes).
void checkUspBench(const UspBenchOptions& options);
// Launcher side: starts the group, waits, returns rank 0's result. Throws Error with the group's failure reason
// (which rank, why) or the timeout.
nlohmann::json runUspBenchOnRanks(const UspBenchOptions& options);
// "bench-usp 1.3B 81x480x832 (32760 tokens) ulysses 2 × ring 1 × cfg 1 = 2: step 1.234 s, comm 0.120 s ..."
std::string formatUspBench(const nlohmann::json& result);

} // namespace ditstudio::parallel
