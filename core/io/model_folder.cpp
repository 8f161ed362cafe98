#include "core/io/model_folder.h"

#include "core/io/pth_reader.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>

namespace ditstudio::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOfficialDitIndex = "diffusion_pytorch_model.safetensors.index.json";
constexpr const char* kOfficialVae = "Wan2.1_VAE.pth";
constexpr const char* kOfficialTextEncoder = "models_t5_umt5-xxl-enc-bf16.pth";
constexpr const char* kOfficialTokenizer = "google/umt5-xxl";

bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool isPthName(const std::string& name) { return endsWith(name, ".pth") || endsWith(name, ".pt"); }

// Top-level entries of the folder, sorted; folders end in '/'.
std::vector<std::string> listFolder(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        names.push_back(entry.path().filename().string() + (entry.is_directory() ? "/" : ""));
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string foundList(const fs::path& dir) {
    auto names = listFolder(dir);
    if (names.empty()) {
        return "nothing (empty folder)";
    }
    if (names.size() > 20) {
        const size_t more = names.size() - 20;
        names.resize(20);
        names.push_back(fmt::format("... ({} more)", more));
    }
    return fmt::format("{}", fmt::join(names, ", "));
}

// A tokenizer is a folder with spiece.model or tokenizer.json, or one of those files.
bool isTokenizer(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        return fs::is_regular_file(path / "spiece.model", ec) || fs::is_regular_file(path / "tokenizer.json", ec);
    }
    const auto name = path.filename().string();
    return fs::is_regular_file(path, ec) && (endsWith(name, ".model") || name == "tokenizer.json");
}

// A weights file, or an index followed by the shards its weight_map names (sorted, each once).
std::vector<fs::path> componentFiles(const fs::path& path) {
    std::vector<fs::path> files{path};
    if (!endsWith(path.filename().string(), ".index.json")) {
        return files;
    }
    std::ifstream in(path);
    nlohmann::json index;
    try {
        index = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range for a number beyond double
        throw FormatError(fmt::format("{}: index is not well-formed JSON: {}", path.string(), e.what()));
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
        throw FormatError(fmt::format("{}: index needs a \"weight_map\" object of tensor name -> shard file",
                                      path.string()));
    }
    std::set<std::string> shards;
    for (const auto& shard : index["weight_map"]) {
        if (!shard.is_string()) {
            throw FormatError(fmt::format("{}: weight_map value {} is not a file name", path.string(), shard.dump()));
        }
        shards.insert(shard.get<std::string>());
    }
    for (const auto& shard : shards) {
        files.push_back(path.parent_path() / shard);
    }
    return files;
}

void checkFiles(const std::vector<fs::path>& files) {
    for (const auto& f : files) {
        const auto name = f.filename().string();
        if (isPthName(name)) {
            checkPth(f);
        } else if (endsWith(name, ".safetensors")) {
            (void)SafetensorsFile::open(f); // validates the header against the file size
        }
    }
}

// ------------------------------------------------------------------------------------------ manifest parsing

struct ManifestReader {
    fs::path dir, path;
    nlohmann::json json;

