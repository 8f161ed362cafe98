// The rank side of a rank group: what a `ditstudio-rank` process reads from its environment (set by RankGroup,
// launcher.h) and how it joins the group: heartbeats to the launcher, the TCPStore client, the world communicator
// (NCCL for cuda:<i>, the CPU transport for cpu).
#pragma once
#include "parallel/communicator.h"
#include "parallel/degrees.h"

#include <torch/csrc/distributed/c10d/Store.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ditstudio::parallel {

// The environment contract between the launcher and the ranks.
namespace env {
inline constexpr const char* kRank = "DITSTUDIO_RANK";
inline constexpr const char* kWorldSize = "DITSTUDIO_WORLD_SIZE";
inline constexpr const char* kStoreAddr = "DITSTUDIO_STORE_ADDR";
inline constexpr const char* kStorePort = "DITSTUDIO_STORE_PORT";
inline constexpr const char* kDevice = "DITSTUDIO_DEVICE"; // cpu | cuda:<i>
inline constexpr const char* kUlysses = "DITSTUDIO_ULYSSES";
inline constexpr const char* kRing = "DITSTUDIO_RING";
inline constexpr const char* kCfg = "DITSTUDIO_CFG";
inline constexpr const char* kHeartbeatFd = "DITSTUDIO_HEARTBEAT_FD";
inline constexpr const char* kHeartbeatMs = "DITSTUDIO_HEARTBEAT_MS";
inline constexpr const char* kCommTimeoutS = "DITSTUDIO_COMM_TIMEOUT_S";
inline constexpr const char* kLogLevel = "DITSTUDIO_LOG_LEVEL";
} // namespace env

// Exit codes of ditstudio-rank (the launcher reads them).
inline constexpr int kRankExitOk = 0;
inline constexpr int kRankExitError = 1;    // bad input, model, configuration
inline constexpr int kRankExitUsage = 2;    // bad command line
inline constexpr int kRankExitPeerLost = 3; // a communication error: usually another rank failed first
inline constexpr int kRankExitOrphaned = 4; // the launcher went away

struct RankEnvironment {
    int rank = 0;
    int worldSize = 1;
    std::string storeHost;
    int storePort = 0; // 0: no store (a world of 1 started by hand)
    at::Device device = at::kCPU;
    ParallelDegrees degrees;
    int heartbeatFd = -1;
    std::chrono::milliseconds heartbeatInterval{500};
    std::chrono::milliseconds commTimeout = defaultCommTimeout();

    // Reads the DITSTUDIO_* variables; without DITSTUDIO_RANK: a world of 1 on the CPU (degrees from the
    // variables that are set). Throws ConfigError naming the variable and its value.
    static RankEnvironment fromEnvironment();
};

class RankSession {
public:
    // Joins the group: starts the heartbeat thread, connects to the store, builds the world communicator.
    explicit RankSession(RankEnvironment environment);
    ~RankSession(); // stops the heartbeat, closes the communicator
    RankSession(const RankSession&) = delete;
    RankSession& operator=(const RankSession&) = delete;

    const RankEnvironment& environment() const { return env_; }
    Communicator& world() { return *world_; }
    bool isLeader() const { return env_.rank == 0; }

private:
    void heartbeatLoop();

    RankEnvironment env_;
    c10::intrusive_ptr<c10d::Store> store_;
    std::unique_ptr<Communicator> world_;
    std::thread heartbeat_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false; // guarded by mutex_
};

} // namespace ditstudio::parallel
