#include "core/protocol/client.h"

#include <fmt/format.h>

#include <sys/socket.h>
#include <unistd.h>

namespace ditstudio::protocol {

WorkerClient::~WorkerClient() { close(); }

void WorkerClient::setEventHandler(EventHandler handler) {
    std::lock_guard lock(mutex_);
    onEvent_ = std::move(handler);
}

void WorkerClient::setDisconnectHandler(DisconnectHandler handler) {
    std::lock_guard lock(mutex_);
    onDisconnect_ = std::move(handler);
}

void WorkerClient::connect(const Endpoint& endpoint, const std::string& clientName, std::chrono::milliseconds timeout) {
    close();
    fd_ = connectEndpoint(endpoint, timeout);
    try {
        nlohmann::json hello{{"type", "hello"}, {"id", 0}, {"protocol", kProtocolVersion}, {"client", clientName}};
        if (!endpoint.token.empty()) {
            hello["token"] = endpoint.token;
        }
        writeMessage(fd_, Message(hello));
        FrameDecoder decoder;
        std::optional<Message> reply = readMessage(fd_, decoder, timeout);
        if (!reply) {
            throw ProtocolError("timeout", fmt::format("the worker at {} did not answer hello within {} ms",
                                                       endpoint.describe(), timeout.count()));
        }
        validateMessage(*reply, Direction::WorkerToClient);
        if (reply->type() == "error") {
            throw ProtocolError(reply->header["code"].get<std::string>(),
                                fmt::format("the worker at {} refused this client: {}", endpoint.describe(),
                                            reply->header["message"].get<std::string>()));
        }
        if (reply->type() != "welcome") {
            throw ProtocolError("out_of_order", fmt::format("expected welcome, got {}", reply->type()));
        }
        welcome_ = reply->header;
        if (decoder.isMidFrame()) {
            throw ProtocolError("out_of_order", "the worker sent data before welcome was acknowledged");
        }
    } catch (...) {
        ::close(fd_);
        fd_ = -1;
        throw;
    }
    connected_ = true;
    closeReason_.clear();
    reader_ = std::thread([this] { readLoop(); });
}

void WorkerClient::close() {
    if (fd_ >= 0) {
        ::shutdown(fd_, SHUT_RDWR);
    }
    if (reader_.joinable()) {
        reader_.join();
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    connected_ = false;
}

void WorkerClient::readLoop() {
    FrameDecoder decoder;
    std::string reason;
    try {
        for (;;) {
            std::optional<Message> message = readMessage(fd_, decoder, std::chrono::milliseconds(-1));
            if (!message) {
                continue;
            }
            validateMessage(*message, Direction::WorkerToClient);
            auto replyTo = message->header.find("reply_to");
            if (replyTo != message->header.end() && replyTo->is_number_unsigned()) {
                std::lock_guard lock(mutex_);
                auto it = pending_.find(replyTo->get<uint64_t>());
                if (it != pending_.end()) {
                    it->second = std::move(*message);
                    changed_.notify_all();
                }
                continue;
            }
            EventHandler handler;
            {
                std::lock_guard lock(mutex_);
                handler = onEvent_;
                if (!handler) {
                    if (events_.size() >= kMaxQueuedEvents) {
                        auto preview = std::find_if(events_.begin(), events_.end(), [](const Message& m) {
                            return m.type() == "preview" || m.type() == "frames";
                        });
                        events_.erase(preview != events_.end() ? preview : events_.begin());
                    }
                    events_.push_back(std::move(*message));
                    changed_.notify_all();
                    continue;
                }
            }
            handler(*message);
        }
    } catch (const Error& e) {
        reason = e.what();
    }
    DisconnectHandler onDisconnect;
    {
        std::lock_guard lock(mutex_);
        connected_ = false;
        closeReason_ = reason;
        onDisconnect = onDisconnect_;
        changed_.notify_all();
    }
    if (onDisconnect) {
        onDisconnect(reason);
    }
}

Message WorkerClient::request(nlohmann::json header, std::chrono::milliseconds timeout) {
    if (!connected_) {
        throw ConnectionClosed("not connected to a worker" + (closeReason_.empty() ? "" : ": " + closeReason_));
    }
    const uint64_t id = nextId_++;
    header["id"] = id;
    const std::string type = header.value("type", "");
    {
        std::lock_guard lock(mutex_);
        pending_[id] = std::nullopt;
    }
    try {
        std::lock_guard lock(writeMutex_);
        writeMessage(fd_, Message(std::move(header)));
    } catch (...) {
        std::lock_guard lock(mutex_);
        pending_.erase(id);
        throw;
    }
    std::unique_lock lock(mutex_);
    const bool arrived = changed_.wait_for(lock, timeout, [&] { return pending_[id].has_value() || !connected_; });
    std::optional<Message> reply = std::move(pending_[id]);
    pending_.erase(id);
    if (!reply) {
        if (!connected_) {
            throw ConnectionClosed(fmt::format("the worker connection closed before the reply to {}{}", type,
                                               closeReason_.empty() ? "" : ": " + closeReason_));
        }
        (void)arrived;
        throw ProtocolError("timeout", fmt::format("no reply to {} within {} ms", type, timeout.count()));
    }
    if (reply->type() == "error") {
        throw ProtocolError(reply->header["code"].get<std::string>(), reply->header["message"].get<std::string>());
    }
    return std::move(*reply);
}

std::optional<Message> WorkerClient::waitEvent(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return !events_.empty() || !connected_; });
    if (events_.empty()) {
        if (!connected_) {
            throw ConnectionClosed("the worker connection closed" + (closeReason_.empty() ? "" : ": " + closeReason_));
        }
        return std::nullopt;
    }
    Message event = std::move(events_.front());
    events_.pop_front();
    return event;
}

} // namespace ditstudio::protocol
