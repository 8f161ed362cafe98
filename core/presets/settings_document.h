// The settings tree that both YAML (presets) and JSON (protocol, history, sidecars) are read through, so that one
// reader does every key, type and range check. Each node knows where it came from ("presets/x.yaml:3:9"), and
// errors are prefixed with that location. Internal to core/presets.
//
// Adding a setting: add the field to GenerationSettings (generation_settings.h), then its key to the reader tables
// (topFields() or a group's table), the writer buildJson() and, if it has a range, a check in validate(), all in
// generation_settings.cpp. toYaml, toJson, applyOverride and the preset store pick it up from there. A change that
// older presets would not fit bumps GenerationSettings::kSchemaVersion and adds a step to kMigrations.
#pragma once
#include "core/presets/generation_settings.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace YAML {
class Node;
}

namespace ditstudio::presets {

struct SettingsNode {
    enum class Kind { Null, Bool, Integer, Real, String, Scalar, Sequence, Map };
    struct Member;

    Kind kind = Kind::Null;
    bool boolean = false;
    int64_t integer = 0;
    double real = 0.0;
    // Kind::String: the value. Kind::Scalar (an unquoted YAML scalar, typed by the reader that consumes it): its
    // source text.
    std::string text;
    std::vector<SettingsNode> items;
    std::vector<Member> members;
    std::string where; // location prefix of messages: "file:line:col", or empty (JSON)

    const SettingsNode* find(const std::string& key) const;
    // Follows a dotted key ("vae.tile_size"); nullptr where the path leaves the tree.
    const SettingsNode* findPath(const std::string& dottedKey) const;
};

struct SettingsNode::Member {
    std::string key;
    std::string keyWhere; // location of the key itself (unknown-key and duplicate-key errors point there)
    SettingsNode value;
};

// A YAML node (any depth) as a settings tree; `sourceName` prefixes locations. Duplicate keys throw PresetError.
SettingsNode fromYaml(const YAML::Node& node, const std::string& sourceName);
SettingsNode fromJson(const nlohmann::json& json);

// Reads a whole settings document (strict: unknown keys, wrong types and ranges throw PresetError with the
// node's location), applying schema migrations first.
GenerationSettings readSettings(const SettingsNode& root);

// The settings as a tree of plain JSON in the documents' key order (toJson and toYaml both use it).
nlohmann::ordered_json buildOrderedJson(const GenerationSettings& settings);

// Every dotted key a document may hold ("width", "vae.tiled", ...), in document order.
std::vector<std::string> settingKeys();

} // namespace ditstudio::presets
