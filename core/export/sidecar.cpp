#include "core/export/sidecar.h"

#include "core/util/atomic_output.h"
#include "core/util/error.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/headeronly/version.h>

#ifdef DITSTUDIO_HAVE_OPENSSL
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

#ifdef DITSTUDIO_HAVE_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswscale/swscale.h>
}
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <tuple>

namespace ditstudio {

namespace fs = std::filesystem;

namespace {

#ifdef DITSTUDIO_HAVE_OPENSSL
struct DigestDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
#endif
struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};

#ifdef DITSTUDIO_HAVE_OPENSSL
std::string toHex(const unsigned char* bytes, unsigned length) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex(size_t(length) * 2, '0');
    for (unsigned i = 0; i < length; ++i) {
        hex[2 * i] = kDigits[bytes[i] >> 4];
        hex[2 * i + 1] = kDigits[bytes[i] & 15];
    }
    return hex;
}

std::unique_ptr<EVP_MD_CTX, DigestDeleter> newSha256(const std::string& what) {
    std::unique_ptr<EVP_MD_CTX, DigestDeleter> context(EVP_MD_CTX_new());
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
        throw ExportError(fmt::format("{}: OpenSSL could not start a SHA-256 digest", what));
    }
    return context;
}

std::string finish(EVP_MD_CTX* context, const std::string& what) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    if (EVP_DigestFinal_ex(context, digest, &length) != 1) {
        throw ExportError(fmt::format("{}: OpenSSL could not finish the SHA-256 digest", what));
    }
    return toHex(digest, length);
}
#endif

using HashKey = std::tuple<std::string, uintmax_t, int64_t>; // absolute path, size, mtime (ns)
std::mutex hashCacheMutex;
std::map<HashKey, std::string> hashCache; // guarded by hashCacheMutex

std::string utcNow() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

} // namespace

fs::path sidecarPath(const fs::path& output) {
    fs::path trimmed = output;
    if (!trimmed.has_filename()) {
        trimmed = trimmed.parent_path(); // "frames/" → "frames"
    }
    return trimmed.parent_path() / (trimmed.filename().string() + ".json");
}

constexpr const char* kNoOpenSsl = "SHA-256 needs OpenSSL's libcrypto (libssl-dev), which this build was made without";

bool hasSha256() {
#ifdef DITSTUDIO_HAVE_OPENSSL
    return true;
#else
    return false;
#endif
}

std::string sha256Hex(const void* data, size_t size) {
#ifndef DITSTUDIO_HAVE_OPENSSL
    (void)data;
    (void)size;
    throw ExportError(kNoOpenSsl);
#else
    auto context = newSha256("sha256");
    if (EVP_DigestUpdate(context.get(), data, size) != 1) {
        throw ExportError("sha256: OpenSSL digest update failed");
    }
    return finish(context.get(), "sha256");
#endif
}

std::string sha256File(const fs::path& path) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(path, ec);
    const auto size = fs::file_size(absolute, ec);
    if (ec) {
        throw ExportError(fmt::format("cannot hash model file {}: {}", path.string(), ec.message()));
    }
    const auto modified = fs::last_write_time(absolute, ec).time_since_epoch();
    const HashKey key{absolute.string(), size,
                      std::chrono::duration_cast<std::chrono::nanoseconds>(modified).count()};
    {
        std::lock_guard lock(hashCacheMutex);
        if (auto it = hashCache.find(key); it != hashCache.end()) {
            return it->second;
        }
    }
    const std::string what = fmt::format("hashing {}", path.string());
#ifndef DITSTUDIO_HAVE_OPENSSL
    throw ExportError(fmt::format("{}: {}", what, kNoOpenSsl));
#else
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(absolute.c_str(), "rb"));
    if (!file) {
        throw ExportError(fmt::format("cannot hash model file {}: {}", path.string(), std::strerror(errno)));
    }
    auto context = newSha256(what);
    std::vector<unsigned char> buffer(8u << 20);
    const auto started = std::chrono::steady_clock::now();
    while (true) {
        const size_t got = std::fread(buffer.data(), 1, buffer.size(), file.get());
        if (got > 0 && EVP_DigestUpdate(context.get(), buffer.data(), got) != 1) {
            throw ExportError(fmt::format("{}: OpenSSL digest update failed", what));
        }
        if (got < buffer.size()) {
            if (std::ferror(file.get())) {
                throw ExportError(fmt::format("cannot hash model file {}: read error: {}", path.string(),
                                              std::strerror(errno)));
            }
            break;
        }
    }
    std::string hex = finish(context.get(), what);
    spdlog::debug("sha256 {} = {} ({} bytes, {:.2f} s)", path.string(), hex, size,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    std::lock_guard lock(hashCacheMutex);
    hashCache[key] = hex;
    return hex;
#endif
}

