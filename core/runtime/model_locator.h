// Where models are found when none is named: $DITSTUDIO_MODEL_DIR, else the embedded demo model (installed under
// <prefix>/share/ditstudio/demo-model, or resources/demo-model in the source tree).
#pragma once
#include <filesystem>
#include <string>

namespace ditstudio {

// Empty when no model is found.
std::filesystem::path defaultModelDir();
// The model's own default preset (ditstudio-model.json `default_preset`), else "wan21-default".
std::string defaultPresetOf(const std::filesystem::path& modelDir);

} // namespace ditstudio
