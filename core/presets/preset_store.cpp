// Presets as YAML files: strict loading with file:line:column messages, the writer, and the store of built-in and
// user presets with atomic writes (temporary file + fsync + rename).
#include "core/presets/preset_store.h"

#include "core/presets/settings_document.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ditstudio {

namespace {

constexpr uintmax_t kMaxPresetBytes = 1 << 20;
constexpr size_t kMaxNameLength = 100;

std::string readPresetText(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        throw PresetError("", fmt::format("{}: no such preset file", path.string()));
    }
    const uintmax_t size = fs::file_size(path, ec);
    if (!ec && size > kMaxPresetBytes) {
        throw PresetError("", fmt::format("{}: {} bytes is too large for a preset (at most {})", path.string(), size,
                                          kMaxPresetBytes));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw PresetError("", fmt::format("{}: cannot read the preset: {}", path.string(), std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw PresetError("", fmt::format("{}: reading the preset failed: {}", path.string(), std::strerror(errno)));
    }
    return text.str();
}

// Writes `text` to `path` so that a reader sees either the old file or the whole new one, never a part.
void writeAtomically(const fs::path& path, const std::string& text) {
    const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        throw PresetError("", fmt::format("{}: cannot create the folder: {}", dir.string(), ec.message()));
    }
    const fs::path temp = dir / fmt::format(".{}.tmp-{}", path.filename().string(), ::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw PresetError("", fmt::format("{}: cannot write: {}", path.string(), std::strerror(errno)));
    }
    auto failWith = [&](const char* what, int error) {
        ::close(fd);
        ::unlink(temp.c_str());
        throw PresetError("", fmt::format("{}: {}: {}", path.string(), what, std::strerror(error)));
    };
    size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            failWith("writing failed", n < 0 ? errno : ENOSPC);
        }
        written += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        failWith("flushing to disk failed", errno);
    }
    if (::close(fd) != 0) {
        const int error = errno;
        ::unlink(temp.c_str());
        throw PresetError("", fmt::format("{}: closing failed: {}", path.string(), std::strerror(error)));
    }
    fs::rename(temp, path, ec);
    if (ec) {
        ::unlink(temp.c_str());
        throw PresetError("", fmt::format("{}: cannot move the new file into place: {}", path.string(), ec.message()));
    }
}

bool isPresetFile(const fs::path& path) {
    const std::string ext = path.extension().string();
    return (ext == ".yaml" || ext == ".yml") && path.filename().string().front() != '.';
}

// Strings a YAML reader would take for something else (null, a bool, a number) or that lose characters when plain.
bool needsQuotes(const std::string& text) {
    static const std::regex kNotAString(
        "~|null|true|false|yes|no|on|off|y|n|[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\\.inf|\\.nan|"
        "0x[0-9a-f]+|0o[0-7]+",
        std::regex::icase);
    if (text.empty() || std::isspace(static_cast<unsigned char>(text.front())) ||
        std::isspace(static_cast<unsigned char>(text.back()))) {
        return true;
    }
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
        return true;
    }
    return std::regex_match(text, kNotAString);
}

std::string yamlReal(double value) {
    std::string text = fmt::format("{}", value);
    if (text.find_first_of(".eEn") == std::string::npos) {
        text += ".0"; // "5" would read back as an integer in other tools
    }
    return text;
}

void emit(YAML::Emitter& out, const nlohmann::ordered_json& value) {
    switch (value.type()) {
    case nlohmann::ordered_json::value_t::object:
        out << YAML::BeginMap;
        for (const auto& [key, item] : value.items()) {
            out << YAML::Key << key << YAML::Value;
            emit(out, item);
        }
        out << YAML::EndMap;
        break;
    case nlohmann::ordered_json::value_t::array:
        out << YAML::Flow << YAML::BeginSeq;
        for (const auto& item : value) {
            emit(out, item);
        }
        out << YAML::EndSeq;
        break;
    case nlohmann::ordered_json::value_t::string: {
        const auto& text = value.get_ref<const std::string&>();
        if (needsQuotes(text)) {
            out << YAML::DoubleQuoted;
        }
        out << text;
        break;
    }
    case nlohmann::ordered_json::value_t::boolean: out << value.get<bool>(); break;
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned: out << value.get<int64_t>(); break;
    case nlohmann::ordered_json::value_t::number_float: out << yamlReal(value.get<double>()); break;
    default: out << YAML::Null; break;
    }
}

} // namespace

