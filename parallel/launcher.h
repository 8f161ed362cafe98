// The launcher and supervisor of a rank group: spawns N `ditstudio-rank` processes (posix_spawn), hosts their
// rendezvous store (a c10d::TCPStore on an ephemeral port, so that two groups never race for a port), streams
// their stdout/stderr lines to spdlog prefixed with the rank, and watches them. A rank that exits with an error,
// dies from a signal, or stops sending heartbeats (hung, or SIGSTOPped) fails the group: the others get SIGTERM
// (and SIGCONT, so that a stopped one can act on it), then SIGKILL after a grace period, and every process is
// reaped: no orphans, no zombies. The CPU transport uses sockets only, so nothing is left in /dev/shm.
//
// The environment each rank gets (names in rank_session.h, env::): DITSTUDIO_RANK, DITSTUDIO_WORLD_SIZE,
// DITSTUDIO_STORE_ADDR/PORT, DITSTUDIO_DEVICE (cpu | cuda:<i>), DITSTUDIO_ULYSSES/RING/CFG,
// DITSTUDIO_HEARTBEAT_FD/MS, plus LaunchSpec::environment (every rank) and ::leaderEnvironment (rank 0 only, e.g.
// DITSTUDIO_CONTROL_SOCKET for the worker).
//
// CPU ranks get OMP_NUM_THREADS = cores / world unless it is set, so that N ranks on one machine share its cores.
//
// Threads: start/stop/waitForExit/isAlive/failureReason may be called from any thread; the supervision runs on
// a thread of the group's own; `onOutput` is called on that thread. The supervisor reaps its ranks with
// waitpid(pid): a process that also calls waitpid(-1) (or ignores SIGCHLD) would steal their exit status.
//
// Use:
//   RankGroup group;
//   group.start(spec);                                      // throws ConfigError/CommError when it cannot start
//   auto outcome = group.waitForExit(std::chrono::minutes(10));
//   if (outcome != RankGroup::Outcome::Succeeded) { log(group.failureReason()); group.stop(); }
#pragma once
#include "parallel/degrees.h"

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace ditstudio::parallel {

struct LaunchSpec {
    std::filesystem::path executable;   // ditstudio-rank (or any program that speaks the rank contract)
    std::vector<std::string> arguments; // the same for every rank
    int worldSize = 1;
    ParallelDegrees degrees;            // world() must equal worldSize
    std::vector<std::string> devices;   // per rank: "cpu" or "cuda:<i>"; empty: "cpu" for all
    std::map<std::string, std::string> environment;       // added for every rank
    std::map<std::string, std::string> leaderEnvironment; // added for rank 0 only
    std::string storeHost = "127.0.0.1";
    int storePort = 0; // 0: an ephemeral port
    std::chrono::milliseconds heartbeatInterval{500};
    std::chrono::milliseconds heartbeatTimeout{10'000}; // no heartbeat for this long after the first: hung
    std::chrono::milliseconds startupTimeout{120'000};  // until the first heartbeat
    std::chrono::milliseconds stopGrace{3'000};         // SIGTERM → SIGKILL
    std::string logName = "rank";                        // log lines read "[rank 2] ..."
    std::function<void(int rank, const std::string& line)> onOutput; // every output line, supervisor thread
};

class RankGroup {
public:
    enum class Outcome { Running, Succeeded, Failed, Stopped };

    RankGroup();
    ~RankGroup(); // stop()
    RankGroup(const RankGroup&) = delete;
    RankGroup& operator=(const RankGroup&) = delete;

    // Validates the spec, starts the store and the ranks. Throws ConfigError for a bad spec, Error when a process
    // cannot be spawned (the ranks already started are stopped). One start per RankGroup object.
    void start(const LaunchSpec& spec);
    // True while every rank runs or has exited 0 and none failed. Non-blocking.
    bool isAlive() const;
    // Tears the group down now (SIGTERM, SIGKILL after the grace period) and reaps it; blocks until done.
    // Outcome Stopped unless the group had already finished or failed.
    void stop();
    // Blocks until every rank exited (Succeeded), the group failed and was torn down (Failed), or `timeout`
    // passed (Running: the group keeps running; call stop() to end it).
    Outcome waitForExit(std::chrono::milliseconds timeout);
    Outcome outcome() const;
    // Why the group failed: which rank (pid), exit code or signal, or how long without a heartbeat, and its last
    // output line. Empty unless Failed/Stopped.
    std::string failureReason() const;
    std::vector<pid_t> pids() const; // by rank; for diagnostics and tests
    int storePort() const;

private:
    struct Rank;
    void supervise();
    void teardown();
    void fail(const std::string& reason); // caller holds mutex_

    LaunchSpec spec_;
    struct Store; // the rendezvous c10d::TCPStore (server side), kept out of this header
    std::unique_ptr<Store> store_;
    std::vector<std::unique_ptr<Rank>> ranks_; // written by start() before the supervisor runs, then by it
    std::thread supervisor_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    Outcome outcome_ = Outcome::Running; // guarded by mutex_
    std::string reason_;                 // guarded by mutex_
    bool finished_ = false;              // guarded by mutex_: the supervisor has reaped everything
    bool stopRequested_ = false;         // guarded by mutex_
    bool started_ = false;
};

// Where ditstudio-rank lives: $DITSTUDIO_RANK_EXECUTABLE, else beside the running executable, else
// ../rank/ditstudio-rank relative to it (the build tree). Throws ConfigError naming the places looked at.
std::filesystem::path findRankExecutable();

} // namespace ditstudio::parallel
