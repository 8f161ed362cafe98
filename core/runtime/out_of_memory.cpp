#include "core/runtime/out_of_memory.h"

#include <fmt/format.h>

namespace ditstudio {

// The allocator's first line, cut after "Tried to allocate N GiB. GPU k has ... free." (its advice about
// PYTORCH_CUDA_ALLOC_CONF and the allocated/reserved breakdown follow and would drown the message).
static std::string shortLibraryMessage(const std::string& text) {
    std::string line = text.substr(0, text.find('\n'));
    size_t end = 0;
    for (int sentences = 0; sentences < 3; ++sentences) {
        const size_t stop = line.find(". ", end);
        if (stop == std::string::npos) {
            end = line.size();
            break;
        }
        end = stop + 1;
    }
    line = line.substr(0, end);
    return line.size() > 400 ? line.substr(0, 400) + "..." : line;
}

std::string describeOutOfMemory(const GenerationSettings& settings, const OutOfMemoryContext& context,
                                const std::string& libraryMessage) {
    const auto& p = settings.parallel;
    const int64_t cfg = p.cfgParallel ? 2 : 1;
    const int64_t world = p.ulysses * p.ring * cfg;
    const bool isGpu = context.device.rfind("cuda", 0) == 0;
    std::string request =
        fmt::format("out of {} memory during {} on {}: {} frames of {}x{} with model '{}' ({}, {} step(s), world of {}: "
                    "ulysses {} × ring {} × cfg {}) does not fit",
                    isGpu ? "GPU" : "device", context.stage, context.device, settings.numFrames, settings.width,
                    settings.height, context.model, context.dtype, settings.steps, world, p.ulysses, p.ring, cfg);
    const std::string tiles =
        settings.vae.tiled
            ? fmt::format("smaller VAE tiles (vae.tile_size, now [{}, {}]; e.g. vae.tile_size=[{}, {}])",
                          settings.vae.tileHeight, settings.vae.tileWidth, std::max<int64_t>(1, settings.vae.tileHeight / 2),
                          std::max<int64_t>(1, settings.vae.tileWidth / 2))
            : std::string("VAE tiles (vae.tiled=true)");
    const std::string smaller = "fewer frames (num_frames) or a smaller size (width, height)";
    const std::string gpus = fmt::format("more GPUs sharing the sequence (parallel.ulysses or parallel.ring, now {} × {})",
                                         p.ulysses, p.ring);
    std::string advice;
    if (context.stage == "decode") {
        advice = fmt::format("Try {}, or {}; more GPUs do not split the decode", tiles, smaller);
    } else {
        advice = fmt::format("Try {}, or {}", smaller, gpus);
        if (!settings.vae.tiled) {
            advice += "; at this size the decode will also need VAE tiles (vae.tiled=true)";
        }
    }
    return fmt::format("{}. {}. ({})", request, advice, shortLibraryMessage(libraryMessage));
}

} // namespace ditstudio
