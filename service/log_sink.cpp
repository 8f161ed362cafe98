#include "service/log_sink.h"

#include "service/job_runner.h"

#include <chrono>

namespace ditstudio::service {

void ClientLogSink::attach(Target target) {
    std::lock_guard lock(mutex_);
    target_ = std::move(target);
}

void ClientLogSink::sink_it_(const spdlog::details::log_msg& msg) {
    if (!target_) {
        return;
    }
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json event{{"type", "log"},
                         {"level", std::string(level.data(), level.size())},
                         {"message", std::string(msg.payload.data(), msg.payload.size())},
                         {"time", std::chrono::duration<double>(msg.time.time_since_epoch()).count()}};
    const int64_t job = currentLogJob();
    if (job > 0) {
        event["job"] = job;
    }
    target_(job, protocol::Message(std::move(event)));
}

} // namespace ditstudio::service
