#include "service/rank_executor.h"

#include "core/protocol/endpoint.h"
#include "core/protocol/messages.h"
#include "parallel/launcher.h"
#include "service/job_store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace ditstudio::service {

namespace fs = std::filesystem;
using protocol::Message;

inline constexpr const char* kControlSocketEnv = "DITSTUDIO_CONTROL_SOCKET";

struct RankGroupExecutor::Group {
    GroupKey key;
    std::unique_ptr<parallel::RankGroup> ranks;
    fs::path socketPath;
    int listenFd = -1;
    int fd = -1; // rank 0's control connection
    protocol::FrameDecoder decoder;
    double lastUsed = 0;

    ~Group() {
        if (fd >= 0) {
            ::close(fd);
        }
        if (listenFd >= 0) {
            ::close(listenFd);
            ::unlink(socketPath.c_str());
        }
    }
};

std::string GroupKey::describe() const {
    return fmt::format("{} on {} [{}], {}, ulysses {} × ring {} × cfg {}", model, device, fmt::join(devices, ","),
                       dtype, ulysses, ring, cfg);
}

GroupKey groupKeyFor(const nlohmann::json& settings, const std::string& model) {
    GroupKey key;
    key.model = model;
    key.dtype = settings.value("dtype", std::string("bfloat16"));
    const nlohmann::json parallel = settings.value("parallel", nlohmann::json::object());
    key.ulysses = parallel.value("ulysses", int64_t{1});
    key.ring = parallel.value("ring", int64_t{1});
    key.cfg = parallel.value("cfg_parallel", false) ? 2 : 1;
    std::string device = parallel.value("device", std::string("auto"));
    if (device == "auto") {
        device = ::access("/dev/nvidiactl", F_OK) == 0 ? "cuda" : "cpu";
    }
    key.device = device;
    const auto gpus = parallel.value("gpus", std::vector<int>{});
    for (int64_t r = 0; r < key.world(); ++r) {
        if (device == "cpu") {
            key.devices.push_back("cpu");
        } else if (gpus.empty()) {
            key.devices.push_back(fmt::format("cuda:{}", r));
        } else if (static_cast<int64_t>(gpus.size()) == key.world()) {
            key.devices.push_back(fmt::format("cuda:{}", gpus[static_cast<size_t>(r)]));
        } else {
            throw ConfigError(fmt::format("parallel.gpus lists {} GPUs but the world (ulysses × ring × cfg) is {}",
                                          gpus.size(), key.world()));
        }
    }
    return key;
}

RankGroupExecutor::RankGroupExecutor(RankExecutorOptions options) : options_(std::move(options)) {
    if (options_.controlDir.empty()) {
        options_.controlDir = protocol::runtimeDir();
    }
    status_ = {{"state", "none"}};
}

RankGroupExecutor::~RankGroupExecutor() { shutdown(); }

void RankGroupExecutor::setState(const std::string& state) {
    std::lock_guard lock(statusMutex_);
    status_["state"] = state;
    if (group_) {
        status_["model"] = group_->key.model;
        status_["device"] = group_->key.device;
        status_["devices"] = group_->key.devices;
        status_["dtype"] = group_->key.dtype;
        status_["world"] = group_->key.world();
        status_["pids"] = group_->ranks ? nlohmann::json(group_->ranks->pids()) : nlohmann::json::array();
        status_["last_used"] = group_->lastUsed;
    } else {
        status_ = {{"state", state}};
    }
}

nlohmann::json RankGroupExecutor::status() const {
    std::lock_guard lock(statusMutex_);
    nlohmann::json status = status_;
    if (status.contains("last_used") && status["state"] == "ready") {
        status["idle_s"] = nowSeconds() - status["last_used"].get<double>();
    }
    status.erase("last_used");
    return status;
}

std::vector<int> RankGroupExecutor::rankPids() const {
    std::lock_guard lock(statusMutex_);
    return status_.contains("pids") ? status_["pids"].get<std::vector<int>>() : std::vector<int>{};
}