    [[noreturn]] void fail(const std::string& key, const std::string& message) const {
        throw FormatError(fmt::format("{}: {}: {}", path.string(), key, message));
    }
    void checkKeys(const nlohmann::json& object, const std::string& where, const std::set<std::string>& allowed) const {
        for (auto it = object.begin(); it != object.end(); ++it) {
            if (!allowed.count(it.key())) {
                fail(where.empty() ? it.key() : where + "." + it.key(),
                     fmt::format("unknown key (expected one of: {})", fmt::join(allowed, ", ")));
            }
        }
    }
    std::string optionalString(const nlohmann::json& object, const std::string& key, const std::string& where) const {
        if (!object.contains(key)) {
            return {};
        }
        if (!object[key].is_string()) {
            fail(where, fmt::format("expected a string, got {}", object[key].type_name()));
        }
        return object[key].get<std::string>();
    }
    fs::path file(const nlohmann::json& object, const std::string& where) const {
        const auto name = optionalString(object, "file", where + ".file");
        if (name.empty()) {
            fail(where + ".file", "required: a path relative to the model folder");
        }
        const fs::path p = dir / name;
        std::error_code ec;
        if (!fs::exists(p, ec)) {
            throw ModelError(fmt::format("{}: {}.file names {}, which does not exist (found in {}: {})", path.string(),
                                         where, name, dir.string(), foundList(dir)));
        }
        return p;
    }
    ModelComponent component(const std::string& key, ModelRole role) const {
        if (!json.contains(key)) {
            throw ModelError(fmt::format("{}: no \"{}\" entry; a model needs dit, vae, text_encoder and tokenizer",
                                         path.string(), key));
        }
        const auto& object = json[key];
        if (!object.is_object()) {
            fail(key, fmt::format("expected an object {{file, config}}, got {}", object.type_name()));
        }
        checkKeys(object, key, {"file", "config"});
        nlohmann::json config;
        if (object.contains("config")) {
            if (!object["config"].is_object()) {
                fail(key + ".config", fmt::format("expected an object, got {}", object["config"].type_name()));
            }
            config = object["config"];
        }
        return ModelComponent(role, componentFiles(file(object, key)), config);
    }
    at::Tensor matrix(const nlohmann::json& value, const std::string& where, int64_t rows, int64_t cols) const {
        auto numberRow = [&](const nlohmann::json& row, const std::string& at, int64_t n) {
            if (!row.is_array() || static_cast<int64_t>(row.size()) != n) {
                fail(at, fmt::format("expected {} numbers, got {}", n, row.dump()));
            }
            std::vector<float> out;
            for (const auto& v : row) {
                if (!v.is_number() || !(std::abs(v.get<double>()) <= std::numeric_limits<float>::max())) {
                    fail(at, fmt::format("expected finite float32 numbers, got {}", v.dump()));
                }
                out.push_back(v.get<float>());
            }
            return out;
        };
        if (rows == 0) {
            auto values = numberRow(value, where, cols);
            return at::tensor(values, at::kFloat); // [cols]
        }
        if (!value.is_array() || static_cast<int64_t>(value.size()) != rows) {
            fail(where, fmt::format("expected [{}][{}], got {} rows", rows, cols, value.is_array() ? value.size() : 0));
        }
        std::vector<float> flat;
        for (int64_t r = 0; r < rows; ++r) {
            auto row = numberRow(value[r], fmt::format("{}[{}]", where, r), cols);
            flat.insert(flat.end(), row.begin(), row.end());
        }
        return at::tensor(flat, at::kFloat).reshape({rows, cols}); // [rows, cols]
    }
};

void checkDitConfigAgainstWeights(const WanDiTConfig& declared, const WanDiTConfig& inferred, const fs::path& manifest,
                                  const std::string& weightsFile) {
    auto check = [&](const char* key, int64_t a, int64_t b) {
        if (a != b) {
            throw ModelError(fmt::format("{}: dit.config.{} is {} but the weights in {} have {}", manifest.string(),
                                         key, a, weightsFile, b));
        }
    };
    check("dim", declared.dim, inferred.dim);
    check("ffn_dim", declared.ffnDim, inferred.ffnDim);
    check("num_layers", declared.numLayers, inferred.numLayers);
    check("in_dim", declared.inDim, inferred.inDim);
    check("out_dim", declared.outDim, inferred.outDim);
    check("text_dim", declared.textDim, inferred.textDim);
    check("freq_dim", declared.freqDim, inferred.freqDim);
    for (int i = 0; i < 3; ++i) {
        check("patch_size", declared.patchSize[i], inferred.patchSize[i]);
    }
}

} // namespace

// ------------------------------------------------------------------------------------------ ModelComponent

struct ModelComponent::State {
    std::mutex mutex;
    std::optional<WeightSource> weights; // guarded by mutex
};

ModelComponent::ModelComponent(ModelRole role, std::vector<fs::path> files, nlohmann::json config)
    : role_(role), files_(std::move(files)), config_(std::move(config)), state_(std::make_shared<State>()) {}

const WeightSource& ModelComponent::weights() const {
    if (!state_ || files_.empty()) {
        throw ModelError(fmt::format("no {} files", toString(role_)));
    }
    std::lock_guard lock(state_->mutex);
    if (!state_->weights) {
        const auto first = files_.front().filename().string();
        WeightSource raw;
        if (isPthName(first)) {
            raw = openPth(files_.front());
        } else if (endsWith(first, ".index.json")) {
            raw = WeightSource::open(files_.front());
        } else {
            raw = WeightSource::openFiles(files_);
        }
        state_->weights = withOfficialNames(raw, role_);
    }
    return *state_->weights;
}

