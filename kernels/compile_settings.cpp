#include "kernels/compile_settings.h"

#include "core/util/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <sstream>

namespace ditstudio::kernels {

namespace {
// The names live with the enum (core's toString(CompileMode)); this is only the list of its values.
constexpr CompileMode kModes[] = {CompileMode::None, CompileMode::Default, CompileMode::ReduceOverhead,
                                  CompileMode::MaxAutotune, CompileMode::MaxAutotuneNoCudagraphs};
} // namespace

std::string compileModeName(CompileMode mode) { return toString(mode); }

CompileMode compileModeFromName(const std::string& name) {
    for (const CompileMode mode : kModes) {
        if (name == toString(mode)) {
            return mode;
        }
    }
    throw ConfigError(fmt::format("compile.mode: unknown mode '{}' (expected none, default, reduce-overhead, "
                                  "max-autotune or max-autotune-no-cudagraphs)",
                                  name));
}

std::vector<std::string> parseCompileModels(const std::string& commaSeparated) {
    std::vector<std::string> models;
    std::stringstream in(commaSeparated);
    std::string item;
    while (std::getline(in, item, ',')) {
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (item.empty()) {
            throw ConfigError(fmt::format("compile.models: empty entry in '{}' (expected a comma-separated subset of "
                                          "dit, vae, text_encoder)",
                                          commaSeparated));
        }
        if (std::find(models.begin(), models.end(), item) != models.end()) {
            throw ConfigError(fmt::format("compile.models: '{}' is listed twice in '{}'", item, commaSeparated));
        }
        models.push_back(item);
    }
    CompileSettings probe;
    probe.mode = CompileMode::Default;
    probe.models = models;
    validateCompileSettings(probe);
    return models;
}

void validateCompileSettings(const CompileSettings& settings) {
    for (const auto& model : settings.models) {
        const auto& known = compileModelNames();
        if (std::find(known.begin(), known.end(), model) == known.end()) {
            throw ConfigError(fmt::format("compile.models: unknown model '{}' (expected dit, vae or text_encoder)",
                                          model));
        }
    }
    if (settings.mode != CompileMode::None && settings.models.empty()) {
        throw ConfigError(fmt::format("compile.models is empty but compile.mode is '{}': name at least one model "
                                      "(dit, vae, text_encoder) or set compile.mode to none",
                                      compileModeName(settings.mode)));
    }
}

bool usesFusedKernels(CompileMode mode) { return mode != CompileMode::None; }

bool usesCudaGraphs(CompileMode mode) {
    return mode == CompileMode::ReduceOverhead || mode == CompileMode::MaxAutotune;
}

bool usesAutotune(CompileMode mode) {
    return mode == CompileMode::MaxAutotune || mode == CompileMode::MaxAutotuneNoCudagraphs;
}

bool compilesModel(const CompileSettings& settings, const std::string& model) {
    return settings.mode != CompileMode::None &&
           std::find(settings.models.begin(), settings.models.end(), model) != settings.models.end();
}

std::string describe(const CompileSettings& settings) {
    return fmt::format("{}{}{} models={}", compileModeName(settings.mode), settings.dynamic ? " dynamic" : "",
                       settings.fullgraph ? " fullgraph" : "", fmt::join(settings.models, ","));
}

} // namespace ditstudio::kernels
