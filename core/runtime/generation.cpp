#include "core/runtime/generation.h"

#include "core/io/model_folder.h"
#include "core/models/umt5.h"
#include "core/models/wan_vae.h"
#include "core/runtime/noise.h"
#include "core/runtime/out_of_memory.h"
#include "core/tokenizer/umt5_tokenizer.h"
#include "core/util/error.h"
#include "core/util/fault_points.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fstream>

namespace ditstudio {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct LoadedModel {
    io::ModelFolder folder;
    std::unique_ptr<WanDiT> dit;
    std::unique_ptr<WanVAE> vae;
    std::unique_ptr<UMT5Encoder> textEncoder;
    std::unique_ptr<UMT5Tokenizer> tokenizer;
    at::Tensor previewFactors, previewBias;
    int64_t textLength = 512;
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;
};

at::Tensor wan21PreviewFactors() {
    // Rows = latent channels 0..15, columns = R, G, B (architecture page).
    static const float m[16][3] = {
        {-0.1299f, -0.1692f, 0.2932f}, {0.0671f, 0.0406f, 0.0442f},   {0.3568f, 0.2548f, 0.1747f},
        {0.0372f, 0.2344f, 0.1420f},   {0.0313f, 0.0189f, -0.0328f},  {0.0296f, -0.0956f, -0.0665f},
        {-0.3477f, -0.4059f, -0.2925f}, {0.0166f, 0.1902f, 0.1975f},  {-0.0412f, 0.0267f, -0.1364f},
        {-0.1293f, 0.0740f, 0.1636f},  {0.0680f, 0.3019f, 0.1128f},   {0.0032f, 0.0581f, 0.0639f},
        {-0.1251f, 0.0927f, 0.1699f},  {0.0060f, -0.0633f, 0.0005f},  {0.3477f, 0.2275f, 0.2950f},
        {0.1984f, 0.0913f, 0.1861f}};
    return at::from_blob(const_cast<float*>(&m[0][0]), {16, 3}, at::kFloat).clone();
}

at::Tensor wan21PreviewBias() { return at::tensor({-0.1835f, -0.0868f, -0.3360f}, at::kFloat); }

at::Tensor latentPreview(const at::Tensor& latents, const at::Tensor& factors, const at::Tensor& bias) {
    // latents [1, C, F, h, w] → rgb [F, h, w, 3] = Σ_c x[c]·M[c] + b, [−1, 1] → 0..255.
    at::Tensor x = latents.detach()[0].to(at::kCPU, at::kFloat).permute({1, 2, 3, 0}); // [F, h, w, C]
    at::Tensor rgb = at::matmul(x, factors.to(at::kFloat)) + bias.to(at::kFloat);       // [F, h, w, 3]
    return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).contiguous();
}

Generator::Generator(fs::path modelDir, at::Device device, at::ScalarType dtype) : model_(std::make_unique<LoadedModel>()) {
    auto& m = *model_;
    m.device = device;
    m.dtype = dtype;
    m.folder = io::ModelFolder::open(modelDir);
    spdlog::info("loading model {} ({}) on {} in {}", m.folder.name, io::toString(m.folder.layout), device.str(),
                 c10::toString(dtype));
    m.dit = std::make_unique<WanDiT>(m.folder.dit.weights(), m.folder.ditConfig, dtype, device);
    const auto& vaeWeights = m.folder.vae.weights();
    const auto vaeConfig = WanVAEConfig::fromManifestOrWeights(m.folder.vae.config(), vaeWeights);
    m.vae = std::make_unique<WanVAE>(vaeWeights, vaeConfig, dtype, device);
    const auto& t5Weights = m.folder.textEncoder.weights();
    const auto t5Config = m.folder.textEncoder.config().is_object() ? UMT5Config::fromJson(m.folder.textEncoder.config())
                                                                    : UMT5Config::fromWeights(t5Weights);
    m.textEncoder = std::make_unique<UMT5Encoder>(t5Weights, t5Config, dtype, device);
    m.folder.textEncoder.release(); // the encoder holds converted copies
    m.tokenizer = std::make_unique<UMT5Tokenizer>(UMT5Tokenizer::fromFile(m.folder.tokenizer));
    if (m.folder.previewFactors.defined()) {
        m.previewFactors = m.folder.previewFactors;
        m.previewBias = m.folder.previewBias;
    } else {
        m.previewFactors = wan21PreviewFactors();
        m.previewBias = wan21PreviewBias();
    }
    if (m.folder.layout == io::ModelLayout::Manifest) {
        std::ifstream in(m.folder.root / io::kManifestName);
        const auto manifest = nlohmann::json::parse(in, nullptr, false);
        if (manifest.is_object() && manifest.contains("text_length")) {
            m.textLength = manifest["text_length"].get<int64_t>();
        }
    }
}

