#include "core/util/json_file.h"

#include "core/util/error.h"

#include <fmt/format.h>

#include <fstream>

namespace ditstudio {

nlohmann::json readJsonFile(const std::filesystem::path& path, std::string_view whyNeeded) {
    std::ifstream in(path);
    if (!in) {
        throw FormatError(fmt::format("{}: missing ({})", path.string(), whyNeeded));
    }
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
        throw FormatError(fmt::format("{}: not well-formed JSON: {}", path.string(), e.what()));
    }
}

nlohmann::json readGoldenManifest(const std::filesystem::path& dir) {
    if (!std::filesystem::is_directory(dir)) {
        throw FormatError(fmt::format("{}: no such directory", dir.string()));
    }
    const auto path = dir / "manifest.json";
    nlohmann::json manifest = readJsonFile(path, "a golden directory needs a manifest.json");
    if (!manifest.is_object() || !manifest.contains("cases") || !manifest["cases"].is_object()) {
        throw FormatError(fmt::format("{}: needs a \"cases\" object", path.string()));
    }
    return manifest;
}

} // namespace ditstudio
