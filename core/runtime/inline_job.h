// A whole generation in this process, as `ditstudio-cli generate --inline` runs it: Generator → final latents
// saved (so a failed decode can be retried) → export through FFmpeg → JSON sidecar. Everything written atomically.
#pragma once
#include "core/presets/generation_settings.h"
#include "core/runtime/generation.h"

#include <filesystem>
#include <string>

namespace ditstudio {

struct InlineJobOptions {
    std::filesystem::path modelDir;
    std::filesystem::path output; // file (mp4/webm/gif) or folder (png); its extension may pick the format
    std::string device = "auto";  // auto|cpu|cuda
    bool progressBar = true;      // a terminal bar (plain lines when stderr is not a terminal)
    bool saveLatents = true;      // <output>.latents.safetensors next to the output
    Generator::DiTCompiler compiler; // applies settings.compile (see Generator::setDiTCompiler); none: eager only
    VaeNormOp vaeNormOp;             // the fused VAE norm of a compiled VAE (see Generator::setVaeNormOp)
};

struct InlineJobResult {
    std::filesystem::path output;
    std::filesystem::path sidecar;
    GenerationResult generation;
    int64_t frameCount = 0, width = 0, height = 0;
    std::string codec;
};

InlineJobResult runInlineJob(const GenerationSettings& settings, const InlineJobOptions& options);

// auto → cuda when a CUDA device is present, else cpu; settings.dtype picks bf16/fp32 (fp32 on the CPU).
at::Device resolveDevice(const std::string& name);
at::ScalarType resolveDtype(const std::string& name, at::Device device);

} // namespace ditstudio
