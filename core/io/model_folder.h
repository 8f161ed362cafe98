// A model folder as users download it, recognised in one of three layouts:
//   official    Wan-AI/Wan2.1-T2V-1.3B / -14B: diffusion_pytorch_model*.safetensors (+ .safetensors.index.json when
//               sharded), models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth, google/umt5-xxl/ (tokenizer)
//   single      DiffSynth/ComfyUI style: one .safetensors file per model in the folder (DiT with or without the
//               "model.diffusion_model." prefix, VAE, UMT5), recognised by their tensors, plus a tokenizer folder
//               or file; the official .pth names are accepted for the VAE and text encoder
//   manifest    our own: ditstudio-model.json {format_version, name, dit: {file, config}, vae: {file, config},
//               text_encoder: {file, config}, tokenizer: {file}, preview: {latent_rgb_factors [16][3],
//               latent_rgb_bias [3]}, default_preset, license, training_commit}
// Every component is handed out under the official Wan 2.1 tensor names (name_conversion.h). Safetensors files
// are memory-mapped when the folder is opened; .pth files are checked (zip directory) at open and read on first
// use of their weights. A missing piece is a ModelError listing what was found and what was expected.
#pragma once
#include "core/io/name_conversion.h"
#include "core/io/weight_source.h"
#include "core/models/wan_dit.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ditstudio::io {

enum class ModelLayout { OfficialWan, SingleFiles, Manifest };
std::string toString(ModelLayout layout); // official, single, manifest

class ModelComponent {
public:
    ModelComponent() = default;
    ModelComponent(ModelRole role, std::vector<std::filesystem::path> files, nlohmann::json config);

    ModelRole role() const { return role_; }
    // Its files: one .safetensors, one .pth, or an index followed by the shards it names.
    const std::vector<std::filesystem::path>& files() const { return files_; }
    const nlohmann::json& config() const { return config_; } // from the manifest; null otherwise
    // Official names. Opens/reads on first use (thread-safe); throws FormatError/ModelError naming the file.
    const WeightSource& weights() const;
    // Drops the tensors (e.g. the text encoder after the prompts are encoded); weights() reads them again. Not
    // while a reference from weights() is still in use.
    void release() const;

private:
    struct State;
    ModelRole role_ = ModelRole::Dit;
    std::vector<std::filesystem::path> files_;
    nlohmann::json config_;
    std::shared_ptr<State> state_;
};

struct ModelFolder {
    std::filesystem::path root;
    ModelLayout layout = ModelLayout::OfficialWan;
    std::string name;              // manifest name, else the folder name
    ModelComponent dit, vae, textEncoder;
    std::filesystem::path tokenizer; // a folder (spiece.model / tokenizer.json inside) or one of those files
    WanDiTConfig ditConfig;        // inferred from tensor shapes; a manifest config must agree with them
    at::Tensor previewFactors;     // [16, 3] float32 (manifest only; undefined otherwise)
    at::Tensor previewBias;        // [3]
    std::string defaultPreset, license, trainingCommit; // manifest only

    static ModelFolder open(const std::filesystem::path& dir);

    // (role, path) of every file the output depends on, for the sidecar's hashes.
    std::vector<std::pair<std::string, std::filesystem::path>> modelFiles() const;
    std::string summary() const; // one line per component, for logs and `--help`-style listings
};

inline constexpr const char* kManifestName = "ditstudio-model.json";
inline constexpr int kManifestVersion = 1;

} // namespace ditstudio::io
