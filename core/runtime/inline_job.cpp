#include "core/runtime/inline_job.h"

#include "core/export/sidecar.h"
#include "core/export/video_exporter.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "core/util/progress_bar.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace ditstudio {

namespace fs = std::filesystem;

at::Device resolveDevice(const std::string& name) {
    if (name == "cpu") {
        return at::kCPU;
    }
    if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
        if (!at::hasCUDA()) {
            throw ConfigError(fmt::format("device '{}' requested, but no CUDA device is available", name));
        }
        return at::Device(name);
    }
    if (name == "auto") {
        return at::hasCUDA() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
    }
    throw ConfigError(fmt::format("unknown device '{}' (expected auto, cpu, cuda or cuda:N)", name));
}

at::ScalarType resolveDtype(const std::string& name, at::Device device) {
    if (device.is_cpu()) {
        return at::kFloat; // bf16 GEMMs on a CPU are slow and no more faithful
    }
    if (name == "bfloat16") {
        return at::kBFloat16;
    }
    if (name == "float32") {
        return at::kFloat;
    }
    throw ConfigError(fmt::format("unknown dtype '{}' (expected bfloat16 or float32)", name));
}

InlineJobResult runInlineJob(const GenerationSettings& settings, const InlineJobOptions& options) {
    settings.validate();
    const at::Device device = resolveDevice(options.device != "auto" ? options.device : settings.parallel.device);
    const at::ScalarType dtype = resolveDtype(settings.dtype, device);
    fs::path output = options.output;
    if (output.empty()) {
        throw ConfigError("an output path is needed (--out FILE)");
    }
    if (output.has_parent_path()) {
        fs::create_directories(output.parent_path());
    }
    checkExportTarget(output, settings.exportSettings.format); // before the model loads: a bad path costs nothing

    const auto loadStart = std::chrono::steady_clock::now();
    Generator generator(options.modelDir, device, dtype);
    generator.setDiTCompiler(options.compiler);
    generator.setVaeNormOp(options.vaeNormOp);
    const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count();

    std::unique_ptr<ProgressBar> bar;
    GenerationCallbacks callbacks;
    callbacks.onStage = [&](const std::string& stage) {
        if (stage == "denoise" && options.progressBar) {
            bar = std::make_unique<ProgressBar>("denoise", settings.steps);
        }
        if (stage != "denoise" && bar) {
            bar->finish();
            bar.reset();
        }
    };
    callbacks.onStep = [&](const StepInfo& info) {
        if (bar) {
            bar->update(info.index + 1, fmt::format("t={:.1f}", info.timestep));
        }
        return true;
    };
    InlineJobResult result;
    result.generation = generator.generate(settings, callbacks);
    result.generation.stageSeconds["load"] = loadSeconds;
    const auto& gen = result.generation;

    if (options.saveLatents) {
        io::saveSafetensors(fs::path(output.string() + ".latents.safetensors"), {{"latents", gen.latents}},
                            {{"settings", settings.toJson().dump()}});
    }
    VideoExportOptions exportOptions;
    exportOptions.format = settings.exportSettings.format;
    exportOptions.fps = static_cast<double>(settings.fps);
    exportOptions.quality = settings.exportSettings.quality;
    const auto exportStart = std::chrono::steady_clock::now();
    const auto exported = exportVideo(gen.frames, output, exportOptions);
    result.generation.stageSeconds["export"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - exportStart).count();
    result.output = exported.path;
    result.frameCount = exported.frameCount;
    result.width = exported.width;
    result.height = exported.height;
    result.codec = exported.codec;

    SidecarInfo info;
    info.settings = settings.toJson();
    info.seed = gen.seed;
    for (const auto& [role, path] : generator.modelFiles()) {
        info.modelFiles.push_back({role, path});
    }
    info.stageSeconds = result.generation.stageSeconds;
    info.output = {{"format", formatName(exportOptions.format)}, {"fps", exportOptions.fps},
                   {"quality", exportOptions.quality}, {"frames", exported.frameCount},
                   {"width", exported.width},           {"height", exported.height},
                   {"codec", exported.codec},           {"device", device.str()},
                   {"dtype", c10::toString(dtype)}};
    result.sidecar = writeSidecar(exported.path, info);
    return result;
}

} // namespace ditstudio
