#include "service/worker_server.h"

#include "core/util/atomic_output.h"
#include "core/presets/generation_settings.h"
#include "core/presets/preset_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <set>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace ditstudio::service {

namespace fs = std::filesystem;
using protocol::Message;
using protocol::ProtocolError;

struct WorkerServer::Session {
    struct Outgoing {
        std::string frame;
        Delivery delivery;
    };
    int fd = -1;
    uint64_t id = 0;
    bool isTcp = false;
    bool isGreeted = false;
    std::string clientName;
    int errorsBeforeHello = 0;
    protocol::FrameDecoder decoder;
    std::deque<Outgoing> out;
    size_t frontOffset = 0; // bytes of out.front() already written
    size_t queuedBytes = 0;
    uint64_t dropped = 0;
    bool subscribedAll = false;
    std::set<int64_t> jobs;
    bool wantsPreviews = true, wantsFrames = true, wantsLogs = false;
    bool closeAfterFlush = false;
    bool isDead = false;
};

namespace {

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::string randomToken() {
    std::random_device device;
    std::string token;
    for (int i = 0; i < 4; ++i) {
        token += fmt::format("{:08x}", device());
    }
    return token;
}

bool constantTimeEqual(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

uint64_t replyId(const Message& m) {
    auto it = m.header.find("id");
    return it != m.header.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

// GPU list from nvidia-smi (the worker itself never initialises CUDA: the ranks own the GPUs).
nlohmann::json queryGpus() {
    nlohmann::json gpus = nlohmann::json::array();
    FILE* pipe = ::popen("nvidia-smi --query-gpu=index,name,memory.total,memory.used,utilization.gpu "
                         "--format=csv,noheader,nounits 2>/dev/null",
                         "r");
    if (!pipe) {
        return gpus;
    }
    char line[512];
    while (std::fgets(line, sizeof line, pipe)) {
        std::vector<std::string> cols;
        std::string cell;
        for (const char* p = line; *p && *p != '\n'; ++p) {
            if (*p == ',') {
                cols.push_back(cell);
                cell.clear();
            } else if (!(cell.empty() && *p == ' ')) {
                cell += *p;
            }
        }
        cols.push_back(cell);
        if (cols.size() == 5) {
            gpus.push_back({{"index", std::atoi(cols[0].c_str())},
                            {"name", cols[1]},
                            {"memory_total_mib", std::atoll(cols[2].c_str())},
                            {"memory_used_mib", std::atoll(cols[3].c_str())},
                            {"utilization_percent", std::atoi(cols[4].c_str())}});
        }
    }
    ::pclose(pipe);
    return gpus;
}

} // namespace

WorkerServer::WorkerServer(WorkerOptions options, std::unique_ptr<JobExecutor> executor)
    : options_(std::move(options)), executor_(std::move(executor)) {
    if (options_.socketPath.empty()) {
        options_.socketPath = protocol::defaultSocketPath();
    }
    if (options_.databasePath.empty()) {
        options_.databasePath = protocol::stateDir() / "worker.sqlite3";
    }
    if (options_.outputDir.empty()) {
        options_.outputDir = defaultVideosDir();
    }
}

// A worker killed mid-export leaves the exporter's temporary (".<name>.partial-<pid>-<n>", AtomicOutput) beside
// the output; nothing is ever under the output's own name. Those of dead processes are removed here, in the default
// output folder and in the folder of every job that was interrupted.
void WorkerServer::removeStaleExports() {
    std::set<std::filesystem::path> folders{options_.outputDir};
    try {
        for (const JobRecord& job : store_->recentJobs(1000)) {
            if (job.state != JobState::Interrupted) {
                continue;
            }
            const std::string folder = job.settings.value("export", nlohmann::json::object()).value("directory", "");
            if (!folder.empty()) {
                folders.insert(folder);
            }
        }
    } catch (const std::exception& e) {
        spdlog::warn("cannot list interrupted jobs to clean their output folders: {}", e.what());
    }
    for (const auto& folder : folders) {
        for (const auto& removed : removeStalePartialOutputs(folder)) {
            spdlog::warn("removed {}: a partial output of a worker or CLI that was killed mid-export",
                         removed.string());
        }
    }
}

WorkerServer::~WorkerServer() {
    if (runner_) {
        runner_->stop();
    }
    for (auto& session : sessions_) {
        ::close(session->fd);
    }
    for (int fd : {unixFd_, tcpFd_, wakeRead_, wakeWrite_}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    if (unixFd_ >= 0) {
        ::unlink(options_.socketPath.c_str());
    }
    if (lockFd_ >= 0) {
        ::close(lockFd_); // releases the flock
    }
}

void WorkerServer::listen() {
    const fs::path dir = options_.socketPath.parent_path();
    protocol::ensurePrivateDir(dir);

    // One worker per socket: an advisory lock held for the life of the process (released by the kernel on exit,
    // SIGKILL included), so a stale socket file never blocks a restart.
    const fs::path lockPath = options_.socketPath.string() + ".lock";
    lockFd_ = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockFd_ < 0) {
        throw protocol::ConnectionError(fmt::format("cannot open the lock file {}: {}", lockPath.string(),
                                                    std::strerror(errno)));
    }
    if (::flock(lockFd_, LOCK_EX | LOCK_NB) != 0) {
        std::string pid;
        std::ifstream(lockPath) >> pid;
        ::close(lockFd_);
        lockFd_ = -1;
        throw WorkerAlreadyRunning(fmt::format("another ditstudio-worker (pid {}) already serves {}; stop it with "
                                               "`ditstudio-cli shutdown` or give this one another --socket",
                                               pid.empty() ? "?" : pid, options_.socketPath.string()));
    }
    const std::string pidText = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lockFd_, 0) != 0 || ::pwrite(lockFd_, pidText.data(), pidText.size(), 0) < 0) {
        spdlog::warn("cannot write the pid to {}: {}", lockPath.string(), std::strerror(errno));
    }

