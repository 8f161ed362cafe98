#include "core/io/safetensors.h"

#include "core/util/atomic_output.h"
#include "core/util/error.h"
#include "core/util/shape.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

namespace ditstudio::io {

class MappedFile {
public:
    explicit MappedFile(const std::filesystem::path& path) {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) {
            throw FormatError(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
        }
        struct stat st {};
        if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd_);
            throw FormatError(fmt::format("{}: not a regular file", path.string()));
        }
        size_ = static_cast<uint64_t>(st.st_size);
        if (size_ > 0) {
            // Private and writable: a model that touched a weight in place would get its own page, never the file.
            void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd_, 0);
            if (p == MAP_FAILED) {
                ::close(fd_);
                throw FormatError(fmt::format("{}: mmap failed: {}", path.string(), std::strerror(errno)));
            }
            data_ = static_cast<uint8_t*>(p);
        }
    }
    ~MappedFile() {
        if (data_) {
            ::munmap(data_, size_);
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    // The file's size now: smaller than size() when it was truncated after mapping, and then touching the mapped
    // pages past its new end raises SIGBUS.
    uint64_t currentSize() const {
        struct stat st {};
        return ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    }

private:
    int fd_ = -1;
    uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

namespace {

struct DTypeEntry {
    const char* name;
    c10::ScalarType type;
};

constexpr DTypeEntry kDTypes[] = {
    {"F64", c10::ScalarType::Double},     {"F32", c10::ScalarType::Float},
    {"F16", c10::ScalarType::Half},       {"BF16", c10::ScalarType::BFloat16},
    {"I64", c10::ScalarType::Long},       {"I32", c10::ScalarType::Int},
    {"I16", c10::ScalarType::Short},      {"I8", c10::ScalarType::Char},
    {"U8", c10::ScalarType::Byte},        {"BOOL", c10::ScalarType::Bool},
    {"F8_E4M3", c10::ScalarType::Float8_e4m3fn}, {"F8_E5M2", c10::ScalarType::Float8_e5m2},
};

bool isValidUtf8(const std::string& s) {
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        size_t extra = 0;
        if (c < 0x80) {
            extra = 0;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
        } else {
            return false;
        }
        if (extra > n - i - 1) {
            return false;
        }
        for (size_t k = 1; k <= extra; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
                return false;
            }
        }
        i += extra + 1;
    }
    return true;
}

} // namespace

std::string dtypeName(c10::ScalarType type) {
    for (const auto& e : kDTypes) {
        if (e.type == type) {
            return e.name;
        }
    }
    throw FormatError(fmt::format("no safetensors dtype for {}", c10::toString(type)));
}

