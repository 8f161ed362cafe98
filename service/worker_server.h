// The worker service: listens on the Unix socket (and optionally loopback TCP with a token), speaks the protocol
// of docs/protocol.md to any number of clients, owns the JobStore and the JobRunner, and fans every job event out
// to the clients subscribed to it.
//
// Threads: run() is the I/O loop (poll over the listeners, the clients and a wake pipe); it alone touches the
// client sessions. Other threads (the runner, the log sink) hand events over with publish(), which only appends to
// an inbox under inboxMutex_ and wakes the loop. A slow client never blocks anyone: each session has a bounded
// outgoing queue; previews are dropped first, then frames, then logs; a client that still cannot keep up with the
// job's control events is disconnected (they stay in the store and the history).
#pragma once
#include "core/protocol/endpoint.h"
#include "core/protocol/messages.h"
#include "service/job_executor.h"
#include "service/job_runner.h"
#include "service/job_store.h"

#include <deque>
#include <memory>
#include <set>

namespace ditstudio::service {

// Another worker already serves this socket: the message names the socket and that worker's pid.
class WorkerAlreadyRunning : public Error {
public:
    using Error::Error;
};

struct WorkerOptions {
    std::filesystem::path socketPath;        // empty = protocol::defaultSocketPath()
    std::optional<uint16_t> tcpPort;         // loopback TCP; 0 = any free port
    std::string tcpToken;                    // empty = generated and written to <socket dir>/worker.token (0600)
    std::filesystem::path databasePath;      // empty = <state dir>/worker.sqlite3
    std::filesystem::path outputDir;         // empty = defaultVideosDir()
    std::filesystem::path logFile;           // for status only (logging is set up by the main)
    bool startPaused = false;
    size_t maxQueuedBytesPerClient = 32u << 20;
    size_t maxQueuedMessagesPerClient = 1024;
};

class WorkerServer {
public:
    WorkerServer(WorkerOptions options, std::unique_ptr<JobExecutor> executor);
    ~WorkerServer();
    WorkerServer(const WorkerServer&) = delete;
    WorkerServer& operator=(const WorkerServer&) = delete;

    // Takes the single-instance lock, opens the store, binds the sockets (0600 socket in a 0700 folder).
    // Throws WorkerAlreadyRunning, protocol::ConnectionError or StoreError.
    void listen();
    // The I/O loop; returns when a client asked for shutdown or requestShutdown() was called.
    void run();
    // Async-signal-safe: only writes to the wake pipe.
    void requestShutdown();
    // Any thread: queue an event for the clients subscribed to `job` (0 = worker-wide, e.g. logs).
    void publish(int64_t job, protocol::Message event);

    const std::filesystem::path& socketPath() const { return options_.socketPath; }
    uint16_t tcpPort() const { return boundTcpPort_; }
    JobStore& store() { return *store_; }

private:
    struct Session;
    enum class Delivery { Control, Frames, Preview, Log }; // drop order: Preview, Frames, Log; never Control

    void removeStaleExports(); // at start: partial outputs of killed exports
    void acceptClient(int listenFd, bool isTcp);
    void readClient(Session& session);
    void writeClient(Session& session);
    void handleMessage(Session& session, protocol::Message message);
    void handleRequest(Session& session, const protocol::Message& message);
    void send(Session& session, const protocol::Message& message, Delivery delivery = Delivery::Control);
    void sendJobState(Session& session, int64_t job);
    void drainInbox();
    static Delivery deliveryOf(const std::string& type);
    nlohmann::json statusJson() const;
    nlohmann::json submit(const protocol::Message& message);
    void closeSession(Session& session, const std::string& why);

    WorkerOptions options_;
    std::unique_ptr<JobExecutor> executor_;
    std::unique_ptr<JobStore> store_;
    std::unique_ptr<JobRunner> runner_;

    int lockFd_ = -1;
    int unixFd_ = -1;
    int tcpFd_ = -1;
    uint16_t boundTcpPort_ = 0;
    int wakeRead_ = -1;
    int wakeWrite_ = -1;
    std::atomic<bool> isShuttingDown_{false};
    double startedAt_ = 0;
    uint64_t nextSessionId_ = 1;
    std::optional<int64_t> lastSeed_; // for seed_mode increment

    std::vector<std::unique_ptr<Session>> sessions_; // I/O thread only

    std::mutex inboxMutex_; // guards inbox_
    std::deque<std::pair<int64_t, protocol::Message>> inbox_;
};

} // namespace ditstudio::service