namespace {

// Counts the documents of a YAML stream through yaml-cpp's event parser, stopping at two. YAML::LoadAll of
// yaml-cpp 0.7 never returns on some malformed text (a lone "," at the top level yields empty documents until
// memory runs out; found by tests/fuzz/fuzz_preset), so the loader never asks it for all documents.
class DocumentCounter : public YAML::EventHandler {
public:
    std::vector<YAML::Mark> starts; // each document's first node (its start when it has none)
    void OnDocumentStart(const YAML::Mark& mark) override {
        starts.push_back(mark);
        isAtStart_ = true;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
        node(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnMapEnd() override {}

private:
    void node(const YAML::Mark& mark) {
        if (isAtStart_) {
            starts.back() = mark;
            isAtStart_ = false;
        }
    }
    bool isAtStart_ = false;
};

// The first document, and where a second one starts (if there is one).
std::pair<YAML::Node, std::optional<YAML::Mark>> loadFirstDocument(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (counter.starts.size() < 2 && parser.HandleNextDocument(counter)) {
    }
    std::optional<YAML::Mark> second;
    if (counter.starts.size() > 1) {
        second = counter.starts[1];
    }
    return {YAML::Load(text), second};
}

} // namespace

GenerationSettings loadPresetYaml(const std::string& text, const std::string& sourceName) {
    constexpr size_t kMaxPresetBytes = 1 << 20;
    if (text.size() > kMaxPresetBytes) {
        throw PresetError("", fmt::format("{}: {} bytes; a preset is at most {} bytes", sourceName, text.size(),
                                          kMaxPresetBytes));
    }
    std::pair<YAML::Node, std::optional<YAML::Mark>> documents;
    try {
        documents = loadFirstDocument(text);
    } catch (const YAML::ParserException& e) {
        throw PresetError("", fmt::format("{}:{}:{}: malformed YAML: {}", sourceName, e.mark.line + 1,
                                          e.mark.column + 1, e.msg));
    } catch (const YAML::Exception& e) {
        throw PresetError("", fmt::format("{}: malformed YAML: {}", sourceName, e.msg));
    }
    if (!documents.first || documents.first.IsNull()) {
        throw PresetError("", fmt::format("{}: the preset is empty; expected a mapping of settings such as "
                                          "'width: 832'",
                                          sourceName));
    }
    if (documents.second) {
        const YAML::Mark mark = *documents.second;
        throw PresetError("", fmt::format("{}:{}:{}: a second YAML document; a preset is a single mapping",
                                          sourceName, mark.line + 1, mark.column + 1));
    }
    return presets::readSettings(presets::fromYaml(documents.first, sourceName));
}

GenerationSettings loadPresetFile(const fs::path& path) {
    GenerationSettings settings = loadPresetYaml(readPresetText(path), path.string());
    if (settings.name.empty()) {
        settings.name = path.stem().string();
    }
    return settings;
}

std::string toYaml(const GenerationSettings& settings) {
    YAML::Emitter out;
    out.SetIndent(2);
    out.SetBoolFormat(YAML::TrueFalseBool);
    emit(out, presets::buildOrderedJson(settings));
    if (!out.good()) {
        throw PresetError("", "writing the preset as YAML failed: " + out.GetLastError());
    }
    return fmt::format("# DiT Studio preset. Keys left out keep their defaults.\n{}\n", out.c_str());
}

PresetStore::PresetStore(fs::path builtinDir, fs::path userDir)
    : builtinDir_(std::move(builtinDir)), userDir_(std::move(userDir)) {}

fs::path PresetStore::defaultUserDir() {
    // XDG Base Directory: a relative XDG_CONFIG_HOME is invalid and ignored.
    if (const char* config = std::getenv("XDG_CONFIG_HOME"); config && *config && fs::path(config).is_absolute()) {
        return fs::path(config) / "ditstudio" / "presets";
    }
    const char* home = std::getenv("HOME");
    if (!home || !*home) {
        const passwd* user = ::getpwuid(::getuid());
        home = user ? user->pw_dir : nullptr;
    }
    if (!home) {
        throw PresetError("", "cannot find the user's config folder: neither XDG_CONFIG_HOME nor HOME is set");
    }
    return fs::path(home) / ".config" / "ditstudio" / "presets";
}

fs::path PresetStore::defaultBuiltinDir() {
    if (const char* dir = std::getenv("DITSTUDIO_PRESET_DIR"); dir && *dir) {
        return dir;
    }
    // readlink(2) rather than std::filesystem::read_symlink: libtorch.so exports its own copy of the latter.
    std::string executable(4096, '\0');
    const ssize_t length = ::readlink("/proc/self/exe", executable.data(), executable.size());
    if (length > 0 && static_cast<size_t>(length) < executable.size()) {
        executable.resize(static_cast<size_t>(length));
        const fs::path installed = fs::path(executable).parent_path().parent_path() / "share" / "ditstudio" / "presets";
        std::error_code ec;
        if (fs::is_directory(installed, ec)) {
            return installed;
        }
    }
#ifdef DITSTUDIO_PRESET_DIR
    return DITSTUDIO_PRESET_DIR;
#else
    return "resources/presets";
#endif
}

std::optional<PresetStore::Found> PresetStore::find(const std::string& name) const {
    if (name.empty() || name.find('/') != std::string::npos || name.front() == '.') {
        return std::nullopt;
    }
    std::error_code ec;
    for (const auto& [dir, builtin] : {std::pair{userDir_, false}, std::pair{builtinDir_, true}}) {
        for (const char* ext : {".yaml", ".yml"}) {
            const fs::path path = dir / (name + ext);
            if (fs::is_regular_file(path, ec)) {
                return Found{path, builtin};
            }
        }
    }
    return std::nullopt;
}

std::vector<std::string> PresetStore::names() const {
    std::vector<std::string> result;
    for (const auto& entry : list()) {
        result.push_back(entry.name);
    }
    return result;
}

PresetStore::Found PresetStore::require(const std::string& name) const {
    if (auto found = find(name)) {
        return *found;
    }
    throw PresetError("", fmt::format("no preset named '{}'; available: {}", name, fmt::join(names(), ", ")));
}

void PresetStore::checkWritableName(const std::string& name) const {
    if (name.empty()) {
        throw PresetError("", "a preset name cannot be empty");
    }
    const bool hasControl =
        std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
    if (name.size() > kMaxNameLength || name.front() == '.' || hasControl ||
        name.find_first_of("/\\") != std::string::npos) {
        throw PresetError("", fmt::format("'{}' is not a usable preset name: expected at most {} characters, no '/' "
                                          "or '\\', no control characters, not starting with '.'",
                                          name, kMaxNameLength));
    }
    std::error_code ec;
    for (const char* ext : {".yaml", ".yml"}) {
        if (fs::is_regular_file(builtinDir_ / (name + ext), ec)) {
            throw PresetError("", fmt::format("'{}' is the name of a built-in preset, which is read-only; choose "
                                              "another name",
                                              name));
        }
    }
}

std::vector<PresetEntry> PresetStore::list() const {
    std::vector<PresetEntry> entries;
    for (const auto& [dir, builtin] : {std::pair{builtinDir_, true}, std::pair{userDir_, false}}) {
        std::vector<PresetEntry> found;
        std::error_code ec;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            if (!isPresetFile(it->path()) || !it->is_regular_file(ec)) {
                continue;
            }
            PresetEntry entry;
            entry.name = it->path().stem().string();
            entry.path = it->path();
            entry.builtin = builtin;
            try {
                entry.description = loadPresetFile(entry.path).description;
            } catch (const Error& e) {
                entry.error = e.what();
            }
            found.push_back(std::move(entry));
        }
        std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
        entries.insert(entries.end(), found.begin(), found.end());
    }
    return entries;
}

GenerationSettings PresetStore::load(const std::string& nameOrPath) const {
    const fs::path path(nameOrPath);
    std::error_code ec;
    const bool looksLikePath = nameOrPath.find('/') != std::string::npos || path.extension() == ".yaml" ||
                               path.extension() == ".yml";
    if (looksLikePath && fs::is_regular_file(path, ec)) {
        return loadPresetFile(path);
    }
    if (looksLikePath && !find(nameOrPath)) {
        throw PresetError("", fmt::format("{}: no such preset file", nameOrPath));
    }
    GenerationSettings settings = loadPresetFile(require(nameOrPath).path);
    settings.name = nameOrPath;
    return settings;
}

fs::path PresetStore::save(const GenerationSettings& settings, const std::string& name) const {
    checkWritableName(name);
    GenerationSettings named = settings;
    named.name = name;
    try {
        named.validate();
    } catch (const PresetError& e) {
        throw PresetError(e.key(), fmt::format("preset '{}' not saved: {}", name, e.what()));
    }
    const fs::path path = userDir_ / (name + ".yaml");
    writeAtomically(path, toYaml(named));
    std::error_code ec;
    fs::remove(userDir_ / (name + ".yml"), ec); // the .yaml now holds this preset
    spdlog::info("saved preset '{}' to {}", name, path.string());
    return path;
}

fs::path PresetStore::duplicate(const std::string& name, const std::string& newName) const {
    const Found source = require(name);
    checkWritableName(newName);
    if (find(newName)) {
        throw PresetError("", fmt::format("cannot duplicate '{}': a preset named '{}' already exists", name, newName));
    }
    return save(loadPresetFile(source.path), newName);
}

fs::path PresetStore::rename(const std::string& name, const std::string& newName) const {
    const Found source = require(name);
    if (source.builtin) {
        throw PresetError("", fmt::format("'{}' is a built-in preset, which is read-only; duplicate it instead", name));
    }
    checkWritableName(newName);
    if (newName == name) {
        return source.path;
    }
    if (find(newName)) {
        throw PresetError("", fmt::format("cannot rename '{}': a preset named '{}' already exists", name, newName));
    }
    fs::path target;
    try {
        target = save(loadPresetFile(source.path), newName); // keeps the file's own name: in step
    } catch (const PresetError&) {
        // A preset that does not load is moved as it is, so that its author can still fix it.
        target = userDir_ / (newName + source.path.extension().string());
        std::error_code ec;
        fs::rename(source.path, target, ec);
        if (ec) {
            throw PresetError("", fmt::format("{}: cannot rename to {}: {}", source.path.string(), target.string(),
                                              ec.message()));
        }
        return target;
    }
    std::error_code ec;
    fs::remove(source.path, ec);
    if (ec) {
        throw PresetError("", fmt::format("{}: renamed to {} but the old file stays: {}", source.path.string(),
                                          target.string(), ec.message()));
    }
    return target;
}

void PresetStore::remove(const std::string& name) const {
    const Found source = require(name);
    if (source.builtin) {
        throw PresetError("", fmt::format("'{}' is a built-in preset and cannot be deleted", name));
    }
    std::error_code ec;
    fs::remove(source.path, ec);
    if (ec) {
        throw PresetError("", fmt::format("{}: cannot delete: {}", source.path.string(), ec.message()));
    }
    spdlog::info("deleted preset '{}' ({})", name, source.path.string());
}

std::string PresetStore::importFile(const fs::path& path, const std::string& newName) const {
    const std::string text = readPresetText(path);
    (void)loadPresetYaml(text, path.string()); // validates: an invalid file throws here, before anything is copied
    const std::string name = newName.empty() ? path.stem().string() : newName;
    checkWritableName(name);
    if (find(name)) {
        throw PresetError("", fmt::format("cannot import {}: a preset named '{}' already exists", path.string(), name));
    }
    writeAtomically(userDir_ / (name + ".yaml"), text);
    return name;
}

void PresetStore::exportTo(const std::string& name, const fs::path& path) const {
    writeAtomically(path, readPresetText(require(name).path));
}

} // namespace ditstudio
