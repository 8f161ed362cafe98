// Presets: GenerationSettings as YAML files. Built-in presets (resources/presets, read-only) and user presets
// ($XDG_CONFIG_HOME/ditstudio/presets) are listed together; a preset is named after its file ("wan21-default" is
// wan21-default.yaml). Every read is strict (generation_settings.h): an unknown key, a wrong type or a value out of
// range throws PresetError with "file:line:column: key: expected ..., got ...".
//
// Thread-safety: PresetStore holds only its two folders; its methods may be called from any thread, but two
// writers on the same preset race like two editors on one file (the last rename wins, nothing is half-written).
#pragma once
#include "core/presets/generation_settings.h"

#include <filesystem>
#include <string>
#include <vector>

namespace ditstudio {

GenerationSettings loadPresetFile(const std::filesystem::path& path);
// `sourceName` prefixes every location in messages (usually the file path).
GenerationSettings loadPresetYaml(const std::string& text, const std::string& sourceName);
// A complete preset document (every key, current schema_version); loadPresetYaml(toYaml(s)) == s.
std::string toYaml(const GenerationSettings& settings);

struct PresetEntry {
    std::string name;            // the file name without .yaml: what load() and `ditstudio-cli presets show` take
    std::filesystem::path path;
    bool builtin = false;
    std::string description;     // from the file; empty when it does not load
    std::string error;           // empty when the preset loads and validates; else the PresetError's message
};

class PresetStore {
public:
    PresetStore(std::filesystem::path builtinDir, std::filesystem::path userDir);
    // $XDG_CONFIG_HOME/ditstudio/presets, else ~/.config/ditstudio/presets.
    static std::filesystem::path defaultUserDir();
    // $DITSTUDIO_PRESET_DIR, else <prefix>/share/ditstudio/presets next to the running executable when installed,
    // else the source tree's resources/presets.
    static std::filesystem::path defaultBuiltinDir();

    const std::filesystem::path& builtinDir() const { return builtinDir_; }
    const std::filesystem::path& userDir() const { return userDir_; }

    // Built-ins first, then user presets, each sorted by name. A preset that fails to load is listed with its error.
    std::vector<PresetEntry> list() const;
    // A preset name (user presets first, then built-ins) or the path of a .yaml file. The result's name is the
    // preset's name (its file name), whatever the file's own `name:` says.
    GenerationSettings load(const std::string& nameOrPath) const;
    // Validates, then writes <userDir>/<name>.yaml through a temporary file and a rename (an existing user preset of
    // that name is replaced). Built-in names are refused. Returns the path written.
    std::filesystem::path save(const GenerationSettings& settings, const std::string& name) const;
    std::filesystem::path duplicate(const std::string& name, const std::string& newName) const;
    std::filesystem::path rename(const std::string& name, const std::string& newName) const;
    void remove(const std::string& name) const;
    // Validates the file, then copies it (as written, comments included) to the user folder under `newName`, or
    // under the file's own name when empty. An invalid file throws and nothing is copied. Returns the preset name.
    std::string importFile(const std::filesystem::path& path, const std::string& newName = {}) const;
    // Writes the preset (built-in or user) to `path` through a temporary file and a rename.
    void exportTo(const std::string& name, const std::filesystem::path& path) const;

private:
    struct Found {
        std::filesystem::path path;
        bool builtin = false;
    };
    std::optional<Found> find(const std::string& name) const;
    Found require(const std::string& name) const;
    void checkWritableName(const std::string& name) const;
    std::vector<std::string> names() const;

    std::filesystem::path builtinDir_;
    std::filesystem::path userDir_;
};

} // namespace ditstudio