c10::ScalarType scalarTypeFromName(const std::string& name) {
    for (const auto& e : kDTypes) {
        if (name == e.name) {
            return e.type;
        }
    }
    throw FormatError(fmt::format("unknown dtype '{}' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL F8_E4M3 F8_E5M2)",
                                  name));
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
    SafetensorsFile file;
    file.path_ = path;
    file.map_ = std::make_shared<MappedFile>(path);
    const std::string where = path.string();
    const uint64_t fileSize = file.map_->size();
    if (fileSize < 8) {
        throw FormatError(fmt::format("{}: truncated: {} bytes, a safetensors file starts with an 8-byte header length",
                                      where, fileSize));
    }
    uint64_t headerLen = 0;
    std::memcpy(&headerLen, file.map_->data(), 8); // little-endian on every supported host
    if (headerLen > kMaxHeaderBytes) {
        throw FormatError(fmt::format("{}: header length {} exceeds the format's limit of {} bytes", where, headerLen,
                                      kMaxHeaderBytes));
    }
    if (headerLen > fileSize - 8) {
        throw FormatError(fmt::format("{}: header length {} runs past the end of the file ({} bytes)", where,
                                      headerLen, fileSize));
    }
    std::string header(reinterpret_cast<const char*>(file.map_->data()) + 8, headerLen);
    if (!isValidUtf8(header)) {
        throw FormatError(fmt::format("{}: header is not valid UTF-8", where));
    }
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(header);
    } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range for a number beyond double
        throw FormatError(fmt::format("{}: header is not well-formed JSON: {}", where, e.what()));
    }
    if (!json.is_object()) {
        throw FormatError(fmt::format("{}: header must be a JSON object", where));
    }
    file.dataOffset_ = 8 + headerLen;
    const uint64_t dataSize = fileSize - file.dataOffset_;
    for (auto it = json.begin(); it != json.end(); ++it) {
        const std::string& name = it.key();
        const auto& entry = it.value();
        if (name == "__metadata__") {
            if (!entry.is_object()) {
                throw FormatError(fmt::format("{}: __metadata__ must be an object of strings", where));
            }
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                if (!m.value().is_string()) {
                    throw FormatError(fmt::format("{}: __metadata__ value '{}' is not a string", where, m.key()));
                }
                file.metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
            !entry.contains("data_offsets")) {
            throw FormatError(fmt::format("{}: tensor '{}' needs dtype, shape and data_offsets", where, name));
        }
        TensorInfo info;
        info.name = name;
        if (!entry["dtype"].is_string()) {
            throw FormatError(fmt::format("{}: tensor '{}': dtype is not a string", where, name));
        }
        info.dtype = entry["dtype"].get<std::string>();
        try {
            info.scalarType = scalarTypeFromName(info.dtype);
        } catch (const FormatError& e) {
            throw FormatError(fmt::format("{}: tensor '{}': {}", where, name, e.what()));
        }
        const auto& shape = entry["shape"];
        if (!shape.is_array()) {
            throw FormatError(fmt::format("{}: tensor '{}': shape is not an array", where, name));
        }
        unsigned __int128 numel = 1;
        for (const auto& d : shape) {
            if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
                throw FormatError(fmt::format("{}: tensor '{}': shape entries must be non-negative 64-bit integers, "
                                              "got {}",
                                              where, name, d.dump()));
            }
            info.shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
            numel *= d.get<uint64_t>();
            if (numel > (static_cast<unsigned __int128>(1) << 62)) {
                throw FormatError(fmt::format("{}: tensor '{}': shape {} is impossibly large", where, name,
                                              shape.dump()));
            }
        }
        const auto& offsets = entry["data_offsets"];
        if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
            !offsets[1].is_number_unsigned()) {
            throw FormatError(fmt::format("{}: tensor '{}': data_offsets must be two non-negative integers", where,
                                          name));
        }
        info.dataBegin = offsets[0].get<uint64_t>();
        info.dataEnd = offsets[1].get<uint64_t>();
        if (info.dataBegin > info.dataEnd || info.dataEnd > dataSize) {
            throw FormatError(fmt::format("{}: data offsets [{}, {}) out of bounds for tensor '{}' (data section is "
                                          "{} bytes)",
                                          where, info.dataBegin, info.dataEnd, name, dataSize));
        }
        const auto bytes = numel * c10::elementSize(info.scalarType);
        if (bytes != info.dataEnd - info.dataBegin) {
            throw FormatError(fmt::format("{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets span {}",
                                          where, name, shapeString(info.shape), info.dtype,
                                          static_cast<uint64_t>(bytes), info.dataEnd - info.dataBegin));
        }
        file.index_[name] = file.tensors_.size();
        file.tensors_.push_back(std::move(info));
    }
    // Ranges must not overlap (empty tensors take no bytes and are exempt).
    std::vector<const TensorInfo*> byOffset;
    for (const auto& t : file.tensors_) {
        if (t.dataEnd > t.dataBegin) {
            byOffset.push_back(&t);
        }
    }
    std::sort(byOffset.begin(), byOffset.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->dataBegin < b->dataBegin; });
    for (size_t i = 1; i < byOffset.size(); ++i) {
        if (byOffset[i]->dataBegin < byOffset[i - 1]->dataEnd) {
            throw FormatError(fmt::format("{}: tensors '{}' and '{}' overlap (bytes [{}, {}) and [{}, {}))", where,
                                          byOffset[i - 1]->name, byOffset[i]->name, byOffset[i - 1]->dataBegin,
                                          byOffset[i - 1]->dataEnd, byOffset[i]->dataBegin, byOffset[i]->dataEnd));
        }
    }
    return file;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
    const TensorInfo* info = find(name);
    if (!info) {
        throw ModelError(fmt::format("{}: no tensor '{}'", path_.string(), name));
    }
    const uint64_t end = dataOffset_ + info->dataEnd;
    if (const uint64_t now = map_->currentSize(); now < end) {
        throw FormatError(fmt::format("{}: truncated while in use: the file is now {} bytes but tensor '{}' ends at "
                                      "byte {} (was it replaced or re-downloaded while loading?)",
                                      path_.string(), now, name, end));
    }
    auto keepAlive = map_;
    void* ptr = map_->data() + dataOffset_ + info->dataBegin;
    const auto options = at::TensorOptions().dtype(info->scalarType).device(at::kCPU);
    if (info->dataEnd == info->dataBegin) {
        return at::empty(info->shape, options);
    }
    if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(info->scalarType) != 0) {
        // Unaligned data (legal in the format): copy once rather than hand out a misaligned view.
        at::Tensor out = at::empty(info->shape, options);
        std::memcpy(out.data_ptr(), ptr, info->dataEnd - info->dataBegin);
        return out;
    }
    return at::from_blob(ptr, info->shape, [keepAlive](void*) mutable { keepAlive.reset(); }, options);
}

void saveSafetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) {
        header["__metadata__"] = metadata;
    }
    std::vector<at::Tensor> contiguous;
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        at::Tensor c = t.detach().to(at::kCPU).contiguous();
        const uint64_t bytes = c.numel() * c.element_size();
        header[name] = {{"dtype", dtypeName(c.scalar_type())},
                        {"shape", c.sizes().vec()},
                        {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        contiguous.push_back(std::move(c));
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    // Written under a ".<name>.partial-<pid>-<n>" temporary: a writer killed mid-way leaves nothing under the
    // final name, and the worker's start-up sweep (removeStalePartialOutputs) removes what it left.
    AtomicOutput output(path);
    const std::string tmp = output.temporary().string();
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            throw FormatError(fmt::format("{}: cannot write {}", path.string(), tmp));
        }
        const uint64_t len = text.size();
        out.write(reinterpret_cast<const char*>(&len), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (const auto& c : contiguous) {
            out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
        }
        out.flush();
        if (!out) {
            throw FormatError(fmt::format("{}: write failed (disk full?)", path.string()));
        }
    }
    try {
        output.commit();
    } catch (const ExportError& e) {
        throw FormatError(e.what());
    }
}

} // namespace ditstudio::io
