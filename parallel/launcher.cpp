#include "parallel/launcher.h"

#include "core/util/error.h"
#include "parallel/communicator.h"
#include "parallel/rank_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>

extern char** environ;

namespace ditstudio::parallel {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kTailLines = 20;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Moves a pipe end above the standard descriptors (so that dup2 onto 0..3 in the child always copies it).
int highFd(int fd) {
    if (fd >= 10) {
        return fd;
    }
    const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    ::close(fd);
    return moved;
}

void makePipe(int ends[2], const char* what) {
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        throw Error(fmt::format("launcher: cannot create the {} pipe: {}", what, std::strerror(errno)));
    }
    ends[0] = highFd(ends[0]);
    ends[1] = highFd(ends[1]);
    ::fcntl(ends[0], F_SETFL, ::fcntl(ends[0], F_GETFL) | O_NONBLOCK);
}

} // namespace

struct RankGroup::Store {
    c10::intrusive_ptr<c10d::TCPStore> tcp;
};

struct RankGroup::Rank {
    int index = 0;
    pid_t pid = -1;
    int outFd = -1, errFd = -1, beatFd = -1; // read ends, non-blocking; -1 once at EOF
    std::string outPartial, errPartial;
    std::deque<std::string> tail; // last output lines (stderr and stdout)
    Clock::time_point startedAt, lastBeat;
    bool beatSeen = false;
    bool exited = false;
    int status = 0;

    bool failedExit() const { return exited && !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }
    bool peerLost() const { return exited && WIFEXITED(status) && WEXITSTATUS(status) == kRankExitPeerLost; }
};

RankGroup::RankGroup() = default;

RankGroup::~RankGroup() { stop(); }

