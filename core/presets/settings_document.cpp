// YAML and JSON documents as SettingsNode trees, with the location of every node and key.
#include "core/presets/settings_document.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace ditstudio::presets {

namespace {

std::string markString(const std::string& sourceName, const YAML::Mark& mark) {
    if (mark.is_null()) {
        return sourceName;
    }
    // yaml-cpp counts lines and columns from 0; editors from 1.
    return fmt::format("{}:{}:{}", sourceName, mark.line + 1, mark.column + 1);
}

} // namespace

const SettingsNode* SettingsNode::find(const std::string& key) const {
    for (const auto& member : members) {
        if (member.key == key) {
            return &member.value;
        }
    }
    return nullptr;
}

const SettingsNode* SettingsNode::findPath(const std::string& dottedKey) const {
    const SettingsNode* node = this;
    size_t start = 0;
    while (node) {
        const size_t dot = dottedKey.find('.', start);
        node = node->find(dottedKey.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) {
            return node;
        }
        start = dot + 1;
    }
    return nullptr;
}

SettingsNode fromYaml(const YAML::Node& node, const std::string& sourceName) {
    SettingsNode out;
    out.where = markString(sourceName, node.Mark());
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
        out.kind = SettingsNode::Kind::Null;
        break;
    case YAML::NodeType::Scalar:
        // Plain scalars carry the tag "?" and are typed by whoever reads them (width: 832 is an integer, prompt: 832
        // the text "832"); quoted and block scalars ("!") and explicit !!str are strings.
        out.kind = node.Tag() == "?" ? SettingsNode::Kind::Scalar : SettingsNode::Kind::String;
        out.text = node.Scalar();
        break;
    case YAML::NodeType::Sequence:
        out.kind = SettingsNode::Kind::Sequence;
        for (const auto& item : node) {
            out.items.push_back(fromYaml(item, sourceName));
        }
        break;
    case YAML::NodeType::Map:
        out.kind = SettingsNode::Kind::Map;
        for (const auto& entry : node) {
            const std::string keyWhere = markString(sourceName, entry.first.Mark());
            if (!entry.first.IsScalar()) {
                throw PresetError("", keyWhere + ": expected a setting name as the key, got a list or mapping");
            }
            const std::string key = entry.first.Scalar();
            for (const auto& earlier : out.members) {
                if (earlier.key == key) {
                    throw PresetError(key, fmt::format("{}: duplicate key '{}' (first given at {})", keyWhere, key,
                                                       earlier.keyWhere));
                }
            }
            SettingsNode value = fromYaml(entry.second, sourceName);
            if (value.kind == SettingsNode::Kind::Null) {
                value.where = keyWhere; // "key:" with nothing after it: yaml-cpp marks the next line
            }
            out.members.push_back({key, keyWhere, std::move(value)});
        }
        break;
    }
    return out;
}

SettingsNode fromJson(const nlohmann::json& json) {
    SettingsNode out;
    using Kind = SettingsNode::Kind;
    switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
        out.kind = Kind::Null;
        break;
    case nlohmann::json::value_t::boolean:
        out.kind = Kind::Bool;
        out.boolean = json.get<bool>();
        break;
    case nlohmann::json::value_t::number_integer:
        out.kind = Kind::Integer;
        out.integer = json.get<int64_t>();
        break;
    case nlohmann::json::value_t::number_unsigned:
        if (json.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            out.kind = Kind::Integer;
            out.integer = json.get<int64_t>();
        } else {
            out.kind = Kind::Real; // too large for any setting: the reader says so
            out.real = json.get<double>();
        }
        break;
    case nlohmann::json::value_t::number_float:
        out.kind = Kind::Real;
        out.real = json.get<double>();
        break;
    case nlohmann::json::value_t::string:
        out.kind = Kind::String;
        out.text = json.get<std::string>();
        break;
    case nlohmann::json::value_t::array:
        out.kind = Kind::Sequence;
        for (const auto& item : json) {
            out.items.push_back(fromJson(item));
        }
        break;
    case nlohmann::json::value_t::object:
        out.kind = Kind::Map;
        for (const auto& [key, value] : json.items()) {
            out.members.push_back({key, "", fromJson(value)});
        }
        break;
    case nlohmann::json::value_t::binary:
        throw PresetError("", "settings JSON: binary values are not settings");
    }
    return out;
}

} // namespace ditstudio::presets
