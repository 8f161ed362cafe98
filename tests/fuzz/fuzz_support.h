// Shared helpers of the libFuzzer targets: inputs that the code under test reads from disk go through one scratch
// file (or folder) per process, rewritten for every input. Only the project's own typed errors (ditstudio::Error
// and its subclasses) are an expected outcome of a malformed input; anything else that escapes — a library's
// exception, a crash, a sanitizer report — is a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace ditstudio::fuzz {

// A private scratch folder under $TMPDIR (or /tmp) for this process, removed at exit.
inline const std::filesystem::path& scratchDir() {
    static const std::filesystem::path dir = [] {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/ditstudio-fuzz-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::perror("mkdtemp");
            std::abort();
        }
        std::filesystem::path path(pattern);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(scratchDir(), ec);
        });
        return path;
    }();
    return dir;
}

inline void writeBytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out.flush()) {
        std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
        std::abort();
    }
}

} // namespace ditstudio::fuzz
