// What the benches share: a first call timed on the host clock (compile, capture and autotune included), then
// warm-up calls and N timed calls (CUDA events on a GPU, the host clock on a CPU), their median, and the peak
// memory of LibTorch's caching allocator (as torch.cuda.max_memory_allocated, weights included).
#pragma once
#include <c10/core/Device.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ditstudio::kernels {

struct RepeatedTiming {
    double firstCallSeconds = 0;
    std::vector<double> seconds; // the timed calls, in order
    double median = 0;
};

// The median the benches report: the upper middle value of an even count; 0 for none.
double medianOf(std::vector<double> values);

RepeatedTiming timeRepeated(at::Device device, int warmup, int iterations, const std::function<void()>& call);
std::optional<double> peakMemoryGiB(at::Device device); // nullopt on a CPU
std::string deviceName(at::Device device);              // the GPU's name, else "cpu"
void synchronizeDevice(at::Device device);
double nowSeconds();

} // namespace ditstudio::kernels
