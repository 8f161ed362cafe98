#include "core/util/atomic_output.h"

#include "core/util/error.h"

#include <dirent.h>
#include <signal.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <atomic>
#include <optional>

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

// The writer's pid of ".<name>.partial-<pid>" or ".<name>.partial-<pid>-<n>", else nullopt.
static std::optional<long> partialOwner(const std::string& name) {
    const size_t marker = name.rfind(".partial-");
    if (name.empty() || name[0] != '.' || marker == std::string::npos || marker == 0) {
        return std::nullopt;
    }
    const std::string rest = name.substr(marker + 9);
    const size_t dash = rest.find('-');
    const std::string pid = rest.substr(0, dash);
    const std::string counter = dash == std::string::npos ? std::string("0") : rest.substr(dash + 1);
    auto isNumber = [](const std::string& s) {
        return !s.empty() && s.size() < 12 && s.find_first_not_of("0123456789") == std::string::npos;
    };
    if (!isNumber(pid) || !isNumber(counter)) {
        return std::nullopt;
    }
    return std::stol(pid);
}

std::vector<fs::path> removeStalePartialOutputs(const fs::path& dir) {
    std::vector<fs::path> removed;
    DIR* listing = ::opendir(dir.c_str());
    if (listing == nullptr) {
        return removed;
    }
    std::vector<std::string> stale;
    while (const dirent* entry = ::readdir(listing)) {
        const std::string name = entry->d_name;
        const auto owner = partialOwner(name);
        if (owner && *owner > 0 && ::kill(static_cast<pid_t>(*owner), 0) != 0 && errno == ESRCH) {
            stale.push_back(name);
        }
    }
    ::closedir(listing);
    for (const auto& name : stale) {
        const fs::path path = dir / name;
        if (const int error = removeTree(path.string()); error != 0) {
            spdlog::error("could not remove the stale partial output {}: {}", path.string(), std::strerror(error));
        } else {
            removed.push_back(path);
        }
    }
    return removed;
}

} // namespace ditstudio