    store_ = std::make_unique<JobStore>(options_.databasePath);
    if (store_->interruptedAtOpen() > 0) {
        spdlog::warn("{} job(s) were running when the worker last stopped; they are marked interrupted",
                     store_->interruptedAtOpen());
    }
    removeStaleExports();

    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = options_.socketPath.string();
    if (path.size() >= sizeof addr.sun_path) {
        throw protocol::ConnectionError(fmt::format("socket path {} is longer than {} bytes", path,
                                                    sizeof addr.sun_path - 1));
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str()); // stale: we hold the lock, so no live worker owns it
    unixFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const mode_t oldMask = ::umask(0177);
    const int bound = ::bind(unixFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(oldMask);
    if (bound != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(unixFd_, 64) != 0) {
        throw protocol::ConnectionError(fmt::format("cannot listen on {}: {}", path, std::strerror(errno)));
    }
    setNonBlocking(unixFd_);

    if (options_.tcpPort) {
        tcpFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        ::setsockopt(tcpFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(*options_.tcpPort);
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(tcpFd_, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0 || ::listen(tcpFd_, 16) != 0) {
            throw protocol::ConnectionError(fmt::format("cannot listen on 127.0.0.1:{}: {}", *options_.tcpPort,
                                                        std::strerror(errno)));
        }
        socklen_t len = sizeof in;
        ::getsockname(tcpFd_, reinterpret_cast<sockaddr*>(&in), &len);
        boundTcpPort_ = ntohs(in.sin_port);
        setNonBlocking(tcpFd_);
        if (options_.tcpToken.empty()) {
            options_.tcpToken = randomToken();
        }
        const fs::path tokenPath = dir / "worker.token";
        const int tokenFd = ::open(tokenPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (tokenFd < 0 || ::write(tokenFd, options_.tcpToken.data(), options_.tcpToken.size()) < 0) {
            throw protocol::ConnectionError(fmt::format("cannot write the TCP token to {}: {}", tokenPath.string(),
                                                        std::strerror(errno)));
        }
        ::close(tokenFd);
        spdlog::info("listening on tcp://127.0.0.1:{} (token in {})", boundTcpPort_, tokenPath.string());
    }

    int pipeFds[2];
    if (::pipe2(pipeFds, O_NONBLOCK | O_CLOEXEC) != 0) {
        throw protocol::ConnectionError(fmt::format("pipe2 failed: {}", std::strerror(errno)));
    }
    wakeRead_ = pipeFds[0];
    wakeWrite_ = pipeFds[1];
    runner_ = std::make_unique<JobRunner>(
        *store_, *executor_, [this](int64_t job, Message event) { publish(job, std::move(event)); },
        RunnerOptions{options_.outputDir, 1.0});
    startedAt_ = nowSeconds();
    spdlog::info("ditstudio-worker {} (protocol {}) listening on {}", DITSTUDIO_VERSION, protocol::kProtocolVersion,
                 path);
}

void WorkerServer::requestShutdown() {
    isShuttingDown_ = true;
    if (wakeWrite_ >= 0) {
        const char byte = 's';
        [[maybe_unused]] ssize_t n = ::write(wakeWrite_, &byte, 1);
    }
}

void WorkerServer::publish(int64_t job, Message event) {
    {
        std::lock_guard lock(inboxMutex_);
        inbox_.emplace_back(job, std::move(event));
    }
    const char byte = 'e';
    [[maybe_unused]] ssize_t n = ::write(wakeWrite_, &byte, 1);
}

WorkerServer::Delivery WorkerServer::deliveryOf(const std::string& type) {
    if (type == "preview") {
        return Delivery::Preview;
    }
    if (type == "frames") {
        return Delivery::Frames;
    }
    if (type == "log") {
        return Delivery::Log;
    }
    return Delivery::Control;
}

void WorkerServer::drainInbox() {
    std::deque<std::pair<int64_t, Message>> events;
    {
        std::lock_guard lock(inboxMutex_);
        events.swap(inbox_);
    }
    for (auto& [job, event] : events) {
        const std::string type = event.type();
        const Delivery delivery = deliveryOf(type);
        for (auto& session : sessions_) {
            if (!session->isGreeted || session->isDead) {
                continue;
            }
            const bool isSubscribed = job == 0 ? (session->subscribedAll || delivery == Delivery::Log)
                                               : (session->subscribedAll || session->jobs.count(job) > 0);
            if (!isSubscribed || (delivery == Delivery::Preview && !session->wantsPreviews) ||
                (delivery == Delivery::Frames && !session->wantsFrames) ||
                (delivery == Delivery::Log && !session->wantsLogs)) {
                continue;
            }
            send(*session, event, delivery);
        }
    }
}

void WorkerServer::send(Session& session, const Message& message, Delivery delivery) {
    if (session.isDead) {
        return;
    }
    std::string frame;
    try {
        frame = protocol::encodeFrame(message);
    } catch (const ProtocolError& e) {
        spdlog::error("not sending {} to client {}: {}", message.type(), session.id, e.what());
        return;
    }
    const size_t maxBytes = options_.maxQueuedBytesPerClient, maxMessages = options_.maxQueuedMessagesPerClient;
    // An empty queue always takes the message (a chunk of full-size frames may be close to the byte limit itself).
    auto isOverLimit = [&] {
        return !session.out.empty() &&
               (session.queuedBytes + frame.size() > maxBytes || session.out.size() + 1 > maxMessages);
    };
    // Drops the oldest queued message of a kind (never the one half-written).
    auto dropQueued = [&](Delivery kind) {
        for (auto it = session.out.begin(); it != session.out.end(); ++it) {
            if (it == session.out.begin() && session.frontOffset > 0) {
                continue;
            }
            if (it->delivery == kind) {
                session.queuedBytes -= it->frame.size();
                session.out.erase(it);
                ++session.dropped;
                return true;
            }
        }
        return false;
    };
    while (isOverLimit() && dropQueued(Delivery::Preview)) {
    }
    if (delivery != Delivery::Preview) {
        while (isOverLimit() && dropQueued(Delivery::Frames)) {
        }
        while (isOverLimit() && dropQueued(Delivery::Log)) {
        }
    }
    if (isOverLimit()) {
        if (delivery != Delivery::Control) {
            ++session.dropped;
            return;
        }
        if (session.queuedBytes > 4 * maxBytes || session.out.size() > 4 * maxMessages) {
            closeSession(session, "the client does not read its events fast enough");
            return;
        }
    }
    session.queuedBytes += frame.size();
    session.out.push_back({std::move(frame), delivery});
}

void WorkerServer::closeSession(Session& session, const std::string& why) {
    if (!session.isDead) {
        spdlog::info("client {} ({}) disconnected: {}", session.id, session.clientName.empty() ? "?" : session.clientName,
                     why);
    }
    session.isDead = true;
}

void WorkerServer::acceptClient(int listenFd, bool isTcp) {
    for (;;) {
        const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            return;
        }
        auto session = std::make_unique<Session>();
        session->fd = fd;
        session->id = nextSessionId_++;
        session->isTcp = isTcp;
        if (!isTcp) {
            ucred cred{};
            socklen_t len = sizeof cred;
            if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid != ::getuid()) {
                spdlog::warn("refused a connection from uid {} (this worker belongs to uid {})", cred.uid, ::getuid());
                send(*session, protocol::makeError("unauthorized",
                                                   fmt::format("this worker belongs to uid {}; uid {} may not use it",
                                                               ::getuid(), cred.uid)));
                session->closeAfterFlush = true;
            }
        }
        sessions_.push_back(std::move(session));
    }
}

void WorkerServer::readClient(Session& session) {
    char chunk[64 * 1024];
    for (;;) {
        const ssize_t n = ::recv(session.fd, chunk, sizeof chunk, 0);
        if (n == 0) {
            closeSession(session, "closed by the client");
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                closeSession(session, std::strerror(errno));
            }
            break;
        }
        if (session.closeAfterFlush) {
            continue; // refused or broken: ignore what it still sends
        }
        session.decoder.feed(chunk, static_cast<size_t>(n));
        try {
            while (auto message = session.decoder.next()) {
                handleMessage(session, std::move(*message));
                if (session.isDead || session.closeAfterFlush) {
                    return;
                }
            }
        } catch (const ProtocolError& e) {
            // The stream cannot be resynchronised: say why, then close.
            spdlog::warn("client {}: {}", session.id, e.what());
            send(session, protocol::makeError(e.code(), e.what()));
            session.closeAfterFlush = true;
            return;
        }
        if (static_cast<size_t>(n) < sizeof chunk) {
            break;
        }
    }
}