Generator::~Generator() = default;

void Generator::setVelocityFactory(VelocityFactory factory) { velocityFactory_ = std::move(factory); }

void Generator::setDiTCompiler(DiTCompiler compiler) {
    compiler_ = std::move(compiler);
    appliedCompile_.reset();
}

void Generator::applyCompile(const CompileSettings& settings) {
    const bool eager = settings.mode == CompileMode::None;
    if (appliedCompile_ ? *appliedCompile_ == settings : eager) {
        return; // already applied (a model loads eager)
    }
    if (!compiler_) {
        throw ConfigError(fmt::format("compile.mode {} asks for the compiled DiT, but this program has no compiled "
                                      "path (it does not link DiT Studio's kernels); set compile.mode to none",
                                      toString(settings.mode)));
    }
    spdlog::debug("{}", compiler_(*model_->dit, settings)); // the compiler logs its own summary
    appliedCompile_ = settings;
}

void Generator::setVaeNormOp(VaeNormOp fused) { vaeNormOp_ = std::move(fused); }

bool compilesVae(const CompileSettings& settings, at::Device device) {
    return device.is_cuda() && settings.mode != CompileMode::None &&
           std::find(settings.models.begin(), settings.models.end(), "vae") != settings.models.end();
}

ConvolutionAutotuneScope::ConvolutionAutotuneScope(bool enable)
    : previous_(at::globalContext().benchmarkCuDNN()), active_(enable) {
    if (active_) {
        at::globalContext().setBenchmarkCuDNN(true);
    }
}

ConvolutionAutotuneScope::~ConvolutionAutotuneScope() {
    if (active_) {
        at::globalContext().setBenchmarkCuDNN(previous_);
    }
}

const at::Tensor& Generator::previewFactors() const { return model_->previewFactors; }
const at::Tensor& Generator::previewBias() const { return model_->previewBias; }
const LoadedModel& Generator::model() const { return *model_; }

std::vector<std::pair<std::string, fs::path>> Generator::modelFiles() const { return model_->folder.modelFiles(); }

const std::string& Generator::modelName() const { return model_->folder.name; }

GenerationResult Generator::generate(const GenerationSettings& settings, const GenerationCallbacks& callbacks,
                                     const std::atomic<bool>* cancel) {
    std::string stage = "encode";
    GenerationCallbacks tracked = callbacks;
    tracked.onStage = [&](const std::string& name) {
        stage = name;
        if (callbacks.onStage) {
            callbacks.onStage(name);
        }
    };
    try {
        return runStages(settings, tracked, cancel);
    } catch (const c10::OutOfMemoryError& e) {
        const OutOfMemoryContext context{stage, modelName().empty() ? model_->folder.root.string() : modelName(),
                                         model_->device.str(), model_->dtype == at::kBFloat16 ? "bfloat16" : "float32"};
        throw OutOfMemoryError(describeOutOfMemory(settings, context, e.what_without_backtrace()));
    }
}

