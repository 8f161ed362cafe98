// The worker's client library, shared by ditstudio-cli and the GUI (no Qt). One connection; requests are blocking
// calls that wait for their reply; events (queued, step, preview, finished, log, ...) arrive on the client's
// reader thread and go to the event handler, or, without one, to a queue drained by waitEvent().
//
// Thread contract: connect()/close() from one owning thread; request() and waitEvent() from any thread (replies
// are matched by request id); the handlers run on the reader thread and must not call request() (it would wait for
// a reply that only this thread can deliver) — post to another thread instead.
#pragma once
#include "core/protocol/endpoint.h"
#include "core/protocol/messages.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace ditstudio::protocol {

class WorkerClient {
public:
    using EventHandler = std::function<void(const Message& event)>;
    using DisconnectHandler = std::function<void(const std::string& reason)>;

    WorkerClient() = default;
    ~WorkerClient();
    WorkerClient(const WorkerClient&) = delete;
    WorkerClient& operator=(const WorkerClient&) = delete;

    // Connects and greets (hello → welcome). Throws ConnectionError (nothing listening) or ProtocolError
    // ("incompatible_version", "unauthorized", ...) with the worker's own message.
    void connect(const Endpoint& endpoint, const std::string& clientName,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5));
    void close();
    bool isConnected() const { return connected_.load(); }
    const nlohmann::json& welcome() const { return welcome_; }

    // Set before connect() or while no events are expected; called on the reader thread.
    void setEventHandler(EventHandler handler);
    void setDisconnectHandler(DisconnectHandler handler);

    // Sends a request (its "id" is assigned here) and blocks until the reply. An "error" reply throws
    // ProtocolError(code, message); a lost connection throws ConnectionClosed; no reply in time throws
    // ProtocolError("timeout").
    Message request(nlohmann::json header, std::chrono::milliseconds timeout = std::chrono::seconds(30));

    // Without an event handler: the next event, or nullopt after the timeout. Throws ConnectionClosed once the
    // connection is gone and no event is left.
    std::optional<Message> waitEvent(std::chrono::milliseconds timeout);

    static constexpr size_t kMaxQueuedEvents = 4096; // waitEvent's queue drops the oldest previews beyond this

private:
    void readLoop();

    int fd_ = -1;
    std::thread reader_;
    std::atomic<bool> connected_{false};
    std::atomic<uint64_t> nextId_{1};
    nlohmann::json welcome_;
    std::mutex writeMutex_; // guards writes on fd_

    std::mutex mutex_;              // guards everything below
    std::condition_variable changed_;
    std::map<uint64_t, std::optional<Message>> pending_; // request id → reply once it arrived
    std::deque<Message> events_;
    EventHandler onEvent_;
    DisconnectHandler onDisconnect_;
    std::string closeReason_;
};

} // namespace ditstudio::protocol