void WorkerServer::writeClient(Session& session) {
    while (!session.out.empty()) {
        auto& front = session.out.front();
        const ssize_t n = ::send(session.fd, front.frame.data() + session.frontOffset,
                                 front.frame.size() - session.frontOffset, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                closeSession(session, std::strerror(errno));
            }
            return;
        }
        session.frontOffset += static_cast<size_t>(n);
        if (session.frontOffset == front.frame.size()) {
            session.queuedBytes -= front.frame.size();
            session.out.pop_front();
            session.frontOffset = 0;
        }
    }
    if (session.closeAfterFlush) {
        closeSession(session, "closed after an error");
    }
}

void WorkerServer::handleMessage(Session& session, Message message) {
    const uint64_t id = replyId(message);
    try {
        protocol::validateMessage(message, protocol::Direction::ClientToWorker);
    } catch (const ProtocolError& e) {
        send(session, protocol::makeError(e.code(), e.what(), id ? std::optional<uint64_t>(id) : std::nullopt));
        if (!session.isGreeted && ++session.errorsBeforeHello >= 8) {
            session.closeAfterFlush = true;
        }
        return;
    }
    const std::string type = message.type();
    if (!session.isGreeted && type != "hello") {
        send(session, protocol::makeError("out_of_order", fmt::format("send hello before {}", type), id));
        if (++session.errorsBeforeHello >= 8) {
            session.closeAfterFlush = true;
        }
        return;
    }
    if (session.isGreeted && type == "hello") {
        send(session, protocol::makeError("out_of_order", "hello was already sent on this connection", id));
        return;
    }
    try {
        handleRequest(session, message);
    } catch (const ProtocolError& e) {
        send(session, protocol::makeError(e.code(), e.what(), id));
    } catch (const PresetError& e) {
        send(session, protocol::makeError("invalid_settings", e.what(), id));
    } catch (const ConfigError& e) {
        send(session, protocol::makeError("invalid_settings", e.what(), id));
    } catch (const StoreError& e) {
        send(session, protocol::makeError("rejected", e.what(), id));
    } catch (const std::exception& e) {
        spdlog::error("client {}: {} failed: {}", session.id, type, e.what());
        send(session, protocol::makeError("internal", fmt::format("{} failed: {}", type, e.what()), id));
    }
}

