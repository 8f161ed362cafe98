#include "core/presets/parallel_choice.h"

#include <fmt/format.h>

#include <string_view>

namespace ditstudio {

namespace {

ParallelChoiceCheck refuse(std::string key, std::string reason, int64_t worldSize) {
    return ParallelChoiceCheck{false, std::move(key), std::move(reason), worldSize};
}

std::string divisorsOf(int64_t n) {
    std::string text;
    for (int64_t d = 1; d <= n; ++d) {
        if (n % d == 0) {
            text += (text.empty() ? "" : ", ") + std::to_string(d);
        }
    }
    return text;
}

} // namespace

ParallelChoiceCheck checkParallelChoice(const GenerationSettings& settings, int64_t numHeads, int64_t gpusAvailable) {
    const ParallelSettings& p = settings.parallel;
    const int64_t worldSize = p.ulysses * p.ring * (p.cfgParallel ? 2 : 1);
    // Only the parallel rules of validate(): the other settings take their defaults here, so that an invalid width
    // (the generation panel's to report) does not hide a parallel problem.
    GenerationSettings parallelOnly;
    parallelOnly.parallel = p;
    parallelOnly.cfgScale = settings.cfgScale;
    try {
        parallelOnly.validate();
    } catch (const PresetError& e) {
        if (std::string_view(e.key()).starts_with("parallel.")) {
            return refuse(e.key(), e.what(), worldSize);
        }
    }
    if (numHeads > 0) {
        if (std::string problem = ulyssesHeadsProblem(p.ulysses, numHeads); !problem.empty()) {
            return refuse("parallel.ulysses", problem, worldSize);
        }
    }
    if (p.cfgParallel && settings.cfgScale == 1.0) {
        return refuse("parallel.cfg_parallel",
                      "CFG parallel needs classifier-free guidance: with cfg scale 1 there is no unconditional pass "
                      "to run on the other half of the ranks",
                      worldSize);
    }
    const bool isOnGpus = p.device == "cuda" || (p.device == "auto" && gpusAvailable > 0);
    if (p.device == "cuda" && gpusAvailable <= 0) {
        return refuse("parallel.device", "device cuda, but the worker reports no GPU (choose auto or cpu)",
                      worldSize);
    }
    if (isOnGpus && worldSize > gpusAvailable) {
        return refuse("parallel.ulysses",
                      fmt::format("ulysses {} × ring {} × cfg {} = {} ranks need {} GPUs, but {} {} available",
                                  p.ulysses, p.ring, p.cfgParallel ? 2 : 1, worldSize, worldSize, gpusAvailable,
                                  gpusAvailable == 1 ? "is" : "are"),
                      worldSize);
    }
    for (int gpu : p.gpus) {
        if (isOnGpus && gpu >= gpusAvailable) {
            return refuse("parallel.gpus",
                          fmt::format("GPU {} does not exist: the worker reports GPUs 0 to {}", gpu,
                                      gpusAvailable - 1),
                          worldSize);
        }
    }
    return ParallelChoiceCheck{true, {}, {}, worldSize};
}

std::string ulyssesHeadsProblem(int64_t ulysses, int64_t numHeads) {
    if (ulysses >= 1 && numHeads % ulysses == 0) {
        return {};
    }
    return fmt::format("Ulysses degree {} must divide the model's {} attention heads (choose one of {})", ulysses,
                       numHeads, divisorsOf(numHeads));
}

} // namespace ditstudio
