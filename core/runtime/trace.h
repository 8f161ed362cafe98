// Named intermediates ("block.3.out") for layer-by-layer comparison against golden vectors. A model calls
// `trace(name, x)`; it costs one branch unless a sink is installed for the current thread.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

namespace ditstudio {

using TraceSink = std::function<void(const std::string& name, const at::Tensor& value)>;

void trace(const std::string& name, const at::Tensor& value);
bool isTracing();

// Installs a sink for the current thread for the lifetime of this object.
class ScopedTrace {
public:
    explicit ScopedTrace(TraceSink sink);
    ~ScopedTrace();
    ScopedTrace(const ScopedTrace&) = delete;
    ScopedTrace& operator=(const ScopedTrace&) = delete;

private:
    TraceSink previous_;
};

} // namespace ditstudio