void RankGroup::start(const LaunchSpec& spec) {
    {
        std::lock_guard lock(mutex_);
        if (started_) {
            throw ConfigError("RankGroup::start called twice: use a new RankGroup for a new group");
        }
        started_ = true;
    }
    spec_ = spec;
    if (spec.worldSize < 1) {
        throw ConfigError(fmt::format("a rank group needs at least 1 rank, got {}", spec.worldSize));
    }
    if (spec.degrees.world() != spec.worldSize) {
        throw ConfigError(fmt::format("{} does not match the {} rank(s) to start", spec.degrees.describe(),
                                      spec.worldSize));
    }
    if (!spec.devices.empty() && static_cast<int>(spec.devices.size()) != spec.worldSize) {
        throw ConfigError(fmt::format("{} devices given for {} ranks", spec.devices.size(), spec.worldSize));
    }
    if (::access(spec.executable.c_str(), X_OK) != 0) {
        throw ConfigError(fmt::format("rank executable '{}' is missing or not executable", spec.executable.string()));
    }

    c10d::TCPStoreOptions storeOptions;
    storeOptions.port = static_cast<std::uint16_t>(spec.storePort);
    storeOptions.isServer = true;
    storeOptions.waitWorkers = false;
    storeOptions.timeout = spec.startupTimeout;
    try {
        store_ = std::make_unique<Store>(Store{c10::make_intrusive<c10d::TCPStore>(spec.storeHost, storeOptions)});
    } catch (const std::exception& e) {
        throw CommError(fmt::format("launcher: cannot start the rendezvous store on {}:{}: {}", spec.storeHost,
                                    spec.storePort, e.what()));
    }

    // Environment: ours, minus the variables of the rank contract, which are set per rank.
    std::vector<std::string> base;
    for (char** e = environ; e && *e; ++e) {
        std::string entry(*e);
        const std::string key = entry.substr(0, entry.find('='));
        const bool ours = key == env::kRank || key == env::kWorldSize || key == env::kStoreAddr ||
                          key == env::kStorePort || key == env::kDevice || key == env::kUlysses || key == env::kRing ||
                          key == env::kCfg || key == env::kHeartbeatFd || key == env::kHeartbeatMs;
        if (!ours && !spec.environment.count(key) && !spec.leaderEnvironment.count(key)) {
            base.push_back(std::move(entry));
        }
    }

    for (int r = 0; r < spec.worldSize; ++r) {
        auto rank = std::make_unique<Rank>();
        rank->index = r;
        int out[2], err[2], beat[2];
        makePipe(out, "stdout");
        makePipe(err, "stderr");
        makePipe(beat, "heartbeat");

        std::vector<std::string> envStrings = base;
        auto set = [&](const std::string& key, const std::string& value) { envStrings.push_back(key + "=" + value); };
        set(env::kRank, std::to_string(r));
        set(env::kWorldSize, std::to_string(spec.worldSize));
        set(env::kStoreAddr, spec.storeHost);
        set(env::kStorePort, std::to_string(store_->tcp->getPort()));
        set(env::kDevice, spec.devices.empty() ? "cpu" : spec.devices[r]);
        set(env::kUlysses, std::to_string(spec.degrees.ulysses));
        set(env::kRing, std::to_string(spec.degrees.ring));
        set(env::kCfg, std::to_string(spec.degrees.cfg));
        set(env::kHeartbeatFd, "3");
        set(env::kHeartbeatMs, std::to_string(spec.heartbeatInterval.count()));
        const bool onCpu = spec.devices.empty() || spec.devices[r] == "cpu";
        if (onCpu && !std::getenv("OMP_NUM_THREADS") && !spec.environment.count("OMP_NUM_THREADS")) {
            // CPU ranks share the machine's cores instead of each spinning up a thread per core.
            const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
            set("OMP_NUM_THREADS", std::to_string(std::max(1u, cores / static_cast<unsigned>(spec.worldSize))));
        }
        for (const auto& [key, value] : spec.environment) {
            set(key, value);
        }
        if (r == 0) {
            for (const auto& [key, value] : spec.leaderEnvironment) {
                set(key, value);
            }
        }
        std::vector<char*> envp;
        for (auto& s : envStrings) {
            envp.push_back(s.data());
        }
        envp.push_back(nullptr);
        std::vector<std::string> argStrings{spec.executable.string()};
        argStrings.insert(argStrings.end(), spec.arguments.begin(), spec.arguments.end());
        std::vector<char*> argv;
        for (auto& s : argStrings) {
            argv.push_back(s.data());
        }
        argv.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, err[1], 2);
        posix_spawn_file_actions_adddup2(&actions, beat[1], 3);
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
            sigaddset(&defaults, s);
        }
        posix_spawnattr_setsigmask(&attributes, &none);
        posix_spawnattr_setsigdefault(&attributes, &defaults);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        const int rc = ::posix_spawn(&rank->pid, argv[0], &actions, &attributes, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
        ::close(out[1]);
        ::close(err[1]);
        ::close(beat[1]);
        if (rc != 0) {
            ::close(out[0]);
            ::close(err[0]);
            ::close(beat[0]);
            {
                std::lock_guard lock(mutex_);
                fail(fmt::format("rank {} could not be started: {}", r, std::strerror(rc)));
            }
            teardown();
            throw Error(fmt::format("launcher: cannot start rank {} ({}): {}", r, spec.executable.string(),
                                    std::strerror(rc)));
        }
        rank->outFd = out[0];
        rank->errFd = err[0];
        rank->beatFd = beat[0];
        rank->startedAt = Clock::now();
        spdlog::debug("launcher: rank {} started as pid {}", r, rank->pid);
        ranks_.push_back(std::move(rank));
    }
    spdlog::info("launcher: {} rank(s) of '{}' started ({}, store port {})", spec.worldSize,
                 spec.executable.filename().string(), spec.degrees.describe(), store_->tcp->getPort());
    supervisor_ = std::thread([this] { supervise(); });
}

namespace {

// Reads what is there; returns false at EOF (the fd is then closed and set to −1).
bool drainFd(int& fd, std::string* text, size_t* bytes) {
    char buffer[65536];
    while (fd >= 0) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            if (text) {
                text->append(buffer, static_cast<size_t>(n));
            }
            if (bytes) {
                *bytes += static_cast<size_t>(n);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return true;
        }
        ::close(fd);
        fd = -1;
        return false;
    }
    return false;
}

} // namespace

