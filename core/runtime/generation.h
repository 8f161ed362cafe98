// One text-to-video generation from settings to frames, on one process (a rank of a group, or the whole job):
// load (kept warm between jobs of the same model/dtype/device) → encode prompts → denoise → decode. Export is the
// caller's (the worker or the CLI writes outputs). Stages are reported by name: "load", "encode", "denoise",
// "decode".
#pragma once
#include "core/models/wan_vae.h"
#include "core/presets/generation_settings.h"
#include "core/runtime/pipeline.h"

#include <ATen/core/Tensor.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ditstudio {

struct GenerationCallbacks {
    std::function<void(const std::string& stage)> onStage;
    // After each denoising step; `StepInfo::latents` is x_t. Return false to cancel.
    StepCallback onStep;
    // Each chunk of decoded frames as the VAE produces it: uint8 [t, H, W, 3], index of its first frame.
    std::function<void(const at::Tensor& frames, int64_t firstFrame)> onFrames;
};

struct GenerationResult {
    at::Tensor frames;  // uint8 [T, H, W, 3]
    at::Tensor latents; // final latents [1, C, F, h, w] (float32, CPU): saved before decode so decode can be retried
    std::map<std::string, double> stageSeconds;
    int64_t seed = 0;   // the seed actually used (random / increment resolved by the caller)
};

// The pieces of a loaded model (any layout ModelFolder understands, or the golden tiny set).
struct LoadedModel;

class Generator {
public:
    Generator(std::filesystem::path modelDir, at::Device device, at::ScalarType dtype);
    ~Generator();
    Generator(const Generator&) = delete;
    Generator& operator=(const Generator&) = delete;

    // Throws ConfigError/ModelError with a clear message; CancelledError when cancelled; OutOfMemoryError
    // (core/runtime/out_of_memory.h) naming the request when the device runs out of memory.
    GenerationResult generate(const GenerationSettings& settings, const GenerationCallbacks& callbacks = {},
                              const std::atomic<bool>* cancel = nullptr);

    // Where the guided velocity comes from (default: localGuidedVelocity). Sequence/CFG parallelism installs its
    // own (parallel/), so that every rank of a group runs this same generate().
    using VelocityFactory =
        std::function<VelocityFn(const WanDiT& dit, at::Tensor contextPositive, at::Tensor contextNegative, double cfgScale)>;
    void setVelocityFactory(VelocityFactory factory);

    // Applies a request's `compile` settings to the DiT (kernels::compileDiT in the programs that link the compiled
    // kernels: the CLI and the ranks) and returns the line it logs. generate() calls it before the denoise whenever
    // the settings differ from those last applied (the first request included). Without a compiler, a request whose
    // compile.mode is not `none` is refused with a ConfigError rather than run eagerly.
    using DiTCompiler = std::function<std::string(WanDiT& dit, const CompileSettings& settings)>;
    void setDiTCompiler(DiTCompiler compiler);

    // The fused VAE norm (+SiLU) the decode runs while a request compiles the VAE (compilesVae); the programs that
    // link the kernels install kernels::vaeRmsNormSilu. Without one, such a decode runs its norms eagerly (its
    // convolutions are still autotuned); requests that do not compile the VAE always do.
    void setVaeNormOp(VaeNormOp fused);

    // The latent-to-RGB projection of this model (16×3 + 3), for live previews.
    const at::Tensor& previewFactors() const;
    const at::Tensor& previewBias() const;
    const LoadedModel& model() const;
    // (role, path) of every file the outputs depend on, for the sidecar's hashes.
    std::vector<std::pair<std::string, std::filesystem::path>> modelFiles() const;
    const std::string& modelName() const;

private:
    GenerationResult runStages(const GenerationSettings& settings, const GenerationCallbacks& callbacks,
                               const std::atomic<bool>* cancel);

    void applyCompile(const CompileSettings& settings);

    std::unique_ptr<LoadedModel> model_;
    VelocityFactory velocityFactory_;
    DiTCompiler compiler_;
    std::optional<CompileSettings> appliedCompile_; // what the DiT runs now (nullopt: eager, as loaded)
    VaeNormOp vaeNormOp_;                           // empty: none installed
};

// compile.models holding "vae" with a compiling mode, on CUDA: the decode autotunes the VAE's convolutions (cuDNN
// measures its algorithms for each new shape, its benchmark mode, and keeps the fastest for the process) and runs
// its norms through the fused op the program installed (Generator::setVaeNormOp).
bool compilesVae(const CompileSettings& settings, at::Device device);

// Turns cuDNN's per-shape algorithm measurement on for its lifetime when `enable`, then restores the setting.
class ConvolutionAutotuneScope {
public:
    explicit ConvolutionAutotuneScope(bool enable);
    ~ConvolutionAutotuneScope();
    ConvolutionAutotuneScope(const ConvolutionAutotuneScope&) = delete;
    ConvolutionAutotuneScope& operator=(const ConvolutionAutotuneScope&) = delete;

private:
    bool previous_, active_;
};

// Predicted clean latent x0 = x_t − σ_t·v → RGB uint8 [F, h, w, 3] via rgb = x0ᵀ·M + b, mapped from [−1, 1].
at::Tensor latentPreview(const at::Tensor& latents, const at::Tensor& factors, const at::Tensor& bias);
// The Wan 2.1 factors of the architecture page: M [16, 3], b [3].
at::Tensor wan21PreviewFactors();
at::Tensor wan21PreviewBias();

} // namespace ditstudio
