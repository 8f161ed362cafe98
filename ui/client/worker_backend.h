// The seam between the studio and the worker: a blocking request/reply channel plus an event stream. The real
// implementation (SocketBackend) is the worker client library of core/protocol; the tests put a small double
// behind it. WorkerClient (worker_client.h) is the only user: it calls connect() and request() on its own request
// thread, never on the GUI thread.
//
// Thread contract: connect(), close() and request() are called from one thread (WorkerClient's request thread) and
// may block; the handlers are called on a thread of the backend's choosing and must only post elsewhere.
#pragma once
#include "core/protocol/messages.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace ditstudio::ui {

class WorkerBackend {
public:
    using EventHandler = std::function<void(const protocol::Message& event)>;
    using DisconnectHandler = std::function<void(const std::string& reason)>;
    using NoteHandler = std::function<void(const std::string& note)>;

    virtual ~WorkerBackend() = default;

    // Blocks until connected and greeted. `onNote` reports what is going on ("starting ditstudio-worker ...").
    // Throws ditstudio::Error with a message a user can act on.
    virtual void connect(const std::string& clientName, const NoteHandler& onNote) = 0;
    virtual void close() = 0;
    virtual bool isConnected() const = 0;
    // Blocks until the reply; an "error" reply throws protocol::ProtocolError(code, message).
    virtual protocol::Message request(const nlohmann::json& header) = 0;

    // Set before connect().
    virtual void setEventHandler(EventHandler handler) = 0;
    virtual void setDisconnectHandler(DisconnectHandler handler) = 0;
};

} // namespace ditstudio::ui