nlohmann::json WorkerServer::submit(const Message& message) {
    const auto& h = message.header;
    GenerationSettings settings = GenerationSettings::fromJson(h["settings"]);
    const std::string model = h["model"].get<std::string>();
    std::error_code ec;
    if (model.empty() || !fs::exists(model, ec)) {
        throw ProtocolError("invalid_model", fmt::format("model \"{}\" does not exist on the worker's machine", model));
    }
    if (settings.seedMode == SeedMode::Random) {
        std::random_device device;
        settings.seed = static_cast<int64_t>((static_cast<uint64_t>(device()) << 20) ^ device()) & ((1ll << 52) - 1);
    } else if (settings.seedMode == SeedMode::Increment && lastSeed_) {
        settings.seed = *lastSeed_ + 1;
    }
    lastSeed_ = settings.seed;
    settings.seedMode = SeedMode::Fixed;
    const int64_t priority = h.value("priority", int64_t{0});
    const nlohmann::json stored = settings.toJson();
    const int64_t job = store_->addJob(fs::absolute(model).lexically_normal().string(), stored, priority);
    const int64_t position = store_->positionOf(job).value_or(0);
    spdlog::info("job {} queued at position {} (priority {}, seed {})", job, position, priority, settings.seed);
    publish(job, Message(nlohmann::json{{"type", "queued"},
                          {"job", job},
                          {"position", position},
                          {"priority", priority},
                          {"prompt", settings.prompt},
                          {"model", model}}));
    runner_->wake();
    return {{"job", job}, {"position", position}};
}