void RankGroupExecutor::stopGroup(const std::string& why) {
    if (!group_) {
        return;
    }
    spdlog::info("stopping the rank group ({}): {}", group_->key.describe(), why);
    if (group_->fd >= 0 && group_->ranks->isAlive()) {
        try {
            protocol::writeMessage(group_->fd, Message(nlohmann::json{{"type", "shutdown"}}));
        } catch (const Error&) {
        }
        group_->ranks->waitForExit(std::chrono::seconds(5));
    }
    group_->ranks->stop();
    group_.reset();
    setState("none");
}

void RankGroupExecutor::releaseIfIdle() {
    if (!group_) {
        return;
    }
    if (!group_->ranks->isAlive()) {
        spdlog::warn("the idle rank group failed: {}", group_->ranks->failureReason());
        stopGroup("a rank exited while idle");
    } else if (nowSeconds() - group_->lastUsed > options_.idleReleaseSeconds) {
        stopGroup(fmt::format("idle for more than {} s", options_.idleReleaseSeconds));
    }
}

void RankGroupExecutor::cancelRunning(int64_t jobId) {
    std::lock_guard lock(controlMutex_);
    if (controlFd_ >= 0 && runningJob_ == jobId) {
        try {
            protocol::writeMessage(controlFd_, Message(nlohmann::json{{"type", "cancel"}, {"job", jobId}}));
        } catch (const Error& e) {
            spdlog::warn("job {}: sending cancel to rank 0 failed: {}", jobId, e.what());
        }
    }
}

void RankGroupExecutor::shutdown() { stopGroup("the worker is shutting down"); }

