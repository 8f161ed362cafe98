// An spdlog sink that turns log lines into protocol "log" events for subscribed clients (the GUI's log view).
// Lines written on the job runner's thread carry that job's id.
//
// Thread contract: spdlog calls sink_it_ from any thread under the sink's mutex; attach() may be called from any
// thread. The target only queues (WorkerServer::publish), so logging never blocks on a client.
#pragma once
#include "core/protocol/framing.h"

#include <spdlog/sinks/base_sink.h>

#include <functional>
#include <mutex>

namespace ditstudio::service {

class ClientLogSink : public spdlog::sinks::base_sink<std::mutex> {
public:
    using Target = std::function<void(int64_t job, protocol::Message event)>;
    void attach(Target target);

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}

private:
    Target target_; // guarded by the base_sink's mutex_
};

} // namespace ditstudio::service