void WorkerServer::sendJobState(Session& session, int64_t jobId) {
    auto job = store_->job(jobId);
    if (!job) {
        return;
    }
    nlohmann::json event{{"job", jobId}};
    switch (job->state) {
    case JobState::Pending:
        event.update({{"type", "queued"},
                      {"position", store_->positionOf(jobId).value_or(0)},
                      {"priority", job->priority},
                      {"prompt", job->prompt},
                      {"model", job->model}});
        break;
    case JobState::Running: event["type"] = "started"; break;
    case JobState::Finished: {
        HistoryQuery query;
        query.jobId = jobId;
        query.limit = 1;
        auto entries = store_->queryHistory(query);
        event.update({{"type", "finished"},
                      {"outputs", entries.empty() ? nlohmann::json::object() : entries[0].outputs},
                      {"timings", entries.empty() ? nlohmann::json::object() : entries[0].timings},
                      {"seed", entries.empty() ? job->settings.value("seed", int64_t{0}) : entries[0].seed}});
        break;
    }
    case JobState::Cancelled: event["type"] = "cancelled"; break;
    case JobState::Failed:
    case JobState::Interrupted:
        event.update({{"type", "failed"},
                      {"reason", job->state == JobState::Interrupted ? "interrupted: " + job->error : job->error}});
        break;
    }
    send(session, Message(event));
}

nlohmann::json WorkerServer::statusJson() const {
    const auto pending = store_->pendingJobs();
    nlohmann::json status{{"worker", DITSTUDIO_VERSION},
                          {"protocol", protocol::kProtocolVersion},
                          {"pid", static_cast<uint64_t>(::getpid())},
                          {"uptime_s", nowSeconds() - startedAt_},
                          {"paused", runner_->isPaused()},
                          {"queue_length", pending.size()},
                          {"group", executor_->status()},
                          {"gpus", queryGpus()},
                          {"log_file", options_.logFile.string()},
                          {"database", store_->path().string()}};
    if (auto running = runner_->runningJob()) {
        status["running_job"] = *running;
    }
    return status;
}

