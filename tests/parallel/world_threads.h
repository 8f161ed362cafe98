// A world of N ranks inside one test process: one thread per rank, each with its own CpuCommunicator over a shared
// in-process c10d::HashStore (no network store needed; the transport still runs over real loopback sockets).
#pragma once
#include "parallel/cpu_communicator.h"

#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ditstudio::parallel::testing {

// Runs body(comm) on `world` threads; returns the first exception message of any rank ("" when none).
inline std::string runWorld(int world, const std::function<void(Communicator&)>& body,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto store = c10::make_intrusive<c10d::HashStore>();
    std::mutex mutex;
    std::string firstError;
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
        threads.emplace_back([&, r] {
            try {
                CpuTransportOptions options;
                options.timeout = timeout;
                CpuCommunicator comm(store, r, world, "world", options);
                body(comm);
            } catch (const std::exception& e) {
                std::lock_guard lock(mutex);
                if (firstError.empty()) {
                    firstError = "rank " + std::to_string(r) + ": " + e.what();
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    return firstError;
}

} // namespace ditstudio::parallel::testing
