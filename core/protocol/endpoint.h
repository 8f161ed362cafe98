// Where the worker listens and how to reach it. The default is a Unix socket in the user's runtime dir:
// $XDG_RUNTIME_DIR/ditstudio/worker.sock, or /tmp/ditstudio-$UID/worker.sock without XDG_RUNTIME_DIR (the folder
// is 0700, the socket 0600). `DITSTUDIO_WORKER` overrides it ("unix:/path", "/path", "tcp://127.0.0.1:7878").
// Loopback TCP needs the token the worker wrote to <runtime dir>/worker.token (or DITSTUDIO_WORKER_TOKEN).
#pragma once
#include "core/util/error.h"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace ditstudio::protocol {

// Connecting or listening failed: the message names the endpoint and the system error.
class ConnectionError : public Error {
public:
    using Error::Error;
};

struct Endpoint {
    enum class Kind { Unix, Tcp };
    Kind kind = Kind::Unix;
    std::filesystem::path socketPath; // Unix
    std::string host = "127.0.0.1";   // Tcp (loopback only)
    uint16_t port = 0;
    std::string token;                // Tcp

    // "unix:/p", "/p", "tcp://HOST:PORT", "tcp:PORT"; throws ConfigError naming the text.
    static Endpoint parse(const std::string& text);
    // DITSTUDIO_WORKER or the default socket; a TCP endpoint gets its token from DITSTUDIO_WORKER_TOKEN or the
    // token file.
    static Endpoint fromEnvironment();
    std::string describe() const;
};

// $XDG_RUNTIME_DIR/ditstudio or /tmp/ditstudio-$UID (not created).
std::filesystem::path runtimeDir();
std::filesystem::path defaultSocketPath();
std::filesystem::path tokenFilePath();
// $XDG_STATE_HOME/ditstudio or ~/.local/state/ditstudio (logs, queue database, outputs' latents).
std::filesystem::path stateDir();

// Creates `dir` (and parents) with mode 0700 and checks that it is owned by this user and not accessible to
// others; throws ConnectionError otherwise.
void ensurePrivateDir(const std::filesystem::path& dir);

// A connected, blocking socket fd (close it yourself). Throws ConnectionError ("no worker is listening on ...").
int connectEndpoint(const Endpoint& endpoint, std::chrono::milliseconds timeout);

} // namespace ditstudio::protocol
