// Winners of max-autotune measurements, persisted per (GPU name, op, shape, dtype) so that the second process
// start is warm. The file is JSON:
//   {"version": 1, "entries": {"<gpu>|<op>|<shape>|<dtype>": {"winner": "cudnn", "ms": {"cudnn": 0.41, ...}}}}
// Saving merges with what is on disk at that moment (another process may have added entries) and replaces the file
// atomically (temp file in the same directory + rename), so a reader never sees half a file. A malformed file is
// logged and treated as empty; the next save replaces it. Thread-safe: every member takes the internal mutex.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

namespace ditstudio::kernels {

class AutotuneCache {
public:
    explicit AutotuneCache(std::filesystem::path file); // reads the file if it exists
    // $XDG_CACHE_HOME/ditstudio/autotune.json, else $HOME/.cache/ditstudio/autotune.json.
    static std::filesystem::path defaultPath();
    static std::string makeKey(const std::string& gpu, const std::string& op, const std::string& shape,
                               const std::string& dtype);

    std::optional<std::string> lookup(const std::string& key) const;
    void store(const std::string& key, const std::string& winner, const nlohmann::json& timingsMs);
    // Writes the file (creating its directory); throws ditstudio::Error naming the file when it cannot.
    void save() const;
    size_t size() const;
    const std::filesystem::path& path() const { return path_; }

private:
    static nlohmann::json readEntries(const std::filesystem::path& file); // {} when absent or malformed
    std::filesystem::path path_;
    mutable std::mutex mutex_;
    nlohmann::json entries_; // guarded by mutex_
};

// The process-wide cache at AutotuneCache::defaultPath(), opened on first use.
AutotuneCache& processAutotuneCache();

} // namespace ditstudio::kernels
