// Memory-mapped reader of the safetensors container (https://github.com/huggingface/safetensors format):
// 8-byte little-endian header length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets}, "__metadata__":
// {str: str}}, then the data. Every header field is validated against the file before a tensor is handed out.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ditstudio::io {

struct TensorInfo {
    std::string name;
    std::string dtype;          // as written in the file: "F32", "BF16", ...
    c10::ScalarType scalarType; // the matching ATen type
    std::vector<int64_t> shape;
    uint64_t dataBegin = 0;     // byte offsets relative to the start of the data section
    uint64_t dataEnd = 0;
};

class MappedFile;

class SafetensorsFile {
public:
    // Opens and validates; throws FormatError naming the file and the offending field.
    static SafetensorsFile open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find(const std::string& name) const;
    bool contains(const std::string& name) const { return find(name) != nullptr; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // A CPU tensor over the mapped bytes (copy-on-write mapping: never modifies the file). Keeps the mapping alive.
    at::Tensor tensor(const std::string& name) const;

    static constexpr uint64_t kMaxHeaderBytes = 100ull << 20; // the format's own limit (100 MB)

private:
    std::filesystem::path path_;
    std::shared_ptr<MappedFile> map_;
    uint64_t dataOffset_ = 0;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Writes tensors (contiguous CPU copies) and metadata atomically: a temporary file beside `path`, then rename.
void saveSafetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata = {});

// The safetensors dtype name of an ATen type ("F32"), and back; throws FormatError for unknown names.
std::string dtypeName(c10::ScalarType type);
c10::ScalarType scalarTypeFromName(const std::string& name);

} // namespace ditstudio::io
