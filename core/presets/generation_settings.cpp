// GenerationSettings: the key table (reader), the writer, range validation and `key=value` overrides. YAML and
// JSON documents both arrive here as a SettingsNode tree (settings_document.h), so a preset file, a protocol
// message and a sidecar are checked by the same code and give the same messages.
#include "core/presets/generation_settings.h"

#include "core/presets/settings_document.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <regex>
#include <set>

namespace ditstudio {

namespace {

template <class Enum>
struct EnumName {
    Enum value;
    const char* name;
};

constexpr EnumName<SeedMode> kSeedModes[] = {
    {SeedMode::Fixed, "fixed"}, {SeedMode::Random, "random"}, {SeedMode::Increment, "increment"}};
constexpr EnumName<CompileMode> kCompileModes[] = {
    {CompileMode::None, "none"},
    {CompileMode::Default, "default"},
    {CompileMode::ReduceOverhead, "reduce-overhead"},
    {CompileMode::MaxAutotune, "max-autotune"},
    {CompileMode::MaxAutotuneNoCudagraphs, "max-autotune-no-cudagraphs"}};
constexpr EnumName<ExportFormat> kExportFormats[] = {{ExportFormat::Mp4, "mp4"},
                                                     {ExportFormat::WebM, "webm"},
                                                     {ExportFormat::Gif, "gif"},
                                                     {ExportFormat::PngSequence, "png"}};

const std::vector<std::string> kSamplers{"flow_match_euler"};
const std::vector<std::string> kDtypes{"bfloat16", "float32"};
const std::vector<std::string> kDevices{"auto", "cpu", "cuda"};
const std::vector<std::string> kCompileModels{"dit", "vae", "text_encoder"};

constexpr int64_t kMaxSide = 8192;
constexpr int64_t kMaxFrames = 1025;
constexpr int64_t kMaxFps = 240;
constexpr int64_t kMaxSteps = 1000;
constexpr double kMaxCfgScale = 100.0;
constexpr double kMaxShift = 100.0;
constexpr int64_t kMaxDegree = 64;

template <class Enum, size_t N>
const char* enumName(const EnumName<Enum> (&table)[N], Enum value) {
    for (const auto& entry : table) {
        if (entry.value == value) {
            return entry.name;
        }
    }
    return "?";
}

template <class Enum, size_t N>
std::vector<std::string> enumNames(const EnumName<Enum> (&table)[N]) {
    std::vector<std::string> names;
    for (const auto& entry : table) {
        names.emplace_back(entry.name);
    }
    return names;
}

std::string located(const std::string& where, const std::string& message) {
    return where.empty() ? message : where + ": " + message;
}

std::string quoted(const std::string& text) {
    constexpr size_t kMaxShown = 60;
    return "'" + (text.size() > kMaxShown ? text.substr(0, kMaxShown) + "..." : text) + "'";
}

std::string formatReal(double value) {
    return fmt::format("{}", value);
}

using presets::SettingsNode;
using Kind = SettingsNode::Kind;

std::string describe(const SettingsNode& node) {
    switch (node.kind) {
    case Kind::Null: return "nothing (null)";
    case Kind::Bool: return node.boolean ? "true" : "false";
    case Kind::Integer: return std::to_string(node.integer);
    case Kind::Real: return formatReal(node.real);
    case Kind::String: return "the string " + quoted(node.text);
    case Kind::Scalar: {
        static const std::regex kNumber("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
        return std::regex_match(node.text, kNumber) ? node.text : quoted(node.text);
    }
    case Kind::Sequence: return fmt::format("a list of {}", node.items.size());
    case Kind::Map: return "a mapping";
    }
    return "?";
}

[[noreturn]] void fail(const SettingsNode& node, const std::string& key, const std::string& expected) {
    throw PresetError(key, located(node.where, fmt::format("{}: expected {}, got {}", key, expected, describe(node))));
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

bool readBool(const SettingsNode& node, const std::string& key) {
    if (node.kind == Kind::Bool) {
        return node.boolean;
    }
    if (node.kind == Kind::Scalar) {
        const std::string text = lower(node.text);
        if (text == "true" || text == "yes" || text == "on") {
            return true;
        }
        if (text == "false" || text == "no" || text == "off") {
            return false;
        }
    }
    fail(node, key, "true or false");
}

int64_t readInt(const SettingsNode& node, const std::string& key) {
    if (node.kind == Kind::Integer) {
        return node.integer;
    }
    if (node.kind == Kind::Scalar) {
        static const std::regex kInteger("[-+]?[0-9]+");
        if (std::regex_match(node.text, kInteger)) {
            const char* begin = node.text.data() + (node.text[0] == '+' ? 1 : 0);
            const char* end = node.text.data() + node.text.size();
            int64_t value = 0;
            const auto [ptr, ec] = std::from_chars(begin, end, value);
            if (ec == std::errc() && ptr == end) {
                return value;
            }
            fail(node, key, "an integer that fits in 64 bits");
        }
    }
    fail(node, key, "an integer");
}

double readReal(const SettingsNode& node, const std::string& key) {
    if (node.kind == Kind::Integer) {
        return static_cast<double>(node.integer);
    }
    if (node.kind == Kind::Real) {
        return node.real;
    }
    if (node.kind == Kind::Scalar) {
        static const std::regex kReal("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
        if (std::regex_match(node.text, kReal)) {
            return std::strtod(node.text.c_str(), nullptr);
        }
        const std::string text = lower(node.text);
        if (text == ".inf" || text == "+.inf" || text == "-.inf" || text == ".nan") {
            // Accepted as numbers so that the range check names them ("expected ... got inf").
            return text == ".nan" ? std::numeric_limits<double>::quiet_NaN()
                                  : (text[0] == '-' ? -1.0 : 1.0) * std::numeric_limits<double>::infinity();
        }
    }
    fail(node, key, "a number");
}

std::string readString(const SettingsNode& node, const std::string& key) {
    if (node.kind == Kind::String || node.kind == Kind::Scalar) {
        return node.text;
    }
    if (node.kind == Kind::Null) {
        return {};
    }
    fail(node, key, "a string");
}

template <class Enum, size_t N>
Enum readEnum(const SettingsNode& node, const std::string& key, const EnumName<Enum> (&table)[N]) {
    const std::string expected = fmt::format("one of {}", fmt::join(enumNames(table), ", "));
    if (node.kind != Kind::String && node.kind != Kind::Scalar) {
        fail(node, key, expected);
    }
    for (const auto& entry : table) {
        if (node.text == entry.name) {
            return entry.value;
        }
    }
    fail(node, key, expected);
}

std::pair<int64_t, int64_t> readIntPair(const SettingsNode& node, const std::string& key) {
    if (node.kind != Kind::Sequence || node.items.size() != 2) {
        fail(node, key, "a list of two integers [height, width]");
    }
    return {readInt(node.items[0], key), readInt(node.items[1], key)};
}

std::vector<std::string> readStringList(const SettingsNode& node, const std::string& key) {
    if (node.kind != Kind::Sequence) {
        fail(node, key, "a list of strings");
    }
    std::vector<std::string> values;
    for (const auto& item : node.items) {
        if (item.kind != Kind::String && item.kind != Kind::Scalar) {
            fail(item, key, "a string");
        }
        values.push_back(item.text);
    }
    return values;
}

// --- the key table ---------------------------------------------------------------------------------------------

struct FieldSpec {
    std::string key;
    // Leaf fields: reads the node into the settings; `path` is the dotted key for messages.
    std::function<void(const SettingsNode& node, GenerationSettings& s, const std::string& path)> read;
    const std::vector<FieldSpec>* children = nullptr; // groups ("vae", "compile", ...)
};

size_t editDistance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string unknownKeyMessage(const std::string& key, const std::string& group, const std::vector<std::string>& known) {
    std::string message = group.empty() ? fmt::format("unknown key '{}'", key)
                                        : fmt::format("unknown key '{}' in '{}'", key, group);
    const std::string lowered = lower(key);
    size_t best = 3;
    std::string suggestion;
    for (const auto& candidate : known) {
        const size_t distance = editDistance(lowered, candidate);
        if (distance < best) {
            best = distance;
            suggestion = candidate;
        }
    }
    if (!suggestion.empty()) {
        message += fmt::format(" (did you mean '{}'?)", suggestion);
    }
    return message + fmt::format("; expected one of: {}", fmt::join(known, ", "));
}

void readObject(const SettingsNode& node, const std::string& group, const std::vector<FieldSpec>& fields,
                GenerationSettings& settings) {
    if (node.kind != Kind::Map) {
        fail(node, group.empty() ? "settings" : group, "a mapping of settings (key: value)");
    }
    std::vector<std::string> known;
    for (const auto& field : fields) {
        known.push_back(field.key);
    }
    for (const auto& member : node.members) {
        const auto field =
            std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.key == member.key; });
        const std::string path = group.empty() ? member.key : group + "." + member.key;
        if (field == fields.end()) {
            throw PresetError(path, located(member.keyWhere, unknownKeyMessage(member.key, group, known)));
        }
        if (field->children) {
            readObject(member.value, path, *field->children, settings);
        } else {
            field->read(member.value, settings, path);
        }
    }
}

// One leaf key: DS_FIELD("steps", { s.steps = readInt(node, path); }).
#define DS_FIELD(key, body)                                                                                            \
    FieldSpec {                                                                                                        \
        key, [](const SettingsNode& node, GenerationSettings& s, const std::string& path) body                        \
    }

const std::vector<FieldSpec>& vaeFields() {
    static const std::vector<FieldSpec> fields{
        DS_FIELD("tiled", { s.vae.tiled = readBool(node, path); }),
        DS_FIELD("tile_size", { std::tie(s.vae.tileHeight, s.vae.tileWidth) = readIntPair(node, path); }),
        DS_FIELD("tile_stride",
                 { std::tie(s.vae.tileStrideHeight, s.vae.tileStrideWidth) = readIntPair(node, path); }),
    };
    return fields;
}

const std::vector<FieldSpec>& compileFields() {
    static const std::vector<FieldSpec> fields{
        DS_FIELD("mode", { s.compile.mode = readEnum(node, path, kCompileModes); }),
        DS_FIELD("dynamic", { s.compile.dynamic = readBool(node, path); }),
        DS_FIELD("fullgraph", { s.compile.fullgraph = readBool(node, path); }),
        DS_FIELD("models", { s.compile.models = readStringList(node, path); }),
    };
    return fields;
}

const std::vector<FieldSpec>& parallelFields() {
    static const std::vector<FieldSpec> fields{
        DS_FIELD("ulysses", { s.parallel.ulysses = readInt(node, path); }),
        DS_FIELD("ring", { s.parallel.ring = readInt(node, path); }),
        DS_FIELD("cfg_parallel", { s.parallel.cfgParallel = readBool(node, path); }),
        DS_FIELD("device", { s.parallel.device = readString(node, path); }),
        DS_FIELD("gpus",
                 {
                     if (node.kind != Kind::Sequence) {
                         fail(node, path, "a list of GPU indices");
                     }
                     s.parallel.gpus.clear();
                     for (const auto& item : node.items) {
                         const int64_t index = readInt(item, path);
                         if (index < 0 || index > std::numeric_limits<int>::max()) {
                             fail(item, path, "GPU indices of 0 or more");
                         }
                         s.parallel.gpus.push_back(static_cast<int>(index));
                     }
                 }),
    };
    return fields;
}

const std::vector<FieldSpec>& exportFields() {
    static const std::vector<FieldSpec> fields{
        DS_FIELD("format", { s.exportSettings.format = readEnum(node, path, kExportFormats); }),
        DS_FIELD("quality",
                 {
                     const int64_t quality = readInt(node, path);
                     if (quality < 1 || quality > 100) {
                         fail(node, path, "an integer between 1 and 100");
                     }
                     s.exportSettings.quality = static_cast<int>(quality);
                 }),
        DS_FIELD("directory", { s.exportSettings.directory = readString(node, path); }),
        DS_FIELD("filename", { s.exportSettings.filenameTemplate = readString(node, path); }),
    };
    return fields;
}

const std::vector<FieldSpec>& topFields() {
    static const std::vector<FieldSpec> fields{
        DS_FIELD("schema_version", { (void)readInt(node, path); }), // checked (and migrated) in readSettings()
        DS_FIELD("name", { s.name = readString(node, path); }),
        DS_FIELD("description", { s.description = readString(node, path); }),
        DS_FIELD("prompt", { s.prompt = readString(node, path); }),
        DS_FIELD("negative_prompt", { s.negativePrompt = readString(node, path); }),
        DS_FIELD("seed", { s.seed = readInt(node, path); }),
        DS_FIELD("seed_mode", { s.seedMode = readEnum(node, path, kSeedModes); }),
        DS_FIELD("width", { s.width = readInt(node, path); }),
        DS_FIELD("height", { s.height = readInt(node, path); }),
        DS_FIELD("num_frames", { s.numFrames = readInt(node, path); }),
        DS_FIELD("fps", { s.fps = readInt(node, path); }),
        DS_FIELD("steps", { s.steps = readInt(node, path); }),
        DS_FIELD("cfg_scale", { s.cfgScale = readReal(node, path); }),
        DS_FIELD("shift", { s.shift = readReal(node, path); }),
        DS_FIELD("denoising_strength", { s.denoisingStrength = readReal(node, path); }),
        DS_FIELD("sampler", { s.sampler = readString(node, path); }),
        DS_FIELD("dtype", { s.dtype = readString(node, path); }),
        FieldSpec{"vae", nullptr, &vaeFields()},
        FieldSpec{"compile", nullptr, &compileFields()},
        FieldSpec{"parallel", nullptr, &parallelFields()},
        FieldSpec{"export", nullptr, &exportFields()},
    };
    return fields;
}

#undef DS_FIELD

void collectKeys(const std::vector<FieldSpec>& fields, const std::string& prefix, std::vector<std::string>& keys) {
    for (const auto& field : fields) {
        const std::string path = prefix.empty() ? field.key : prefix + "." + field.key;
        if (field.children) {
            collectKeys(*field.children, path, keys);
        } else {
            keys.push_back(path);
        }
    }
}

// --- schema versions -------------------------------------------------------------------------------------------

// Migration from schema version v to v+1 is kMigrations[v - 1]: it rewrites the tree of an older document (renamed
// keys, changed units) into the next version's shape. Bump GenerationSettings::kSchemaVersion together with adding
// a step here, and keep a preset of the old version in the tests.
using Migration = void (*)(SettingsNode& root);
const std::vector<Migration> kMigrations{};
static_assert(GenerationSettings::kSchemaVersion >= 1);

SettingsNode migrated(const SettingsNode& root) {
    const SettingsNode* versionNode = root.kind == Kind::Map ? root.find("schema_version") : nullptr;
    if (!versionNode) {
        return root; // version 1, the first
    }
    const int64_t version = readInt(*versionNode, "schema_version");
    constexpr int64_t kCurrent = GenerationSettings::kSchemaVersion;
    if (version > kCurrent) {
        throw PresetError("schema_version",
                          located(versionNode->where,
                                  fmt::format("schema_version {} is newer than this DiT Studio supports ({}); update "
                                              "DiT Studio to read this preset",
                                              version, kCurrent)));
    }
    if (version < 1) {
        fail(*versionNode, "schema_version", fmt::format("a version between 1 and {}", kCurrent));
    }
    if (kMigrations.size() + 1 != static_cast<size_t>(kCurrent)) {
        throw std::logic_error("generation settings: one migration per schema version step is required");
    }
    SettingsNode document = root;
    for (int64_t v = version; v < kCurrent; ++v) {
        kMigrations[static_cast<size_t>(v - 1)](document);
    }
    return document;
}

// --- validation helpers ----------------------------------------------------------------------------------------

[[noreturn]] void invalid(const std::string& key, const std::string& expected, const std::string& got) {
    throw PresetError(key, fmt::format("{}: expected {}, got {}", key, expected, got));
}

void checkOneOf(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        invalid(key, fmt::format("one of {}", fmt::join(allowed, ", ")), quoted(value));
    }
}

void checkSide(const std::string& key, int64_t value) {
    if (value < 16 || value > kMaxSide || value % 16 != 0) {
        invalid(key, fmt::format("a multiple of 16 between 16 and {}", kMaxSide), std::to_string(value));
    }
}

void checkIntRange(const std::string& key, int64_t value, int64_t low, int64_t high) {
    if (value < low || value > high) {
        invalid(key, fmt::format("an integer between {} and {}", low, high), std::to_string(value));
    }
}

template <class Json>
Json buildJson(const GenerationSettings& s) {
    Json json;
    json["schema_version"] = GenerationSettings::kSchemaVersion;
    json["name"] = s.name;
    json["description"] = s.description;
    json["prompt"] = s.prompt;
    json["negative_prompt"] = s.negativePrompt;
    json["seed"] = s.seed;
    json["seed_mode"] = toString(s.seedMode);
    json["width"] = s.width;
    json["height"] = s.height;
    json["num_frames"] = s.numFrames;
    json["fps"] = s.fps;
    json["steps"] = s.steps;
    json["cfg_scale"] = s.cfgScale;
    json["shift"] = s.shift;
    json["denoising_strength"] = s.denoisingStrength;
    json["sampler"] = s.sampler;
    json["dtype"] = s.dtype;
    Json& vae = json["vae"];
    vae["tiled"] = s.vae.tiled;
    vae["tile_size"] = Json::array({s.vae.tileHeight, s.vae.tileWidth});
    vae["tile_stride"] = Json::array({s.vae.tileStrideHeight, s.vae.tileStrideWidth});
    Json& compile = json["compile"];
    compile["mode"] = toString(s.compile.mode);
    compile["dynamic"] = s.compile.dynamic;
    compile["fullgraph"] = s.compile.fullgraph;
    compile["models"] = s.compile.models;
    Json& parallel = json["parallel"];
    parallel["ulysses"] = s.parallel.ulysses;
    parallel["ring"] = s.parallel.ring;
    parallel["cfg_parallel"] = s.parallel.cfgParallel;
    parallel["device"] = s.parallel.device;
    parallel["gpus"] = Json::array();
    for (int gpu : s.parallel.gpus) {
        parallel["gpus"].push_back(gpu);
    }
    Json& exportJson = json["export"];
    exportJson["format"] = toString(s.exportSettings.format);
    exportJson["quality"] = s.exportSettings.quality;
    exportJson["directory"] = s.exportSettings.directory;
    exportJson["filename"] = s.exportSettings.filenameTemplate;
    return json;
}

std::string trim(const std::string& text) {
    const auto begin = text.find_first_not_of(" \t");
    if (begin == std::string::npos) {
        return {};
    }
    return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

SettingsNode* findMutablePath(SettingsNode& root, const std::string& dottedKey) {
    SettingsNode* node = &root;
    size_t start = 0;
    while (node) {
        const size_t dot = dottedKey.find('.', start);
        const std::string part = dottedKey.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        SettingsNode* next = nullptr;
        for (auto& member : node->members) {
            if (member.key == part) {
                next = &member.value;
            }
        }
        node = next;
        if (dot == std::string::npos) {
            break;
        }
        start = dot + 1;
    }
    return node;
}

void relabel(SettingsNode& node, const std::string& where) {
    node.where = where;
    for (auto& item : node.items) {
        relabel(item, where);
    }
    for (auto& member : node.members) {
        member.keyWhere = where;
        relabel(member.value, where);
    }
}

} // namespace

std::string toString(SeedMode mode) {
    return enumName(kSeedModes, mode);
}

const std::vector<std::string>& compileModelNames() { return kCompileModels; }

std::string toString(CompileMode mode) {
    return enumName(kCompileModes, mode);
}

std::string toString(ExportFormat format) {
    return enumName(kExportFormats, format);
}

ExportFormat exportFormatForOutput(const std::string& output, ExportFormat configured, bool setExplicitly) {
    const auto dot = output.find_last_of('.');
    const auto slash = output.find_last_of('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
        return configured;
    }
    std::string extension = output.substr(dot + 1);
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const auto& entry : kExportFormats) {
        if (entry.value != ExportFormat::PngSequence && extension == entry.name) {
            if (setExplicitly && entry.value != configured) {
                throw PresetError("export.format",
                                  fmt::format("the output {} is a .{} file but export.format is {}", quoted(output),
                                              extension, toString(configured)));
            }
            return entry.value;
        }
    }
    return configured;
}

namespace presets {

GenerationSettings readSettings(const SettingsNode& root) {
    const SettingsNode document = migrated(root);
    GenerationSettings settings;
    readObject(document, "", topFields(), settings);
    try {
        settings.validate();
    } catch (const PresetError& e) {
        // Point at the offending key, or at the closest group that is in the document (a default made invalid by
        // another setting, e.g. parallel.gpus by parallel.ulysses).
        std::string key = e.key();
        const SettingsNode* node = document.findPath(key);
        while (!node && !key.empty()) {
            const size_t dot = key.rfind('.');
            key = dot == std::string::npos ? std::string() : key.substr(0, dot);
            node = key.empty() ? &document : document.findPath(key);
        }
        throw PresetError(e.key(), located(node ? node->where : document.where, e.what()));
    }
    return settings;
}

nlohmann::ordered_json buildOrderedJson(const GenerationSettings& settings) {
    return buildJson<nlohmann::ordered_json>(settings);
}

std::vector<std::string> settingKeys() {
    std::vector<std::string> keys;
    collectKeys(topFields(), "", keys);
    return keys;
}

} // namespace presets

nlohmann::json GenerationSettings::toJson() const {
    return buildJson<nlohmann::json>(*this);
}

GenerationSettings GenerationSettings::fromJson(const nlohmann::json& json) {
    return presets::readSettings(presets::fromJson(json));
}

void GenerationSettings::validate() const {
    if (seed < 0) {
        invalid("seed", "an integer of 0 or more", std::to_string(seed));
    }
    checkSide("width", width);
    checkSide("height", height);
    if (numFrames < 1 || numFrames > kMaxFrames || (numFrames - 1) % 4 != 0) {
        invalid("num_frames", fmt::format("4k+1 frames (1, 5, 9, ..., 81, ...) up to {}", kMaxFrames),
                std::to_string(numFrames));
    }
    checkIntRange("fps", fps, 1, kMaxFps);
    checkIntRange("steps", steps, 1, kMaxSteps);
    if (!std::isfinite(cfgScale) || cfgScale < 0.0 || cfgScale > kMaxCfgScale) {
        invalid("cfg_scale", fmt::format("a number between 0 and {}", kMaxCfgScale), formatReal(cfgScale));
    }
    if (!std::isfinite(shift) || shift <= 0.0 || shift > kMaxShift) {
        invalid("shift", fmt::format("a number greater than 0 and at most {}", kMaxShift), formatReal(shift));
    }
    if (!std::isfinite(denoisingStrength) || denoisingStrength <= 0.0 || denoisingStrength > 1.0) {
        invalid("denoising_strength", "a number greater than 0 and at most 1", formatReal(denoisingStrength));
    }
    checkOneOf("sampler", sampler, kSamplers);
    checkOneOf("dtype", dtype, kDtypes);

    if (vae.tileHeight < 1 || vae.tileWidth < 1) {
        invalid("vae.tile_size", "two positive integers [height, width] in latent units",
                fmt::format("[{}, {}]", vae.tileHeight, vae.tileWidth));
    }
    if (vae.tileStrideHeight < 1 || vae.tileStrideWidth < 1 || vae.tileStrideHeight > vae.tileHeight ||
        vae.tileStrideWidth > vae.tileWidth) {
        invalid("vae.tile_stride",
                fmt::format("strides between 1 and the tile size [{}, {}]", vae.tileHeight, vae.tileWidth),
                fmt::format("[{}, {}]", vae.tileStrideHeight, vae.tileStrideWidth));
    }

    std::set<std::string> seenModels;
    for (const auto& model : compile.models) {
        checkOneOf("compile.models", model, kCompileModels);
        if (!seenModels.insert(model).second) {
            invalid("compile.models", "each model at most once", fmt::format("'{}' twice", model));
        }
    }

    checkIntRange("parallel.ulysses", parallel.ulysses, 1, kMaxDegree);
    checkIntRange("parallel.ring", parallel.ring, 1, kMaxDegree);
    checkOneOf("parallel.device", parallel.device, kDevices);
    const int64_t worldSize = parallel.ulysses * parallel.ring * (parallel.cfgParallel ? 2 : 1);
    if (parallel.device == "cpu" && worldSize > 1 && !parallel.gpus.empty()) {
        invalid("parallel.gpus", "no GPU indices with parallel.device cpu",
                fmt::format("{} indices", parallel.gpus.size()));
    }
    std::set<int> seenGpus;
    for (int gpu : parallel.gpus) {
        if (gpu < 0) {
            invalid("parallel.gpus", "GPU indices of 0 or more", std::to_string(gpu));
        }
        if (!seenGpus.insert(gpu).second) {
            invalid("parallel.gpus", "each GPU at most once", fmt::format("GPU {} twice", gpu));
        }
    }
    if (!parallel.gpus.empty() && static_cast<int64_t>(parallel.gpus.size()) != worldSize) {
        invalid("parallel.gpus",
                fmt::format("{} GPU indices (ulysses {} x ring {} x cfg {}) or none", worldSize, parallel.ulysses,
                            parallel.ring, parallel.cfgParallel ? 2 : 1),
                fmt::format("{}", parallel.gpus.size()));
    }

    checkIntRange("export.quality", exportSettings.quality, 1, 100);
    if (trim(exportSettings.filenameTemplate).empty()) {
        invalid("export.filename", "a file name template such as {date}_{time}_{seed}", "an empty string");
    }
}

void GenerationSettings::applyOverride(const std::string& assignment) {
    const std::string where = fmt::format("override '{}'", assignment);
    const size_t equals = assignment.find('=');
    const std::string key = trim(assignment.substr(0, equals));
    if (equals == std::string::npos || key.empty()) {
        throw PresetError("", where + ": expected key=value, e.g. vae.tiled=false or parallel.ulysses=2");
    }
    const std::string valueText = assignment.substr(equals + 1);

    SettingsNode document = presets::fromJson(toJson());
    SettingsNode* target = key == "schema_version" ? nullptr : findMutablePath(document, key);
    if (!target) {
        std::vector<std::string> keys = presets::settingKeys();
        keys.erase(std::remove(keys.begin(), keys.end(), "schema_version"), keys.end());
        throw PresetError(key, located(where, unknownKeyMessage(key, "", keys)));
    }

    SettingsNode value;
    if (target->kind == Kind::String) {
        value.kind = Kind::String; // taken literally: "prompt=a cat: on a mat" is text, not YAML
        value.text = valueText;
    } else {
        try {
            value = presets::fromYaml(YAML::Load(valueText), where);
        } catch (const YAML::Exception& e) {
            throw PresetError(key, fmt::format("{}: {}: the value is not valid YAML: {}", where, key, e.msg));
        }
        if (target->kind == Kind::Sequence && (value.kind == Kind::Scalar || value.kind == Kind::Null)) {
            // "parallel.gpus=0,1", "compile.models=dit": a comma-separated list; "parallel.gpus=" an empty one.
            SettingsNode list;
            list.kind = Kind::Sequence;
            size_t start = 0;
            while (!trim(valueText).empty() && start <= valueText.size()) {
                const size_t comma = std::min(valueText.find(',', start), valueText.size());
                SettingsNode item;
                item.kind = Kind::Scalar;
                item.text = trim(valueText.substr(start, comma - start));
                list.items.push_back(std::move(item));
                start = comma + 1;
            }
            value = std::move(list);
        }
    }
    relabel(value, where);
    if (target->kind == Kind::Map && value.kind == Kind::Map) {
        for (auto& member : value.members) { // "vae={tiled: false}" changes only the keys it names
            auto existing = std::find_if(target->members.begin(), target->members.end(),
                                         [&](const auto& m) { return m.key == member.key; });
            if (existing != target->members.end()) {
                existing->value = std::move(member.value);
            } else {
                target->members.push_back(std::move(member));
            }
        }
    } else {
        *target = std::move(value);
    }
    *this = presets::readSettings(document);
}

} // namespace ditstudio
