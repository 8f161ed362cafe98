// A set of tensors under their checkpoint names, from one or more files: a single .safetensors, a sharded
// checkpoint through its `*.safetensors.index.json`, or several files given together. Names are looked up once;
// duplicates across files are an error naming both files.
#pragma once
#include "core/io/safetensors.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ditstudio::io {

class WeightSource {
public:
    // A .safetensors file, a .safetensors.index.json, or a directory holding exactly one of these.
    static WeightSource open(const std::filesystem::path& path);
    static WeightSource openFiles(const std::vector<std::filesystem::path>& files);
    // Tensors already in memory (tests, converted .pth files, training checkpoints).
    static WeightSource fromTensors(std::map<std::string, at::Tensor> tensors, std::string origin);

    bool contains(const std::string& name) const;
    std::vector<int64_t> shape(const std::string& name) const; // throws ModelError if absent
    at::Tensor tensor(const std::string& name) const;          // CPU, as stored
    std::string fileOf(const std::string& name) const;         // for messages
    std::vector<std::string> names() const;
    std::string origin() const { return origin_; }

private:
    struct Entry {
        size_t file = 0; // index into files_, or npos for in-memory tensors
        at::Tensor memory;
    };
    std::vector<SafetensorsFile> files_;
    std::map<std::string, Entry> entries_;
    std::string origin_;
};

} // namespace ditstudio::io
