#include "core/export/atomic_output.h"

#include "core/util/error.h"

#include <dirent.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <atomic>

namespace ditstudio {

namespace fs = std::filesystem;

static std::atomic<unsigned> temporaryCounter{0};

// Removes a file or a folder tree with POSIX calls. (Not std::filesystem::remove_all: the torch wheel exports its
// own copy of that symbol, which crashes when it wins the dynamic lookup.) Returns 0 or an errno.
static int removeTree(const std::string& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
        return errno == ENOENT ? 0 : errno;
    }
    if (!S_ISDIR(info.st_mode)) {
        return ::unlink(path.c_str()) == 0 ? 0 : errno;
    }
    if (DIR* dir = ::opendir(path.c_str())) {
        while (const dirent* entry = ::readdir(dir)) {
            const std::string name = entry->d_name;
            if (name != "." && name != "..") {
                removeTree(path + "/" + name);
            }
        }
        ::closedir(dir);
    }
    return ::rmdir(path.c_str()) == 0 ? 0 : errno;
}

AtomicOutput::AtomicOutput(fs::path target) : target_(std::move(target)) {
    const auto name = target_.filename().string();
    temporary_ = target_.parent_path() /
                 fmt::format(".{}.partial-{}-{}", name, static_cast<long>(::getpid()), temporaryCounter++);
}

AtomicOutput::~AtomicOutput() {
    if (isCommitted_) {
        return;
    }
    if (const int error = removeTree(temporary_.string()); error != 0) {
        spdlog::error("could not remove the partial output {}: {}", temporary_.string(), std::strerror(error));
    }
}

void AtomicOutput::commit() {
    std::error_code ec;
    fs::rename(temporary_, target_, ec);
    if (ec) {
        throw ExportError(fmt::format("{}: could not rename the finished temporary {} onto it: {}", target_.string(),
                                      temporary_.filename().string(), ec.message()));
    }
    isCommitted_ = true;
}

} // namespace ditstudio
