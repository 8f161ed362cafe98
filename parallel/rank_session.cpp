#include "parallel/rank_session.h"

#include "parallel/cpu_communicator.h"
#include "parallel/nccl_communicator.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>

namespace ditstudio::parallel {

namespace {

std::optional<std::string> variable(const char* name) {
    const char* value = std::getenv(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
}

int64_t integer(const char* name, int64_t fallback, int64_t minimum) {
    auto value = variable(name);
    if (!value) {
        return fallback;
    }
    char* end = nullptr;
    const long long parsed = std::strtoll(value->c_str(), &end, 10);
    if (value->empty() || *end != '\0' || parsed < minimum) {
        throw ConfigError(fmt::format("{} must be an integer ≥ {}, got '{}'", name, minimum, *value));
    }
    return parsed;
}

} // namespace

RankEnvironment RankEnvironment::fromEnvironment() {
    RankEnvironment e;
    e.degrees.ulysses = integer(env::kUlysses, 1, 1);
    e.degrees.ring = integer(env::kRing, 1, 1);
    e.degrees.cfg = integer(env::kCfg, 1, 1);
    if (auto device = variable(env::kDevice)) {
        try {
            e.device = at::Device(*device);
        } catch (const std::exception&) {
            throw ConfigError(fmt::format("{} must be cpu or cuda:<index>, got '{}'", env::kDevice, *device));
        }
        if (e.device.is_cuda() && !e.device.has_index()) {
            throw ConfigError(fmt::format("{} must name the GPU (cuda:<index>), got '{}'", env::kDevice, *device));
        }
    }
    if (!variable(env::kRank)) {
        e.degrees.ulysses = e.degrees.ring = e.degrees.cfg = 1;
        return e; // a world of 1, started by hand
    }
    e.rank = static_cast<int>(integer(env::kRank, 0, 0));
    e.worldSize = static_cast<int>(integer(env::kWorldSize, 1, 1));
    if (e.rank >= e.worldSize) {
        throw ConfigError(fmt::format("{} {} is outside {} {}", env::kRank, e.rank, env::kWorldSize, e.worldSize));
    }
    e.storeHost = variable(env::kStoreAddr).value_or("127.0.0.1");
    e.storePort = static_cast<int>(integer(env::kStorePort, 0, 0));
    if (e.worldSize > 1 && e.storePort == 0) {
        throw ConfigError(fmt::format("{} is required for a world of {} ranks", env::kStorePort, e.worldSize));
    }
    e.heartbeatFd = static_cast<int>(integer(env::kHeartbeatFd, -1, -1));
    e.heartbeatInterval = std::chrono::milliseconds(integer(env::kHeartbeatMs, 500, 10));
    return e;
}

RankSession::RankSession(RankEnvironment environment) : env_(std::move(environment)) {
    if (env_.heartbeatFd >= 0) {
        std::signal(SIGPIPE, SIG_IGN); // a closed heartbeat pipe becomes EPIPE, handled in the loop
        heartbeat_ = std::thread([this] { heartbeatLoop(); });
    }
    if (env_.worldSize == 1 && env_.storePort == 0) {
        world_ = std::make_unique<LocalCommunicator>();
        return;
    }
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(env_.storePort);
    options.isServer = false;
    options.timeout = env_.commTimeout;
    try {
        store_ = c10::make_intrusive<c10d::TCPStore>(env_.storeHost, options);
    } catch (const std::exception& e) {
        throw CommError(fmt::format("rank {}: cannot reach the rendezvous store at {}:{}: {}", env_.rank,
                                    env_.storeHost, env_.storePort, e.what()));
    }
    if (env_.device.is_cuda()) {
        world_ = makeNcclCommunicator(store_, env_.rank, env_.worldSize, env_.device, env_.commTimeout);
    } else {
        CpuTransportOptions transport;
        transport.host = variable("DITSTUDIO_CPU_TRANSPORT_HOST").value_or("127.0.0.1");
        transport.timeout = env_.commTimeout;
        world_ = std::make_unique<CpuCommunicator>(store_, env_.rank, env_.worldSize, "world", transport);
    }
    spdlog::info("rank {} of {} joined ({} on {}, {})", env_.rank, env_.worldSize, world_->backend(),
                 env_.device.str(), env_.degrees.describe());
}

RankSession::~RankSession() {
    world_.reset();
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (heartbeat_.joinable()) {
        heartbeat_.join();
    }
}

void RankSession::heartbeatLoop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        const char beat = '.';
        ssize_t n;
        do {
            n = ::write(env_.heartbeatFd, &beat, 1);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            // The launcher is gone (EPIPE): a rank never outlives its supervisor.
            spdlog::error("rank {}: the launcher went away (heartbeat pipe: {}); exiting", env_.rank,
                          std::strerror(errno));
            std::_Exit(kRankExitOrphaned);
        }
        wake_.wait_for(lock, env_.heartbeatInterval, [this] { return stopping_; });
    }
}

} // namespace ditstudio::parallel
