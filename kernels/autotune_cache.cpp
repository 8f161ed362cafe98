#include "kernels/autotune_cache.h"

#include "core/util/error.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <unistd.h>

namespace ditstudio::kernels {

namespace fs = std::filesystem;

AutotuneCache::AutotuneCache(fs::path file) : path_(std::move(file)), entries_(readEntries(path_)) {}

fs::path AutotuneCache::defaultPath() {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    if (xdg && *xdg) {
        return fs::path(xdg) / "ditstudio" / "autotune.json";
    }
    const char* home = std::getenv("HOME");
    return fs::path(home && *home ? home : "/tmp") / ".cache" / "ditstudio" / "autotune.json";
}

std::string AutotuneCache::makeKey(const std::string& gpu, const std::string& op, const std::string& shape,
                                   const std::string& dtype) {
    return fmt::format("{}|{}|{}|{}", gpu, op, shape, dtype);
}

nlohmann::json AutotuneCache::readEntries(const fs::path& file) {
    std::error_code ec;
    if (!fs::exists(file, ec)) {
        return nlohmann::json::object();
    }
    std::ifstream in(file);
    try {
        const auto json = nlohmann::json::parse(in);
        if (!json.is_object() || json.value("version", 0) != 1 || !json.contains("entries") ||
            !json["entries"].is_object()) {
            spdlog::warn("autotune cache {}: not a version-1 cache (expected {{\"version\": 1, \"entries\": {{...}}}}); "
                         "ignoring it, the next save replaces it",
                         file.string());
            return nlohmann::json::object();
        }
        return json["entries"];
    } catch (const nlohmann::json::exception& e) {
        spdlog::warn("autotune cache {}: malformed JSON ({}); ignoring it, the next save replaces it", file.string(),
                     e.what());
        return nlohmann::json::object();
    }
}

std::optional<std::string> AutotuneCache::lookup(const std::string& key) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->is_object() || !it->contains("winner") || !(*it)["winner"].is_string()) {
        return std::nullopt;
    }
    return (*it)["winner"].get<std::string>();
}

void AutotuneCache::store(const std::string& key, const std::string& winner, const nlohmann::json& timingsMs) {
    std::lock_guard lock(mutex_);
    entries_[key] = {{"winner", winner}, {"ms", timingsMs}};
}

size_t AutotuneCache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void AutotuneCache::save() const {
    std::lock_guard lock(mutex_);
    std::error_code ec;
    fs::create_directories(path_.parent_path(), ec);
    if (ec) {
        throw Error(fmt::format("autotune cache {}: cannot create its directory: {}", path_.string(), ec.message()));
    }
    nlohmann::json merged = readEntries(path_); // another process may have added entries since we read
    for (const auto& [key, value] : entries_.items()) {
        merged[key] = value;
    }
    const nlohmann::json file = {{"version", 1}, {"entries", merged}};
    const fs::path temp = path_.parent_path() / fmt::format(".{}.{}.tmp", path_.filename().string(), ::getpid());
    {
        std::ofstream out(temp, std::ios::trunc);
        out << file.dump(1) << "\n";
        out.flush();
        if (!out) {
            fs::remove(temp, ec);
            throw Error(fmt::format("autotune cache {}: cannot write {}", path_.string(), temp.string()));
        }
    }
    fs::rename(temp, path_, ec);
    if (ec) {
        fs::remove(temp, ec);
        throw Error(fmt::format("autotune cache {}: cannot replace it: {}", path_.string(), ec.message()));
    }
}

AutotuneCache& processAutotuneCache() {
    static AutotuneCache cache(AutotuneCache::defaultPath());
    return cache;
}

} // namespace ditstudio::kernels