nlohmann::json softwareVersions() {
    return {
        {"ditstudio", DITSTUDIO_VERSION},
        {"libtorch", TORCH_VERSION},
#ifdef DITSTUDIO_HAVE_FFMPEG
        {"ffmpeg", av_version_info()},
        {"libavcodec", AV_STRINGIFY(LIBAVCODEC_VERSION)},
        {"libavformat", AV_STRINGIFY(LIBAVFORMAT_VERSION)},
        {"libswscale", AV_STRINGIFY(LIBSWSCALE_VERSION)},
#else
        {"ffmpeg", "absent from this build"},
#endif
#ifdef DITSTUDIO_HAVE_OPENSSL
        {"openssl", OpenSSL_version(OPENSSL_VERSION)},
#else
        {"openssl", "absent from this build"},
#endif
    };
}

nlohmann::json buildSidecar(const SidecarInfo& info) {
    nlohmann::json models = nlohmann::json::array();
    for (const auto& model : info.modelFiles) {
        std::error_code ec;
        const bool isFolder = fs::is_directory(model.path, ec);
        nlohmann::json entry = {{"role", model.role}, {"path", fs::absolute(model.path, ec).string()}};
        if (isFolder) {
            // A tokenizer folder: hash each regular file in it.
            nlohmann::json files = nlohmann::json::object();
            std::vector<fs::path> paths;
            for (const auto& e : fs::directory_iterator(model.path, ec)) {
                if (e.is_regular_file()) {
                    paths.push_back(e.path());
                }
            }
            std::sort(paths.begin(), paths.end());
            for (const auto& p : paths) {
                files[p.filename().string()] = hasSha256() ? nlohmann::json(sha256File(p)) : nlohmann::json();
            }
            entry["files_sha256"] = files;
        } else {
            const auto bytes = fs::file_size(model.path, ec);
            if (ec) {
                throw ExportError(fmt::format("cannot hash model file {}: {}", model.path.string(), ec.message()));
            }
            entry["bytes"] = bytes;
            entry["sha256"] = hasSha256() ? nlohmann::json(sha256File(model.path)) : nlohmann::json();
        }
        if (!hasSha256()) {
            entry["sha256_unavailable"] = kNoOpenSsl;
        }
        models.push_back(entry);
    }
    nlohmann::json timings = nlohmann::json::object();
    for (const auto& [stage, seconds] : info.stageSeconds) {
        timings[stage] = seconds;
    }
    return {
        {"sidecar_version", kSidecarVersion},
        {"created_utc", utcNow()},
        {"settings", info.settings.is_null() ? nlohmann::json::object() : info.settings},
        {"seed", info.seed},
        {"output", info.output.is_null() ? nlohmann::json::object() : info.output},
        {"models", models},
        {"versions", softwareVersions()},
        {"stage_seconds", timings},
    };
}

void writeJsonAtomically(const fs::path& path, const nlohmann::json& document) {
    const std::string text = document.dump(2) + "\n";
    AtomicOutput atomic(path);
    std::FILE* file = std::fopen(atomic.temporary().c_str(), "wb");
    if (file == nullptr) {
        throw ExportError(fmt::format("writing {}: {}", path.string(), std::strerror(errno)));
    }
    const size_t written = std::fwrite(text.data(), 1, text.size(), file);
    const int writeErrno = errno;
    const bool flushed = std::fflush(file) == 0;
    const int flushErrno = errno;
    const bool closed = std::fclose(file) == 0;
    if (written != text.size() || !flushed || !closed) {
        const int code = written != text.size() ? writeErrno : (!flushed ? flushErrno : errno);
        throw ExportError(fmt::format("writing {}: {} ({} of {} bytes written)", path.string(), std::strerror(code),
                                      written, text.size()));
    }
    atomic.commit();
}

fs::path writeSidecar(const fs::path& output, const SidecarInfo& info) {
    const fs::path path = sidecarPath(output);
    writeJsonAtomically(path, buildSidecar(info));
    spdlog::info("wrote sidecar {}", path.string());
    return path;
}

} // namespace ditstudio
