// A small worker double for the studio's tests: answers requests like ditstudio-worker does (docs/protocol.md) and
// emits events from its own thread, as the real client's reader thread does. Records every request.
#pragma once
#include "core/protocol/endpoint.h"
#include "ui/client/worker_backend.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace ditstudio::ui::testing {

class FakeWorkerBackend final : public WorkerBackend {
public:
    using Replier = std::function<std::optional<protocol::Message>(const nlohmann::json& request)>;

    // A custom reply for a request type (return nullopt to fall back to the default).
    Replier replier;
    bool isRefusingConnect = false;
    nlohmann::json gpus = nlohmann::json::array();

    void connect(const std::string& clientName, const NoteHandler& onNote) override {
        if (isRefusingConnect) {
            throw protocol::ConnectionError("no worker is listening on unix:/tmp/test.sock (No such file or directory)");
        }
        if (onNote) {
            onNote("connecting as " + clientName);
        }
        connected_ = true;
    }
    void close() override { connected_ = false; }
    bool isConnected() const override { return connected_; }

    protocol::Message request(const nlohmann::json& header) override {
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(header);
        }
        const uint64_t id = nextRequestId_++;
        if (replier) {
            if (auto reply = replier(header)) {
                if (reply->type() == "error") {
                    throw protocol::ProtocolError(reply->header["code"], reply->header["message"]);
                }
                return *reply;
            }
        }
        const std::string type = header.value("type", "");
        if (type == "submit") {
            return protocol::Message(nlohmann::json{{"type", "submitted"}, {"reply_to", id}, {"job", nextJob_++}, {"position", 0}});
        }
        if (type == "get_status") {
            return protocol::Message(nlohmann::json{{"type", "status"}, {"reply_to", id}, {"worker", "0.1.0-test"}, {"protocol", 1},
                                      {"pid", 4242}, {"uptime_s", 1.5}, {"paused", false}, {"queue_length", 0},
                                      {"group", {{"state", "none"}}}, {"gpus", gpus},
                                      {"log_file", "/tmp/worker.log"}, {"database", "/tmp/worker.sqlite3"}});
        }
        if (type == "list_queue") {
            return protocol::Message(nlohmann::json{{"type", "queue"}, {"reply_to", id}, {"paused", false}, {"jobs", nlohmann::json::array()}});
        }
        if (type == "query_history") {
            std::lock_guard lock(mutex_);
            return protocol::Message(nlohmann::json{{"type", "history"}, {"reply_to", id}, {"entries", history_}});
        }
        return protocol::Message(nlohmann::json{{"type", "ok"}, {"reply_to", id}});
    }

    void setEventHandler(EventHandler handler) override { onEvent_ = std::move(handler); }
    void setDisconnectHandler(DisconnectHandler handler) override { onDisconnect_ = std::move(handler); }

    // Delivers an event the way the real client does: on another thread than the caller's.
    // A "finished" event also enters the double's history (as the worker's database does), with the settings of
    // the job's submit request.
    void emitEvent(nlohmann::json header, std::string payload = {}) {
        if (header.value("type", "") == "finished") {
            recordHistory(header);
        }
        protocol::Message event(std::move(header), std::move(payload));
        std::thread([this, &event] { onEvent_(event); }).join();
    }
    void dropConnection(const std::string& reason) {
        connected_ = false;
        std::thread([this, reason] { onDisconnect_(reason); }).join();
    }

    std::vector<nlohmann::json> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::vector<nlohmann::json> requestsOfType(const std::string& type) const {
        std::vector<nlohmann::json> matching;
        for (const auto& r : requests()) {
            if (r.value("type", "") == type) {
                matching.push_back(r);
            }
        }
        return matching;
    }

private:
    void recordHistory(const nlohmann::json& finished) {
        const uint64_t job = finished["job"].get<uint64_t>();
        nlohmann::json settings = nlohmann::json::object();
        uint64_t submitted = 0;
        for (const auto& request : requestsOfType("submit")) {
            if (++submitted == job) {
                settings = request["settings"];
            }
        }
        settings["seed"] = finished["seed"];
        std::lock_guard lock(mutex_);
        history_.insert(history_.begin(),
                        nlohmann::json{{"id", history_.size() + 1}, {"job", job}, {"created_at", 1764258101.0 + job},
                                       {"prompt", settings.value("prompt", "")}, {"seed", finished["seed"]},
                                       {"settings", settings}, {"timings", finished["timings"]},
                                       {"outputs", finished["outputs"]}});
    }

    nlohmann::json history_ = nlohmann::json::array(); // guarded by mutex_
    std::atomic<bool> connected_{false};
    std::atomic<uint64_t> nextRequestId_{1};
    std::atomic<uint64_t> nextJob_{1};
    mutable std::mutex mutex_;
    std::vector<nlohmann::json> requests_;
    EventHandler onEvent_;
    DisconnectHandler onDisconnect_;
};

// An rgb8 payload of `frames` images, each filled with (r + frame, g, b).
inline std::string rgbPayload(int frames, int height, int width, uint8_t r, uint8_t g, uint8_t b) {
    std::string payload;
    payload.reserve(static_cast<size_t>(frames * height * width * 3));
    for (int f = 0; f < frames; ++f) {
        for (int i = 0; i < height * width; ++i) {
            payload.push_back(static_cast<char>(r + f));
            payload.push_back(static_cast<char>(g));
            payload.push_back(static_cast<char>(b));
        }
    }
    return payload;
}

} // namespace ditstudio::ui::testing