void WorkerServer::handleRequest(Session& session, const Message& message) {
    const auto& h = message.header;
    const std::string type = message.type();
    const uint64_t id = replyId(message);
    auto reply = [&](const std::string& replyType, nlohmann::json fields = nlohmann::json::object(),
                     std::string payload = {}) {
        fields["type"] = replyType;
        fields["reply_to"] = id;
        send(session, Message(std::move(fields), std::move(payload)));
    };

    if (type == "hello") {
        const uint64_t version = h["protocol"].get<uint64_t>();
        if (version != static_cast<uint64_t>(protocol::kProtocolVersion)) {
            send(session, protocol::makeError(
                              "incompatible_version",
                              fmt::format("this worker speaks protocol version {}, the client \"{}\" speaks version {}; "
                                          "use a ditstudio-cli/GUI of the same release as ditstudio-worker {}",
                                          protocol::kProtocolVersion, h["client"].get<std::string>(), version,
                                          DITSTUDIO_VERSION),
                              id));
            session.closeAfterFlush = true;
            return;
        }
        if (session.isTcp && !constantTimeEqual(h.value("token", std::string()), options_.tcpToken)) {
            send(session, protocol::makeError("unauthorized", "a TCP client must send the worker's token "
                                                              "(<runtime dir>/worker.token)", id));
            session.closeAfterFlush = true;
            return;
        }
        session.isGreeted = true;
        session.clientName = h["client"].get<std::string>();
        reply("welcome", {{"protocol", protocol::kProtocolVersion},
                          {"worker", DITSTUDIO_VERSION},
                          {"pid", static_cast<uint64_t>(::getpid())}});
    } else if (type == "submit") {
        reply("submitted", submit(message));
    } else if (type == "cancel") {
        const int64_t job = h["job"].get<int64_t>();
        if (store_->cancelPending(job)) {
            spdlog::info("job {} cancelled before it started", job);
            publish(job, Message(nlohmann::json{{"type", "cancelled"}, {"job", job}}));
            publish(0, Message(nlohmann::json{{"type", "queue_changed"}}));
        } else if (runner_->cancel(job)) {
            spdlog::info("job {}: cancel requested", job);
        } else {
            auto record = store_->job(job);
            throw ProtocolError(record ? "not_cancellable" : "not_found",
                                record ? fmt::format("job {} is already {}", job, toString(record->state))
                                       : fmt::format("there is no job {}", job));
        }
        reply("ok");
    } else if (type == "list_queue") {
        nlohmann::json jobs = nlohmann::json::array();
        if (auto running = runner_->runningJob()) {
            if (auto record = store_->job(*running)) {
                jobs.push_back(record->toJson());
            }
        }
        int64_t position = 0;
        for (const auto& job : store_->pendingJobs()) {
            auto j = job.toJson();
            j["position"] = position++;
            jobs.push_back(std::move(j));
        }
        if (h.value("include_done", false)) {
            for (const auto& job : store_->recentJobs(100)) {
                if (isDone(job.state)) {
                    jobs.push_back(job.toJson());
                }
            }
        }
        reply("queue", {{"jobs", jobs}, {"paused", runner_->isPaused()}});
    } else if (type == "set_priority") {
        store_->setPriority(h["job"].get<int64_t>(), h["priority"].get<int64_t>());
        publish(0, Message(nlohmann::json{{"type", "queue_changed"}}));
        reply("ok");
    } else if (type == "reorder") {
        store_->reorder(h["job"].get<int64_t>(), h["position"].get<int64_t>());
        publish(0, Message(nlohmann::json{{"type", "queue_changed"}}));
        reply("ok");
    } else if (type == "pause_queue") {
        runner_->setPaused(h["paused"].get<bool>());
        spdlog::info("queue {}", h["paused"].get<bool>() ? "paused" : "resumed");
        publish(0, Message(nlohmann::json{{"type", "queue_changed"}}));
        reply("ok");
    } else if (type == "subscribe") {
        session.wantsPreviews = h.value("previews", session.wantsPreviews);
        session.wantsFrames = h.value("frames", session.wantsFrames);
        session.wantsLogs = h.value("logs", session.wantsLogs);
        if (h.contains("job") && !h["job"].is_null()) {
            const int64_t job = h["job"].get<int64_t>();
            if (!store_->job(job)) {
                throw ProtocolError("not_found", fmt::format("there is no job {}", job));
            }
            session.jobs.insert(job);
            reply("ok");
            sendJobState(session, job); // where the job stands now, so nothing that already happened is missed
        } else {
            session.subscribedAll = true;
            reply("ok");
        }
    } else if (type == "unsubscribe") {
        if (h.contains("job") && !h["job"].is_null()) {
            session.jobs.erase(h["job"].get<int64_t>());
        } else {
            session.subscribedAll = false;
            session.jobs.clear();
        }
        reply("ok");
    } else if (type == "query_history") {
        HistoryQuery query;
        query.search = h.value("search", std::string());
        if (h.contains("job")) {
            query.jobId = h["job"].get<int64_t>();
        }
        query.limit = std::min<int64_t>(h.value("limit", int64_t{50}), 1000);
        query.offset = h.value("offset", int64_t{0});
        query.withThumbnails = h.value("thumbnails", false);
        nlohmann::json entries = nlohmann::json::array();
        std::string payload;
        for (const auto& entry : store_->queryHistory(query)) {
            auto j = entry.toJson();
            if (query.withThumbnails && !entry.thumbnailPng.empty() &&
                payload.size() + entry.thumbnailPng.size() <= protocol::kMaxPayloadBytes) {
                j["thumbnail"] = {{"offset", payload.size()}, {"size", entry.thumbnailPng.size()}, {"format", "png"}};
                payload += entry.thumbnailPng;
            }
            entries.push_back(std::move(j));
        }
        reply("history", {{"entries", entries}}, std::move(payload));
    } else if (type == "delete_history") {
        // The client removes the files (to the user's trash); the worker forgets the entry, so that no client
        // lists it again.
        const int64_t job = h["job"].get<int64_t>();
        const int removed = store_->removeHistory(job);
        if (removed == 0) {
            throw ProtocolError("not_found", fmt::format("job {} has no history entry", job));
        }
        spdlog::info("job {}: history entry deleted", job);
        reply("ok");
        publish(0, Message(nlohmann::json{{"type", "history_changed"}}));
    } else if (type == "list_presets") {
        PresetStore presets(PresetStore::defaultBuiltinDir(), PresetStore::defaultUserDir());
        nlohmann::json list = nlohmann::json::array();
        for (const auto& entry : presets.list()) {
            nlohmann::json j{{"name", entry.name},
                             {"path", entry.path.string()},
                             {"builtin", entry.builtin},
                             {"description", entry.description}};
            if (entry.error.empty()) {
                try {
                    j["settings"] = presets.load(entry.path.string()).toJson();
                } catch (const Error& e) {
                    j["error"] = e.what();
                }
            } else {
                j["error"] = entry.error;
            }
            list.push_back(std::move(j));
        }
        reply("presets", {{"presets", list}});
    } else if (type == "get_status") {
        reply("status", statusJson());
    } else if (type == "shutdown") {
        spdlog::info("shutdown requested by client {} ({})", session.id, session.clientName);
        reply("ok");
        requestShutdown();
    }
}

