#include "core/runtime/trace.h"

namespace ditstudio {

namespace {
thread_local TraceSink tlsSink;
}

void trace(const std::string& name, const at::Tensor& value) {
    if (tlsSink) {
        tlsSink(name, value);
    }
}

bool isTracing() { return static_cast<bool>(tlsSink); }

ScopedTrace::ScopedTrace(TraceSink sink) : previous_(std::move(tlsSink)) { tlsSink = std::move(sink); }

ScopedTrace::~ScopedTrace() { tlsSink = std::move(previous_); }

} // namespace ditstudio