void RankGroup::supervise() {
    auto emit = [&](Rank& rank, std::string& partial, bool atEof) {
        if (atEof && !partial.empty() && partial.back() != '\n') {
            partial.push_back('\n'); // the last line had no newline
        }
        size_t start = 0;
        for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string line = partial.substr(start, nl - start);
            if (line.empty()) {
                continue;
            }
            if (line.rfind("[error]", 0) == 0 || line.rfind("[critical]", 0) == 0) {
                spdlog::error("[{} {}] {}", spec_.logName, rank.index, line);
            } else if (line.rfind("[warning]", 0) == 0) {
                spdlog::warn("[{} {}] {}", spec_.logName, rank.index, line);
            } else {
                spdlog::info("[{} {}] {}", spec_.logName, rank.index, line);
            }
            if (spec_.onOutput) {
                spec_.onOutput(rank.index, line);
            }
            rank.tail.push_back(std::move(line));
            if (rank.tail.size() > kTailLines) {
                rank.tail.pop_front();
            }
        }
        partial.erase(0, start);
    };
    auto drainRank = [&](Rank& rank) {
        const bool outOpen = drainFd(rank.outFd, &rank.outPartial, nullptr);
        emit(rank, rank.outPartial, !outOpen);
        const bool errOpen = drainFd(rank.errFd, &rank.errPartial, nullptr);
        emit(rank, rank.errPartial, !errOpen);
        size_t beats = 0;
        drainFd(rank.beatFd, nullptr, &beats);
        if (beats > 0) {
            rank.lastBeat = Clock::now();
            rank.beatSeen = true;
        }
    };
    auto describeExit = [&](const Rank& rank) {
        std::string what;
        if (WIFSIGNALED(rank.status)) {
            what = fmt::format("rank {} (pid {}) was killed by signal {} ({})", rank.index, rank.pid,
                               WTERMSIG(rank.status), ::strsignal(WTERMSIG(rank.status)));
        } else {
            const int code = WEXITSTATUS(rank.status);
            what = fmt::format("rank {} (pid {}) exited with code {}{}", rank.index, rank.pid, code,
                               code == kRankExitPeerLost   ? " (communication failure)"
                               : code == kRankExitUsage    ? " (bad command line)"
                               : code == kRankExitOrphaned ? " (lost its launcher)"
                                                           : "");
        }
        if (!rank.tail.empty()) {
            what += fmt::format("; its last output: \"{}\"", rank.tail.back());
        }
        return what;
    };

    std::string peerLostReason;
    Clock::time_point peerLostDeadline{};
    while (true) {
        std::vector<pollfd> fds;
        for (auto& rank : ranks_) {
            for (int fd : {rank->outFd, rank->errFd, rank->beatFd}) {
                if (fd >= 0) {
                    fds.push_back(pollfd{fd, POLLIN, 0});
                }
            }
        }
        if (!fds.empty()) {
            ::poll(fds.data(), fds.size(), 100);
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        for (auto& rank : ranks_) {
            drainRank(*rank);
        }
        for (auto& rank : ranks_) {
            if (!rank->exited && ::waitpid(rank->pid, &rank->status, WNOHANG) == rank->pid) {
                rank->exited = true;
                drainRank(*rank); // the last words are already in the pipes
                spdlog::debug("launcher: {}", describeExit(*rank));
            }
        }
        const auto now = Clock::now();
        std::unique_lock lock(mutex_);
        if (stopRequested_ && outcome_ == Outcome::Running) {
            outcome_ = Outcome::Stopped;
            reason_ = "the group was stopped on request";
        }
        if (outcome_ == Outcome::Running) {
            bool allExited = true, allOk = true;
            for (auto& rank : ranks_) {
                allExited = allExited && rank->exited;
                allOk = allOk && rank->exited && !rank->failedExit();
                if (rank->failedExit() && !rank->peerLost()) { // a root cause
                    fail(describeExit(*rank));
                    break;
                }
                if (rank->peerLost() && peerLostReason.empty()) {
                    // Usually the echo of another rank's death: give the root cause a moment to show.
                    peerLostReason = describeExit(*rank);
                    peerLostDeadline = now + std::chrono::milliseconds(500);
                }
                if (!rank->exited) {
                    const auto silent = now - (rank->beatSeen ? rank->lastBeat : rank->startedAt);
                    const auto limit = rank->beatSeen ? spec_.heartbeatTimeout : spec_.startupTimeout;
                    if (silent > limit) {
                        fail(fmt::format("rank {} (pid {}) {} for {:.1f} s (limit {:.1f} s): hung or stopped",
                                         rank->index, rank->pid,
                                         rank->beatSeen ? "sent no heartbeat" : "did not start (no heartbeat)",
                                         seconds(silent), seconds(limit)));
                        break;
                    }
                }
            }
            if (outcome_ == Outcome::Running && !peerLostReason.empty() && (now > peerLostDeadline || allExited)) {
                fail(peerLostReason);
            } else if (outcome_ == Outcome::Running && allOk) {
                outcome_ = Outcome::Succeeded;
            }
        }
        if (outcome_ != Outcome::Running) {
            lock.unlock();
            teardown();
            lock.lock();
            finished_ = true;
            lock.unlock();
            changed_.notify_all();
            return;
        }
    }
}

