#include "core/runtime/model_locator.h"

#include "core/io/model_folder.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace ditstudio {

namespace fs = std::filesystem;

static fs::path executableDir() {
    // POSIX readlink rather than std::filesystem::read_symlink: libtorch.so carries its own copies of some
    // std::filesystem functions, which misbehave when called from our binaries (see docs/presets.md).
    char buffer[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
    return n > 0 ? fs::path(std::string(buffer, static_cast<size_t>(n))).parent_path() : fs::path();
}

fs::path defaultModelDir() {
    if (const char* env = std::getenv("DITSTUDIO_MODEL_DIR"); env && *env) {
        return env;
    }
    std::vector<fs::path> candidates;
    if (const auto dir = executableDir(); !dir.empty()) {
        candidates.push_back(dir.parent_path() / "share" / "ditstudio" / "demo-model");
    }
#ifdef DITSTUDIO_RESOURCE_DIR
    candidates.push_back(fs::path(DITSTUDIO_RESOURCE_DIR) / "demo-model");
#endif
    for (const auto& c : candidates) {
        std::error_code ec;
        if (fs::exists(c / io::kManifestName, ec)) {
            return c;
        }
    }
    return {};
}

std::string defaultPresetOf(const fs::path& modelDir) {
    std::ifstream in(modelDir / io::kManifestName);
    if (in) {
        const auto manifest = nlohmann::json::parse(in, nullptr, false);
        if (manifest.is_object() && manifest.contains("default_preset") && manifest["default_preset"].is_string()) {
            return manifest["default_preset"].get<std::string>();
        }
    }
    return "wan21-default";
}

} // namespace ditstudio
