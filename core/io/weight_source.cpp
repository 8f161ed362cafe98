#include "core/io/weight_source.h"

#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

namespace ditstudio::io {

namespace fs = std::filesystem;
static constexpr size_t kInMemory = static_cast<size_t>(-1);

static bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

static std::vector<fs::path> shardsFromIndex(const fs::path& indexPath) {
    std::ifstream in(indexPath);
    if (!in) {
        throw FormatError(fmt::format("{}: cannot open index", indexPath.string()));
    }
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range for a number beyond double
        throw FormatError(fmt::format("{}: index is not well-formed JSON: {}", indexPath.string(), e.what()));
    }
    if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object()) {
        throw FormatError(fmt::format("{}: index needs a \"weight_map\" object of tensor name -> shard file",
                                      indexPath.string()));
    }
    std::set<std::string> shardNames;
    for (auto it = json["weight_map"].begin(); it != json["weight_map"].end(); ++it) {
        if (!it.value().is_string()) {
            throw FormatError(fmt::format("{}: weight_map entry '{}' is not a file name", indexPath.string(), it.key()));
        }
        const auto shard = it.value().get<std::string>();
        if (shard.find('/') != std::string::npos || shard == ".." || shard.empty()) {
            throw FormatError(fmt::format("{}: weight_map entry '{}' names '{}', which is not a file beside the index",
                                          indexPath.string(), it.key(), shard));
        }
        shardNames.insert(shard);
    }
    std::vector<fs::path> files;
    for (const auto& s : shardNames) {
        files.push_back(indexPath.parent_path() / s);
    }
    return files;
}

WeightSource WeightSource::open(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        std::vector<fs::path> indexes, singles;
        for (const auto& e : fs::directory_iterator(path)) {
            const auto name = e.path().filename().string();
            if (endsWith(name, ".safetensors.index.json")) {
                indexes.push_back(e.path());
            } else if (endsWith(name, ".safetensors")) {
                singles.push_back(e.path());
            }
        }
        if (indexes.size() == 1) {
            return open(indexes.front());
        }
        if (indexes.empty() && singles.size() == 1) {
            return open(singles.front());
        }
        throw FormatError(fmt::format("{}: expected one .safetensors file or one .safetensors.index.json, found {} "
                                      "and {}",
                                      path.string(), singles.size(), indexes.size()));
    }
    if (!fs::exists(path, ec)) {
        throw FormatError(fmt::format("{}: no such file", path.string()));
    }
    if (endsWith(path.string(), ".index.json")) {
        auto source = openFiles(shardsFromIndex(path));
        source.origin_ = path.string();
        return source;
    }
    return openFiles({path});
}

WeightSource WeightSource::openFiles(const std::vector<fs::path>& files) {
    WeightSource source;
    for (const auto& f : files) {
        source.files_.push_back(SafetensorsFile::open(f));
        const size_t fileIndex = source.files_.size() - 1;
        for (const auto& info : source.files_.back().tensors()) {
            auto [it, inserted] = source.entries_.emplace(info.name, Entry{fileIndex, {}});
            if (!inserted) {
                throw FormatError(fmt::format("tensor '{}' appears in both {} and {}", info.name,
                                              source.files_[it->second.file].path().string(), f.string()));
            }
        }
    }
    source.origin_ = files.size() == 1 ? files.front().string() : fmt::format("{} files", files.size());
    return source;
}

WeightSource WeightSource::fromTensors(std::map<std::string, at::Tensor> tensors, std::string origin) {
    WeightSource source;
    for (auto& [name, t] : tensors) {
        source.entries_.emplace(name, Entry{kInMemory, std::move(t)});
    }
    source.origin_ = std::move(origin);
    return source;
}

bool WeightSource::contains(const std::string& name) const { return entries_.count(name) != 0; }

std::vector<int64_t> WeightSource::shape(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
        throw ModelError(fmt::format("{}: missing tensor '{}'", origin_, name));
    }
    if (it->second.file == kInMemory) {
        return it->second.memory.sizes().vec();
    }
    return files_[it->second.file].find(name)->shape;
}

at::Tensor WeightSource::tensor(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
        throw ModelError(fmt::format("{}: missing tensor '{}'", origin_, name));
    }
    if (it->second.file == kInMemory) {
        return it->second.memory;
    }
    return files_[it->second.file].tensor(name);
}

std::string WeightSource::fileOf(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end() || it->second.file == kInMemory) {
        return origin_;
    }
    return files_[it->second.file].path().string();
}

std::vector<std::string> WeightSource::names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& [name, e] : entries_) {
        out.push_back(name);
    }
    return out;
}

} // namespace ditstudio::io