void RankGroup::fail(const std::string& reason) {
    if (outcome_ != Outcome::Running) {
        return;
    }
    outcome_ = Outcome::Failed;
    reason_ = reason;
    spdlog::error("launcher: {}; stopping the group", reason);
}

void RankGroup::teardown() {
    auto alive = [&] {
        std::vector<Rank*> running;
        for (auto& rank : ranks_) {
            if (!rank->exited) {
                if (::waitpid(rank->pid, &rank->status, WNOHANG) == rank->pid) {
                    rank->exited = true;
                } else {
                    running.push_back(rank.get());
                }
            }
        }
        return running;
    };
    for (Rank* rank : alive()) {
        ::kill(rank->pid, SIGCONT); // a stopped process acts on SIGTERM only once continued
        ::kill(rank->pid, SIGTERM);
    }
    const auto deadline = Clock::now() + spec_.stopGrace;
    while (!alive().empty() && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (Rank* rank : alive()) {
        spdlog::warn("launcher: rank {} (pid {}) ignored SIGTERM for {:.1f} s; sending SIGKILL", rank->index,
                     rank->pid, seconds(spec_.stopGrace));
        ::kill(rank->pid, SIGKILL);
        while (::waitpid(rank->pid, &rank->status, 0) < 0 && errno == EINTR) {
        }
        rank->exited = true;
    }
    for (auto& rank : ranks_) {
        for (int* fd : {&rank->outFd, &rank->errFd, &rank->beatFd}) {
            if (*fd >= 0) {
                ::close(*fd);
                *fd = -1;
            }
        }
    }
}

void RankGroup::stop() {
    {
        std::lock_guard lock(mutex_);
        if (!started_) {
            return;
        }
        stopRequested_ = true;
    }
    changed_.notify_all();
    if (supervisor_.joinable() && supervisor_.get_id() != std::this_thread::get_id()) {
        supervisor_.join();
    }
}

RankGroup::Outcome RankGroup::waitForExit(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!started_) {
        return Outcome::Stopped;
    }
    changed_.wait_for(lock, timeout, [this] { return finished_; });
    return finished_ ? outcome_ : Outcome::Running;
}

RankGroup::Outcome RankGroup::outcome() const {
    std::lock_guard lock(mutex_);
    return finished_ || outcome_ != Outcome::Succeeded ? outcome_ : Outcome::Running;
}

bool RankGroup::isAlive() const {
    std::lock_guard lock(mutex_);
    return started_ && outcome_ == Outcome::Running;
}

std::string RankGroup::failureReason() const {
    std::lock_guard lock(mutex_);
    return reason_;
}

std::vector<pid_t> RankGroup::pids() const {
    std::vector<pid_t> result;
    for (const auto& rank : ranks_) {
        result.push_back(rank->pid);
    }
    return result;
}

int RankGroup::storePort() const { return store_ ? store_->tcp->getPort() : 0; }

std::filesystem::path findRankExecutable() {
    namespace fs = std::filesystem;
    std::vector<fs::path> candidates;
    if (const char* configured = std::getenv("DITSTUDIO_RANK_EXECUTABLE")) {
        candidates.emplace_back(configured);
    } else {
        std::error_code ec;
        const fs::path self = fs::read_symlink("/proc/self/exe", ec);
        if (!ec) {
            candidates.push_back(self.parent_path() / "ditstudio-rank");
            candidates.push_back(self.parent_path().parent_path() / "rank" / "ditstudio-rank");
        }
    }
    std::string tried;
    for (const auto& c : candidates) {
        if (::access(c.c_str(), X_OK) == 0) {
            return c;
        }
        tried += (tried.empty() ? "" : ", ") + c.string();
    }
    throw ConfigError(fmt::format("cannot find the ditstudio-rank executable (looked at: {}); set "
                                  "DITSTUDIO_RANK_EXECUTABLE",
                                  tried.empty() ? "nothing" : tried));
}

} // namespace ditstudio::parallel