GenerationResult Generator::runStages(const GenerationSettings& settings, const GenerationCallbacks& callbacks,
                                      const std::atomic<bool>* cancel) {
    settings.validate();
    auto& m = *model_;
    GenerationResult result;
    result.seed = settings.seed;
    auto stage = [&](const std::string& name) {
        spdlog::info("stage {}", name);
        if (callbacks.onStage) {
            callbacks.onStage(name);
        }
    };
    auto cancelled = [&] { return cancel && cancel->load(); };
    auto timed = [&](const std::string& name, auto&& fn) {
        const auto start = Clock::now();
        fn();
        result.stageSeconds[name] = std::chrono::duration<double>(Clock::now() - start).count();
    };

    int64_t height = settings.height, width = settings.width, frames = settings.numFrames;
    normalizeSize(height, width, frames);
    at::Tensor contextPositive, contextNegative;
    stage("encode");
    timed("encode", [&] {
        c10::InferenceMode inference;
        auto encode = [&](const std::string& prompt) {
            const auto tokens = m.tokenizer->encode(prompt, m.textLength);
            if (tokens.truncated) {
                spdlog::warn("prompt longer than {} tokens: truncated", m.textLength);
            }
            return m.textEncoder->encode(tokens.ids.to(m.device), tokens.mask.to(m.device)); // [1, L, text dim]
        };
        contextPositive = encode(settings.prompt);
        if (settings.cfgScale != 1.0) {
            contextNegative = encode(settings.negativePrompt);
        }
    });
    if (cancelled()) {
        throw CancelledError();
    }

    applyCompile(settings.compile);
    stage("denoise");
    timed("denoise", [&] {
        c10::InferenceMode inference;
        const FlowMatchScheduler scheduler(settings.steps, settings.shift, settings.denoisingStrength);
        at::Tensor latents = seededNoise(latentShape(height, width, frames, m.dit->config().inDim),
                                         static_cast<uint64_t>(settings.seed), m.dtype, m.device);
        const VelocityFn velocity = velocityFactory_
                                        ? velocityFactory_(*m.dit, contextPositive, contextNegative, settings.cfgScale)
                                        : localGuidedVelocity(*m.dit, contextPositive, contextNegative, settings.cfgScale);
        latents = denoise(latents, scheduler, velocity, m.dtype, [&](const StepInfo& info) {
            outOfMemoryAtFaultPoint("denoise", m.device.str(), settings.numFrames);
            if (callbacks.onStep && !callbacks.onStep(info)) {
                return false;
            }
            return !cancelled();
        });
        result.latents = latents.to(at::kCPU, at::kFloat);
    });

    stage("decode");
    timed("decode", [&] {
        outOfMemoryAtFaultPoint("decode", m.device.str(), settings.numFrames);
        c10::InferenceMode inference;
        const bool compiledVae = compilesVae(settings.compile, m.device);
        const ConvolutionAutotuneScope tuned(compiledVae);
        m.vae->setNormOp(compiledVae ? vaeNormOp_ : VaeNormOp{});
        at::Tensor z = result.latents.to(m.device, m.dtype);
        at::Tensor video;
        if (settings.vae.tiled) {
            const TileSettings tiles{settings.vae.tileHeight, settings.vae.tileWidth, settings.vae.tileStrideHeight,
                                     settings.vae.tileStrideWidth};
            video = m.vae->decodeTiled(z, tiles);
        } else {
            int64_t next = 0;
            video = m.vae->decode(z, [&](const at::Tensor& chunk) {
                if (callbacks.onFrames) {
                    at::Tensor u8 = videoToUint8Frames(chunk.slice(0, 0, 1));
                    callbacks.onFrames(u8, next);
                    next += u8.size(0);
                }
                if (cancelled()) {
                    throw CancelledError();
                }
            });
        }
        result.frames = videoToUint8Frames(video.slice(0, 0, 1)); // [T, H, W, 3]
        if (settings.vae.tiled && callbacks.onFrames) {
            callbacks.onFrames(result.frames, 0);
        }
    });
    return result;
}

} // namespace ditstudio
