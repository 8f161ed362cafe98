// The JSON sidecar written beside every output (`<output>.json`, atomically): every setting, the seed, the model
// files with their SHA-256, the software versions and the per-stage timings, so that any output can be
// reproduced and checked against the weights it came from.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ditstudio {

struct SidecarModelFile {
    std::string role; // dit, vae, text_encoder, tokenizer
    std::filesystem::path path;
};

struct SidecarInfo {
    nlohmann::json settings;                  // every setting of the generation (GenerationSettings::toJson())
    int64_t seed = 0;                         // the seed actually used
    std::vector<SidecarModelFile> modelFiles; // hashed when the sidecar is built
    std::map<std::string, double> stageSeconds;
    nlohmann::json output;                    // what was written: format, fps, quality, frames, size, codec
};

inline constexpr int kSidecarVersion = 1;

// "<output>.json" (clip.mp4 → clip.mp4.json; a PNG-sequence folder → folder.json beside it).
std::filesystem::path sidecarPath(const std::filesystem::path& output);

// The sidecar document; hashes every model file (slow for multi-GB files the first time, then cached).
nlohmann::json buildSidecar(const SidecarInfo& info);
// Builds and writes it atomically; throws ExportError (and leaves no file) when the write fails.
std::filesystem::path writeSidecar(const std::filesystem::path& output, const SidecarInfo& info);
// Writes a JSON document atomically to `path` (temporary beside it, then rename).
void writeJsonAtomically(const std::filesystem::path& path, const nlohmann::json& document);

// Lower-case hex SHA-256 of a file through OpenSSL's libcrypto. Cached within the process by
// (absolute path, size, modification time): thread-safe. Throws ExportError naming the file on a read error.
std::string sha256File(const std::filesystem::path& path);
std::string sha256Hex(const void* data, size_t size);
// Whether this build has OpenSSL's libcrypto; without it the sidecar records null hashes and says why, and
// sha256File/sha256Hex throw ExportError.
bool hasSha256();

// {"ditstudio", "libtorch", "ffmpeg", "libavcodec", "libavformat", "libswscale", "openssl"}
nlohmann::json softwareVersions();

} // namespace ditstudio