void ModelComponent::release() const {
    if (state_) {
        std::lock_guard lock(state_->mutex);
        state_->weights.reset();
    }
}

// ------------------------------------------------------------------------------------------ ModelFolder

std::string toString(ModelLayout layout) {
    switch (layout) {
    case ModelLayout::OfficialWan:
        return "official";
    case ModelLayout::SingleFiles:
        return "single";
    case ModelLayout::Manifest:
        return "manifest";
    }
    return "?";
}

static ModelFolder openManifest(const fs::path& dir) {
    ManifestReader m{dir, dir / kManifestName, {}};
    {
        std::ifstream in(m.path);
        if (!in) {
            throw FormatError(fmt::format("{}: cannot open", m.path.string()));
        }
        try {
            m.json = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range for a number beyond double
            throw FormatError(fmt::format("{}: not well-formed JSON: {}", m.path.string(), e.what()));
        }
    }
    if (!m.json.is_object()) {
        throw FormatError(fmt::format("{}: expected a JSON object, got {}", m.path.string(), m.json.type_name()));
    }
    m.checkKeys(m.json, "", {"format_version", "name", "dit", "vae", "text_encoder", "tokenizer", "preview",
                             "default_preset", "license", "training_commit", "description", "text_length"});
    if (!m.json.contains("format_version") || !m.json["format_version"].is_number_integer()) {
        m.fail("format_version", "required: an integer");
    }
    const int version = m.json["format_version"].get<int>();
    if (version < 1 || version > kManifestVersion) {
        m.fail("format_version", fmt::format("{} is not supported (this DiT Studio reads 1..{}); a newer DiT Studio "
                                             "wrote this folder",
                                             version, kManifestVersion));
    }
    ModelFolder folder;
    folder.root = dir;
    folder.layout = ModelLayout::Manifest;
    folder.name = m.optionalString(m.json, "name", "name");
    if (folder.name.empty()) {
        folder.name = dir.filename().string();
    }
    folder.defaultPreset = m.optionalString(m.json, "default_preset", "default_preset");
    folder.license = m.optionalString(m.json, "license", "license");
    folder.trainingCommit = m.optionalString(m.json, "training_commit", "training_commit");
    folder.dit = m.component("dit", ModelRole::Dit);
    folder.vae = m.component("vae", ModelRole::Vae);
    folder.textEncoder = m.component("text_encoder", ModelRole::TextEncoder);
    if (!m.json.contains("tokenizer") || !m.json["tokenizer"].is_object()) {
        throw ModelError(fmt::format("{}: no \"tokenizer\": {{\"file\": ...}} entry; a model needs dit, vae, "
                                     "text_encoder and tokenizer",
                                     m.path.string()));
    }
    m.checkKeys(m.json["tokenizer"], "tokenizer", {"file"});
    folder.tokenizer = m.file(m.json["tokenizer"], "tokenizer");
    if (!isTokenizer(folder.tokenizer)) {
        throw ModelError(fmt::format("{}: tokenizer.file {} is neither a SentencePiece model / tokenizer.json nor a "
                                     "folder holding spiece.model or tokenizer.json",
                                     m.path.string(), folder.tokenizer.string()));
    }
    if (m.json.contains("preview")) {
        const auto& preview = m.json["preview"];
        if (!preview.is_object()) {
            m.fail("preview", "expected an object {latent_rgb_factors, latent_rgb_bias}");
        }
        m.checkKeys(preview, "preview", {"latent_rgb_factors", "latent_rgb_bias"});
        if (!preview.contains("latent_rgb_factors") || !preview.contains("latent_rgb_bias")) {
            m.fail("preview", "needs both latent_rgb_factors [16][3] and latent_rgb_bias [3]");
        }
        folder.previewFactors = m.matrix(preview["latent_rgb_factors"], "preview.latent_rgb_factors", 16, 3);
        folder.previewBias = m.matrix(preview["latent_rgb_bias"], "preview.latent_rgb_bias", 0, 3);
    }
    return folder;
}

