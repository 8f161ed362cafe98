// Reading a whole JSON file with the error a user can act on: the path, and what was wrong with it.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string_view>

namespace ditstudio {

// FormatError "<path>: missing (<whyNeeded>)" when the file cannot be opened, "<path>: not well-formed JSON: …"
// when it does not parse.
nlohmann::json readJsonFile(const std::filesystem::path& path, std::string_view whyNeeded);

// The golden directory's manifest.json, with its "cases" object checked.
nlohmann::json readGoldenManifest(const std::filesystem::path& dir);

} // namespace ditstudio