RankGroupExecutor::Group* RankGroupExecutor::ensureGroup(const GroupKey& key, const std::atomic<bool>& cancel) {
    if (group_ && group_->key == key && group_->ranks->isAlive() && group_->fd >= 0) {
        return group_.get();
    }
    if (group_) {
        stopGroup(group_->key == key ? "a rank of the warm group is gone"
                                     : "the next job needs another group: " + key.describe());
    }
    auto group = std::make_unique<Group>();
    group->key = key;
    protocol::ensurePrivateDir(options_.controlDir);
    group->socketPath = options_.controlDir / fmt::format("control-{}-{}.sock", ::getpid(), ++groupCounter_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = group->socketPath.string();
    if (path.size() >= sizeof addr.sun_path) {
        throw Error(fmt::format("control socket path {} is too long", path));
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    group->listenFd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const mode_t oldMask = ::umask(0177);
    const int bound = ::bind(group->listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(oldMask);
    if (bound != 0 || ::listen(group->listenFd, 1) != 0) {
        throw Error(fmt::format("cannot listen on the control socket {}: {}", path, std::strerror(errno)));
    }

    parallel::LaunchSpec spec;
    spec.executable = options_.rankExecutable;
    spec.worldSize = static_cast<int>(key.world());
    spec.degrees.ulysses = key.ulysses;
    spec.degrees.ring = key.ring;
    spec.degrees.cfg = key.cfg;
    spec.devices = key.devices;
    // Every rank learns that it serves the worker; only rank 0 connects.
    spec.environment[kControlSocketEnv] = path;
    spec.startupTimeout = std::chrono::milliseconds(static_cast<int64_t>(options_.startTimeoutSeconds * 1000));
    spec.logName = "rank";
    group->ranks = std::make_unique<parallel::RankGroup>();
    spdlog::info("starting a rank group: {}", key.describe());
    group_ = std::move(group);
    setState("starting");
    try {
        group_->ranks->start(spec);
    } catch (...) {
        stopGroup("it could not be launched");
        throw;
    }
    setState("starting");

    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(options_.startTimeoutSeconds * 1000));
    for (;;) {
        if (cancel) {
            stopGroup("the job was cancelled while the group started");
            return nullptr;
        }
        if (!group_->ranks->isAlive()) {
            const std::string reason = group_->ranks->failureReason();
            stopGroup("it failed to start");
            throw Error(fmt::format("the rank group failed while starting: {}", reason));
        }
        if (Clock::now() > deadline) {
            stopGroup("rank 0 did not connect in time");
            throw Error(fmt::format("rank 0 did not connect to the worker within {} s (is {} a ditstudio-rank that "
                                    "knows DITSTUDIO_CONTROL_SOCKET?)",
                                    options_.startTimeoutSeconds, options_.rankExecutable.string()));
        }
        if (group_->fd < 0) {
            pollfd pfd{group_->listenFd, POLLIN, 0};
            if (::poll(&pfd, 1, 100) > 0) {
                group_->fd = ::accept4(group_->listenFd, nullptr, nullptr, SOCK_CLOEXEC);
            }
            continue;
        }
        std::optional<Message> hello;
        try {
            hello = protocol::readMessage(group_->fd, group_->decoder, std::chrono::milliseconds(100));
        } catch (const Error& e) {
            ::close(group_->fd);
            group_->fd = -1;
            group_->decoder = protocol::FrameDecoder();
            spdlog::warn("rank 0's control connection failed before rank_hello: {}", e.what());
            continue;
        }
        if (!hello) {
            continue;
        }
        protocol::validateMessage(*hello, protocol::Direction::RankToWorker);
        if (hello->type() != "rank_hello") {
            stopGroup("rank 0 did not greet");
            throw Error(fmt::format("rank 0 sent {} before rank_hello", hello->type()));
        }
        if (hello->header["protocol"].get<int>() != protocol::kProtocolVersion) {
            stopGroup("protocol mismatch");
            throw Error(fmt::format("ditstudio-rank speaks control protocol {}, this worker {}: install matching "
                                    "versions",
                                    hello->header["protocol"].get<int>(), protocol::kProtocolVersion));
        }
        spdlog::info("rank group ready: world {}, rank 0 pid {} on {}", hello->header["world"].get<int>(),
                     hello->header["pid"].get<int>(), hello->header["device"].get<std::string>());
        group_->lastUsed = nowSeconds();
        setState("ready");
        return group_.get();
    }
}

JobOutcome RankGroupExecutor::run(const JobRecord& job, const ExecutionCallbacks& callbacks,
                                  const std::atomic<bool>& cancel) {
    JobOutcome outcome;
    Group* group = nullptr;
    try {
        group = ensureGroup(groupKeyFor(job.settings, job.model), cancel);
    } catch (const std::exception& e) {
        outcome.kind = JobOutcome::Kind::Failed;
        outcome.stage = "load";
        outcome.reason = fmt::format("could not start the rank group: {}", e.what());
        return outcome;
    }
    if (!group) {
        outcome.kind = JobOutcome::Kind::Cancelled;
        return outcome;
    }
    setState("busy");
    {
        std::lock_guard lock(controlMutex_);
        controlFd_ = group->fd;
        runningJob_ = job.id;
    }
    struct ControlScope { // the connection is only reachable by cancelRunning() while this job runs
        RankGroupExecutor& self;
        ~ControlScope() {
            std::lock_guard lock(self.controlMutex_);
            self.controlFd_ = -1;
            self.runningJob_ = 0;
        }
    } controlScope{*this};
    auto writeControl = [&](const Message& message) {
        std::lock_guard lock(controlMutex_);
        protocol::writeMessage(group->fd, message);
    };
    std::string stage = "load";
    bool isCancelSent = false;
    auto fail = [&](const std::string& reason) {
        {
            std::lock_guard lock(controlMutex_);
            controlFd_ = -1;
        }
        outcome.kind = JobOutcome::Kind::Failed;
        outcome.stage = stage;
        outcome.reason = reason;
        stopGroup(reason);
        return outcome;
    };
    try {
        writeControl(Message(nlohmann::json{{"type", "run_job"},
                                                   {"job", job.id},
                                                   {"model", job.model},
                                                   {"settings", job.settings},
                                                   {"preview_interval_s", options_.previewIntervalSeconds}}));
    } catch (const Error& e) {
        return fail(fmt::format("could not send the job to rank 0: {}", e.what()));
    }
    for (;;) {
        if (cancel && !isCancelSent) {
            try {
                writeControl(Message(nlohmann::json{{"type", "cancel"}, {"job", job.id}}));
            } catch (const Error&) {
            }
            isCancelSent = true;
        }
        std::optional<Message> message;
        bool isLost = false;
        try {
            message = protocol::readMessage(group->fd, group->decoder, std::chrono::milliseconds(100));
            if (message) {
                protocol::validateMessage(*message, protocol::Direction::RankToWorker);
            }
        } catch (const protocol::ConnectionClosed&) {
            isLost = true;
        } catch (const protocol::ProtocolError& e) {
            return fail(fmt::format("rank 0 sent a malformed control message: {}", e.what()));
        }
        if (isLost || !group->ranks->isAlive()) {
            // Give the supervisor a moment to see which rank died and how.
            for (int i = 0; i < 50 && group->ranks->isAlive(); ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
            std::string reason = group->ranks->failureReason();
            if (reason.empty()) {
                reason = "rank 0 closed the control connection";
            }
            return fail(fmt::format("the rank group failed during {}: {}", stage, reason));
        }
        if (!message) {
            continue;
        }
        const std::string type = message->type();
        auto& h = message->header;
        if (h.contains("job") && h["job"].get<int64_t>() != job.id) {
            spdlog::warn("rank 0 sent {} for job {} while job {} runs; ignored", type, h["job"].get<int64_t>(), job.id);
            continue;
        }
        if (type == "stage") {
            stage = h["stage"].get<std::string>();
            callbacks.onEvent(std::move(*message));
        } else if (type == "step" || type == "preview") {
            callbacks.onEvent(std::move(*message));
        } else if (type == "frames") {
            outcome.framesRgb += message->payload;
            callbacks.onEvent(std::move(*message));
        } else if (type == "latents") {
            if (callbacks.onLatents) {
                try {
                    callbacks.onLatents(h["shape"].get<std::vector<int64_t>>(), message->payload);
                } catch (const std::exception& e) {
                    spdlog::error("job {}: saving the final latents failed: {}", job.id, e.what());
                }
            }
        } else if (type == "result") {
            outcome.kind = JobOutcome::Kind::Finished;
            outcome.frames = h["frames"].get<int64_t>();
            outcome.height = h["height"].get<int64_t>();
            outcome.width = h["width"].get<int64_t>();
            outcome.seed = h["seed"].get<int64_t>();
            for (const auto& [name, seconds] : h["timings"].items()) {
                if (seconds.is_number()) {
                    outcome.stageSeconds[name] = seconds.get<double>();
                }
            }
            if (static_cast<int64_t>(outcome.framesRgb.size()) != outcome.frames * outcome.height * outcome.width * 3) {
                outcome.kind = JobOutcome::Kind::Failed;
                outcome.stage = "decode";
                outcome.reason = fmt::format("rank 0 streamed {} bytes of frames for {} frames of {}x{}",
                                             outcome.framesRgb.size(), outcome.frames, outcome.width, outcome.height);
            }
            break;
        } else if (type == "failed") {
            outcome.kind = JobOutcome::Kind::Failed;
            outcome.stage = h.value("stage", stage);
            outcome.reason = h["reason"].get<std::string>();
            if (group->key.world() > 1) {
                // Its ranks are exiting (a peer may have been left in a collective: service/rank_control.cpp); were
                // the group kept, the next job could be sent to it before they are gone and fail with a broken pipe.
                {
                    std::lock_guard lock(controlMutex_);
                    controlFd_ = -1;
                }
                stopGroup(fmt::format("job {} failed on a group of {} ranks", job.id, group->key.world()));
                return outcome;
            }
            break;
        } else if (type == "cancelled") {
            outcome.kind = JobOutcome::Kind::Cancelled;
            break;
        } else if (type == "log") {
            spdlog::log(spdlog::level::from_str(h["level"].get<std::string>()), "[rank 0] {}",
                        h["message"].get<std::string>());
        } else {
            return fail(fmt::format("rank 0 sent {} in the middle of a job", type));
        }
    }
    group->lastUsed = nowSeconds();
    setState("ready");
    return outcome;
}

} // namespace ditstudio::service
