// Every setting of one generation: what a preset holds, what a job carries, what an output's sidecar records.
// YAML (presets, through yaml-cpp) and JSON (protocol, history, sidecar) use the same snake_case keys, the ones
// in the comments below. Validation errors name the key, the expected type/range, and for YAML the file, line
// and column (PresetError).
#pragma once
#include "core/util/error.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ditstudio {

class PresetError : public ConfigError {
public:
    using ConfigError::ConfigError;
    // `key` is the dotted setting the error is about ("vae.tile_size"); empty when it concerns the whole document.
    PresetError(std::string key, const std::string& message) : ConfigError(message), key_(std::move(key)) {}
    const std::string& key() const { return key_; }

private:
    std::string key_;
};

enum class SeedMode { Fixed, Random, Increment };
enum class CompileMode { None, Default, ReduceOverhead, MaxAutotune, MaxAutotuneNoCudagraphs };
enum class ExportFormat { Mp4, WebM, Gif, PngSequence };

struct CompileSettings {
    CompileMode mode = CompileMode::None; // compile.mode: none|default|reduce-overhead|max-autotune|max-autotune-no-cudagraphs
    bool dynamic = true;                  // compile.dynamic
    bool fullgraph = false;               // compile.fullgraph
    std::vector<std::string> models{"dit"}; // compile.models: subset of dit, vae, text_encoder
    bool operator==(const CompileSettings&) const = default;
};

struct ParallelSettings {
    int64_t ulysses = 1;     // parallel.ulysses
    int64_t ring = 1;        // parallel.ring
    bool cfgParallel = false; // parallel.cfg_parallel
    std::string device = "auto"; // parallel.device: auto|cpu|cuda
    std::vector<int> gpus;   // parallel.gpus: GPU indices; empty = the first world-size GPUs
    bool operator==(const ParallelSettings&) const = default;
};

struct VaeSettings {
    bool tiled = true;              // vae.tiled
    int64_t tileHeight = 30;        // vae.tile_size: [h, w] in latent units
    int64_t tileWidth = 52;
    int64_t tileStrideHeight = 15;  // vae.tile_stride: [h, w]
    int64_t tileStrideWidth = 26;
    bool operator==(const VaeSettings&) const = default;
};

struct ExportSettings {
    ExportFormat format = ExportFormat::Mp4; // export.format: mp4|webm|gif|png
    int quality = 80;                        // export.quality: 1..100 (maps to CRF / palette size)
    std::string directory;                   // export.directory: empty = the XDG videos dir / DiT Studio
    std::string filenameTemplate = "{date}_{time}_{seed}"; // export.filename
    bool operator==(const ExportSettings&) const = default;
};

struct GenerationSettings {
    static constexpr int kSchemaVersion = 1; // schema_version
    std::string name;                 // name (presets only)
    std::string description;          // description
    std::string prompt;               // prompt
    std::string negativePrompt;       // negative_prompt
    int64_t seed = 0;                 // seed
    SeedMode seedMode = SeedMode::Fixed; // seed_mode: fixed|random|increment
    int64_t width = 832;              // width  (multiple of 16)
    int64_t height = 480;             // height (multiple of 16)
    int64_t numFrames = 81;           // num_frames (4k+1)
    int64_t fps = 16;                 // fps
    int64_t steps = 50;               // steps
    double cfgScale = 5.0;            // cfg_scale
    double shift = 5.0;               // shift
    double denoisingStrength = 1.0;   // denoising_strength
    std::string sampler = "flow_match_euler"; // sampler
    std::string dtype = "bfloat16";   // dtype: bfloat16|float32 (float32 on CPU)
    VaeSettings vae;                  // vae: {...}
    CompileSettings compile;          // compile: {...}
    ParallelSettings parallel;        // parallel: {...}
    ExportSettings exportSettings;    // export: {...}

    bool operator==(const GenerationSettings&) const = default;

    // Keys missing from a document keep the defaults above; `schema_version` missing means 1.
    nlohmann::json toJson() const;
    // Strict: unknown keys, wrong types and out-of-range values throw PresetError naming the key.
    static GenerationSettings fromJson(const nlohmann::json& json);
    // Applies "key=value" overrides (dotted keys: "vae.tiled=false", "parallel.ulysses=2").
    // The value is read as YAML ("[20, 40]", "{tiled: false}", "a cat"); on error *this is unchanged.
    void applyOverride(const std::string& assignment);
    // Throws PresetError whose key() names the first offending setting.
    void validate() const;
};

std::string toString(SeedMode mode);
std::string toString(CompileMode mode);
// The models compile.models may name: dit, vae, text_encoder.
const std::vector<std::string>& compileModelNames();
std::string toString(ExportFormat format);

// The export format for an output path: its extension's (.mp4, .webm, .gif, any case) when it has one of those,
// else `configured`. PresetError (key export.format) when the extension and an explicitly set format disagree, so
// that "-o clip.gif" never writes an MP4 into clip.gif.
ExportFormat exportFormatForOutput(const std::string& output, ExportFormat configured, bool setExplicitly);

} // namespace ditstudio