void WorkerServer::run() {
    assert(runner_ && "listen() must succeed before run()");
    runner_->start(options_.startPaused);
    std::vector<pollfd> fds;
    while (!isShuttingDown_) {
        fds.clear();
        fds.push_back({wakeRead_, POLLIN, 0});
        fds.push_back({unixFd_, POLLIN, 0});
        fds.push_back({tcpFd_, static_cast<short>(tcpFd_ >= 0 ? POLLIN : 0), 0});
        for (auto& session : sessions_) {
            fds.push_back({session->fd, static_cast<short>(POLLIN | (session->out.empty() ? 0 : POLLOUT)), 0});
        }
        if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
            spdlog::error("poll failed: {}", std::strerror(errno));
            break;
        }
        if (fds[0].revents & POLLIN) {
            char buffer[256];
            while (::read(wakeRead_, buffer, sizeof buffer) > 0) {
            }
        }
        drainInbox();
        if (fds[1].revents & POLLIN) {
            acceptClient(unixFd_, false);
        }
        if (tcpFd_ >= 0 && (fds[2].revents & POLLIN)) {
            acceptClient(tcpFd_, true);
        }
        // Sessions accepted in this round have no pollfd yet (indices beyond fds.size()).
        for (size_t i = 0; i + 3 < fds.size() && i < sessions_.size(); ++i) {
            Session& session = *sessions_[i];
            if (fds[i + 3].revents & (POLLIN | POLLHUP | POLLERR)) {
                readClient(session);
            }
        }
        drainInbox();
        for (auto& session : sessions_) {
            if (!session->out.empty() && !session->isDead) {
                writeClient(*session);
            } else if (session->closeAfterFlush) {
                closeSession(*session, "closed after an error");
            }
        }
        std::erase_if(sessions_, [](const std::unique_ptr<Session>& s) {
            if (s->isDead) {
                ::close(s->fd);
            }
            return s->isDead;
        });
    }
    spdlog::info("worker shutting down");
    runner_->stop();
    executor_->shutdown();
    drainInbox();
    // Give clients a moment to receive their last events.
    const double deadline = nowSeconds() + 1.0;
    for (auto& session : sessions_) {
        setNonBlocking(session->fd);
        while (!session->out.empty() && !session->isDead && nowSeconds() < deadline) {
            writeClient(*session);
            pollfd pfd{session->fd, POLLOUT, 0};
            ::poll(&pfd, 1, 50);
        }
    }
}

} // namespace ditstudio::service
