// Progress of a long operation on a terminal: a redrawn bar with step i/N, it/s and ETA when stderr is a terminal,
// plain lines (one per step) otherwise, so logs and CI output stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ditstudio {

class ProgressBar {
public:
    explicit ProgressBar(std::string label, int64_t total, bool forcePlain = false);
    ~ProgressBar();
    void update(int64_t done, const std::string& detail = {});
    void finish(const std::string& detail = {});

private:
    std::string label_;
    int64_t total_;
    bool tty_;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_;
};

} // namespace ditstudio
