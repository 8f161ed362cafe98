#include "kernels/bench_timing.h"

#include <algorithm>
#include <chrono>

#if DITSTUDIO_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace ditstudio::kernels {

void synchronizeDevice(at::Device device) {
#if DITSTUDIO_HAVE_CUDA
    if (device.is_cuda()) {
        at::cuda::getCurrentCUDAStream(device.index()).synchronize();
    }
#endif
    (void)device;
}

double nowSeconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

RepeatedTiming timeRepeated(at::Device device, int warmup, int iterations, const std::function<void()>& call) {
    RepeatedTiming t;
    double t1 = nowSeconds();
    call();
    synchronizeDevice(device);
    t.firstCallSeconds = nowSeconds() - t1;
    for (int i = 0; i < warmup; ++i) {
        call();
    }
    synchronizeDevice(device);
    for (int i = 0; i < iterations; ++i) {
#if DITSTUDIO_HAVE_CUDA
        if (device.is_cuda()) {
            at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
            start.record();
            call();
            stop.record();
            stop.synchronize();
            t.seconds.push_back(start.elapsed_time(stop) / 1e3);
            continue;
        }
#endif
        t1 = nowSeconds();
        call();
        t.seconds.push_back(nowSeconds() - t1);
    }
    t.median = medianOf(t.seconds);
    return t;
}

double medianOf(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values.empty() ? 0 : values[values.size() / 2];
}

std::optional<double> peakMemoryGiB(at::Device device) {
#if DITSTUDIO_HAVE_CUDA
    if (device.is_cuda()) {
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
        return double(stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak) /
               double(1ull << 30);
    }
#endif
    (void)device;
    return std::nullopt;
}

std::string deviceName(at::Device device) {
#if DITSTUDIO_HAVE_CUDA
    if (device.is_cuda()) {
        return at::cuda::getDeviceProperties(device.index())->name;
    }
#endif
    return device.str();
}

} // namespace ditstudio::kernels
