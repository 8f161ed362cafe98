#include "core/util/fault_points.h"

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>

namespace ditstudio {

static bool isFaultPoint(const char* variable, std::string_view point) {
    const char* value = std::getenv(variable);
    return value != nullptr && point == value;
}

void pauseAtFaultPoint(std::string_view point) {
    if (!isFaultPoint(kFaultPauseAtEnv, point)) {
        return;
    }
    spdlog::warn("fault point: paused at {} ({}={}), pid {}; waiting to be killed", point, kFaultPauseAtEnv, point,
                 static_cast<long>(::getpid()));
    spdlog::default_logger()->flush();
    for (;;) {
        std::this_thread::sleep_for(std::chrono::hours(1));
    }
}

void outOfMemoryAtFaultPoint(std::string_view point, std::string_view device, int64_t frames) {
    const char* value = std::getenv(kFaultOomAtEnv);
    if (value == nullptr) {
        return;
    }
    const std::string_view spec(value);
    const size_t colon = spec.find(':');
    if (spec.substr(0, colon) != point) {
        return;
    }
    if (colon != std::string_view::npos && frames < std::atoll(std::string(spec.substr(colon + 1)).c_str())) {
        return;
    }
    // What c10::cuda::CUDACachingAllocator throws, with the same type and the same first sentence.
    TORCH_CHECK_WITH(OutOfMemoryError, false,
                     "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
                     "1.06 GiB is free. (Injected on ",
                     device, " by ", kFaultOomAtEnv, "=", std::getenv(kFaultOomAtEnv), ".)");
}

} // namespace ditstudio