static ModelFolder openOfficial(const fs::path& dir) {
    ModelFolder folder;
    folder.root = dir;
    folder.layout = ModelLayout::OfficialWan;
    folder.name = dir.filename().string();
    std::vector<std::string> missing;
    std::error_code ec;

    std::vector<fs::path> shards;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const auto name = entry.path().filename().string();
        if (startsWith(name, "diffusion_pytorch_model") && endsWith(name, ".safetensors")) {
            shards.push_back(entry.path());
        }
    }
    std::sort(shards.begin(), shards.end());
    if (fs::is_regular_file(dir / kOfficialDitIndex, ec)) {
        folder.dit = ModelComponent(ModelRole::Dit, componentFiles(dir / kOfficialDitIndex), nullptr);
    } else if (shards.size() == 1) {
        folder.dit = ModelComponent(ModelRole::Dit, shards, nullptr);
    } else if (shards.size() > 1) {
        missing.push_back(fmt::format("{} (the index of the {} DiT shards)", kOfficialDitIndex, shards.size()));
    } else {
        missing.push_back("diffusion_pytorch_model.safetensors (or sharded with its .index.json)");
    }
    auto pick = [&](ModelRole role, const char* official) {
        const fs::path pth = dir / official;
        const fs::path safetensors = dir / (fs::path(official).stem().string() + ".safetensors");
        if (fs::is_regular_file(pth, ec)) {
            return ModelComponent(role, {pth}, nullptr);
        }
        if (fs::is_regular_file(safetensors, ec)) { // DiffSynth's converted copy, same keys
            return ModelComponent(role, {safetensors}, nullptr);
        }
        missing.push_back(official);
        return ModelComponent();
    };
    folder.vae = pick(ModelRole::Vae, kOfficialVae);
    folder.textEncoder = pick(ModelRole::TextEncoder, kOfficialTextEncoder);
    if (isTokenizer(dir / kOfficialTokenizer)) {
        folder.tokenizer = dir / kOfficialTokenizer;
    } else {
        missing.push_back(fmt::format("{}/ (tokenizer folder with spiece.model or tokenizer.json)", kOfficialTokenizer));
    }
    if (!missing.empty()) {
        throw ModelError(fmt::format("{}: the official Wan 2.1 layout is incomplete: missing {}; found: {}", dir.string(),
                                     fmt::join(missing, ", "), foundList(dir)));
    }
    return folder;
}

static ModelFolder openSingleFiles(const fs::path& dir) {
    ModelFolder folder;
    folder.root = dir;
    folder.layout = ModelLayout::SingleFiles;
    folder.name = dir.filename().string();
    std::map<ModelRole, std::vector<fs::path>> byRole;
    std::vector<std::string> unrecognised;
    std::error_code ec;
    std::vector<fs::path> entries;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        entries.push_back(entry.path());
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& path : entries) {
        const auto name = path.filename().string();
        if (endsWith(name, ".safetensors")) {
            const auto file = SafetensorsFile::open(path);
            std::vector<std::string> names;
            for (const auto& info : file.tensors()) {
                names.push_back(info.name);
            }
            if (auto role = detectRole(names)) {
                byRole[*role].push_back(path);
            } else {
                unrecognised.push_back(name);
            }
        } else if (name == kOfficialVae) {
            byRole[ModelRole::Vae].push_back(path);
        } else if (name == kOfficialTextEncoder) {
            byRole[ModelRole::TextEncoder].push_back(path);
        }
    }
    std::vector<std::string> missing;
    auto take = [&](ModelRole role, const char* what) {
        const auto& files = byRole[role];
        if (files.empty()) {
            missing.push_back(what);
            return ModelComponent();
        }
        if (files.size() > 1) {
            std::vector<std::string> names;
            for (const auto& f : files) {
                names.push_back(f.filename().string());
            }
            throw ModelError(fmt::format("{}: {} files hold a {} ({}); keep one in the folder", dir.string(),
                                         files.size(), toString(role), fmt::join(names, ", ")));
        }
        return ModelComponent(role, files, nullptr);
    };
    folder.dit = take(ModelRole::Dit, "a DiT .safetensors (with patch_embedding.weight)");
    folder.vae = take(ModelRole::Vae, "a VAE .safetensors (with decoder.conv1.weight) or Wan2.1_VAE.pth");
    folder.textEncoder = take(ModelRole::TextEncoder, "a UMT5 text encoder .safetensors (with token_embedding.weight "
                                                      "or HuggingFace shared.weight) or models_t5_umt5-xxl-enc-bf16.pth");
    for (const char* candidate : {kOfficialTokenizer, "umt5-xxl", "tokenizer", "spiece.model", "tokenizer.json"}) {
        if (isTokenizer(dir / candidate)) {
            folder.tokenizer = dir / candidate;
            break;
        }
    }
    if (folder.tokenizer.empty()) {
        missing.push_back("a tokenizer (google/umt5-xxl/, umt5-xxl/ or tokenizer/ folder with spiece.model or "
                          "tokenizer.json, or spiece.model / tokenizer.json beside the weights)");
    }
    if (!missing.empty()) {
        std::string note;
        if (!unrecognised.empty()) {
            note = fmt::format(" (not recognised as DiT, VAE or UMT5: {})", fmt::join(unrecognised, ", "));
        }
        throw ModelError(fmt::format("{}: not a complete model folder: missing {}; found: {}{}. Expected "
                                     "ditstudio-model.json, the official Wan 2.1 files, or one .safetensors per model",
                                     dir.string(), fmt::join(missing, "; "), foundList(dir), note));
    }
    return folder;
}

