#include "core/protocol/endpoint.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace ditstudio::protocol {

namespace fs = std::filesystem;

Endpoint Endpoint::parse(const std::string& text) {
    Endpoint endpoint;
    auto parsePort = [&](const std::string& digits) {
        char* end = nullptr;
        const long port = std::strtol(digits.c_str(), &end, 10);
        if (digits.empty() || *end != '\0' || port <= 0 || port > 65535) {
            throw ConfigError(fmt::format("worker endpoint \"{}\": port must be 1..65535", text));
        }
        return static_cast<uint16_t>(port);
    };
    if (text.rfind("tcp://", 0) == 0 || text.rfind("tcp:", 0) == 0) {
        endpoint.kind = Kind::Tcp;
        std::string rest = text.substr(text.rfind("tcp://", 0) == 0 ? 6 : 4);
        const auto colon = rest.rfind(':');
        if (colon == std::string::npos) {
            endpoint.port = parsePort(rest);
        } else {
            endpoint.host = rest.substr(0, colon);
            endpoint.port = parsePort(rest.substr(colon + 1));
        }
        if (endpoint.host != "127.0.0.1" && endpoint.host != "localhost") {
            throw ConfigError(fmt::format("worker endpoint \"{}\": TCP is loopback only (127.0.0.1); use an SSH "
                                          "tunnel for another machine",
                                          text));
        }
        endpoint.host = "127.0.0.1";
        return endpoint;
    }
    std::string path = text.rfind("unix:", 0) == 0 ? text.substr(5) : text;
    if (path.empty()) {
        throw ConfigError("worker endpoint is empty");
    }
    endpoint.socketPath = path;
    return endpoint;
}

Endpoint Endpoint::fromEnvironment() {
    const char* env = std::getenv("DITSTUDIO_WORKER");
    Endpoint endpoint = env && *env ? parse(env) : Endpoint{};
    if (endpoint.kind == Kind::Unix && endpoint.socketPath.empty()) {
        endpoint.socketPath = defaultSocketPath();
    }
    if (endpoint.kind == Kind::Tcp) {
        if (const char* token = std::getenv("DITSTUDIO_WORKER_TOKEN"); token && *token) {
            endpoint.token = token;
        } else {
            std::ifstream in(tokenFilePath());
            std::getline(in, endpoint.token);
        }
    }
    return endpoint;
}

std::string Endpoint::describe() const {
    return kind == Kind::Unix ? socketPath.string() : fmt::format("tcp://{}:{}", host, port);
}

fs::path runtimeDir() {
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
        return fs::path(xdg) / "ditstudio";
    }
    return fs::path(fmt::format("/tmp/ditstudio-{}", ::getuid()));
}

fs::path defaultSocketPath() { return runtimeDir() / "worker.sock"; }
fs::path tokenFilePath() { return runtimeDir() / "worker.token"; }

fs::path stateDir() {
    if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) {
        return fs::path(xdg) / "ditstudio";
    }
    if (const char* home = std::getenv("HOME"); home && *home) {
        return fs::path(home) / ".local" / "state" / "ditstudio";
    }
    return runtimeDir() / "state";
}

void ensurePrivateDir(const fs::path& dir) {
    std::error_code ec;
    if (dir.has_parent_path() && !fs::exists(dir.parent_path())) {
        fs::create_directories(dir.parent_path(), ec);
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        throw ConnectionError(fmt::format("cannot create the folder {}: {}", dir.string(), std::strerror(errno)));
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        throw ConnectionError(fmt::format("cannot inspect the folder {}: {}", dir.string(), std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
        throw ConnectionError(fmt::format("{} exists and is not a folder (a link or file is not accepted here)",
                                          dir.string()));
    }
    if (st.st_uid != ::getuid()) {
        throw ConnectionError(fmt::format("the folder {} belongs to uid {}, not to this user (uid {})", dir.string(),
                                          st.st_uid, ::getuid()));
    }
    if ((st.st_mode & 0077) != 0 && ::chmod(dir.c_str(), 0700) != 0) {
        throw ConnectionError(fmt::format("the folder {} is accessible to others (mode {:o}) and chmod 0700 failed: {}",
                                          dir.string(), st.st_mode & 0777, std::strerror(errno)));
    }
}

namespace {

void waitConnected(int fd, const std::string& what, std::chrono::milliseconds timeout) {
    pollfd pfd{fd, POLLOUT, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (ready <= 0) {
        throw ConnectionError(fmt::format("connecting to the worker at {} timed out", what));
    }
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
        throw ConnectionError(fmt::format("no worker is listening on {}: {}", what, std::strerror(error)));
    }
}

} // namespace

int connectEndpoint(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
    const std::string what = endpoint.describe();
    const int fd = endpoint.kind == Endpoint::Kind::Unix ? ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)
                                                         : ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw ConnectionError(fmt::format("socket() for {} failed: {}", what, std::strerror(errno)));
    }
    try {
        const int flags = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        int rc = 0;
        if (endpoint.kind == Endpoint::Kind::Unix) {
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            const std::string path = endpoint.socketPath.string();
            if (path.size() >= sizeof addr.sun_path) {
                throw ConnectionError(fmt::format("socket path {} is longer than {} bytes", path, sizeof addr.sun_path - 1));
            }
            std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
            rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        } else {
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_port = htons(endpoint.port);
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (rc != 0) {
            if (errno == EINPROGRESS || errno == EAGAIN) {
                waitConnected(fd, what, timeout);
            } else {
                throw ConnectionError(fmt::format("no worker is listening on {}: {}", what, std::strerror(errno)));
            }
        }
        ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        return fd;
    } catch (...) {
        ::close(fd);
        throw;
    }
}

} // namespace ditstudio::protocol