ModelFolder ModelFolder::open(const fs::path& dirIn) {
    std::error_code ec;
    if (!fs::is_directory(dirIn, ec)) {
        throw ModelError(fmt::format("{}: not a folder (--model takes the folder holding the model files)",
                                     dirIn.string()));
    }
    const fs::path dir = fs::absolute(dirIn, ec).lexically_normal();
    bool hasOfficialDit = false;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const auto name = entry.path().filename().string();
        hasOfficialDit = hasOfficialDit || (startsWith(name, "diffusion_pytorch_model") &&
                                            (endsWith(name, ".safetensors") || endsWith(name, ".index.json")));
    }
    ModelFolder folder;
    if (fs::exists(dir / kManifestName, ec)) {
        folder = openManifest(dir);
    } else if (hasOfficialDit) {
        folder = openOfficial(dir);
    } else {
        folder = openSingleFiles(dir);
    }

    // Cheap checks of every file now (headers, zip directories), so that a broken download fails at open.
    checkFiles(folder.dit.files());
    checkFiles(folder.vae.files());
    checkFiles(folder.textEncoder.files());

    const auto& ditWeights = folder.dit.weights();
    std::optional<int64_t> numHeads;
    if (folder.dit.config().is_object() && folder.dit.config().contains("num_heads")) {
        const auto& heads = folder.dit.config()["num_heads"];
        if (!heads.is_number_integer()) {
            throw FormatError(fmt::format("{}: dit.config.num_heads: expected an integer, got {}",
                                          (dir / kManifestName).string(), heads.dump()));
        }
        numHeads = heads.get<int64_t>();
    }
    const WanDiTConfig inferred = WanDiTConfig::fromWeights(ditWeights, numHeads);
    folder.ditConfig = inferred;
    if (folder.dit.config().is_object()) {
        folder.ditConfig = WanDiTConfig::fromJson(folder.dit.config());
        checkDitConfigAgainstWeights(folder.ditConfig, inferred, dir / kManifestName, ditWeights.origin());
    }
    spdlog::info("model folder {} ({} layout): {}", dir.string(), toString(folder.layout), folder.summary());
    return folder;
}

std::vector<std::pair<std::string, fs::path>> ModelFolder::modelFiles() const {
    std::vector<std::pair<std::string, fs::path>> out;
    for (const auto* component : {&dit, &vae, &textEncoder}) {
        for (const auto& f : component->files()) {
            out.emplace_back(toString(component->role()), f);
        }
    }
    out.emplace_back("tokenizer", tokenizer);
    return out;
}

std::string ModelFolder::summary() const {
    auto files = [](const ModelComponent& c) {
        std::vector<std::string> names;
        for (const auto& f : c.files()) {
            names.push_back(f.filename().string());
        }
        return fmt::format("{}", fmt::join(names, "+"));
    };
    return fmt::format("dit {} (dim {}, {} layers, {} heads), vae {}, text encoder {}, tokenizer {}", files(dit),
                       ditConfig.dim, ditConfig.numLayers, ditConfig.numHeads, files(vae), files(textEncoder),
                       tokenizer.filename().string());
}

} // namespace ditstudio::io
