#include "core/util/progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ditstudio {

ProgressBar::ProgressBar(std::string label, int64_t total, bool forcePlain)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), tty_(!forcePlain && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
    if (tty_ && !finished_) {
        std::fputs("\n", stderr);
    }
}

void ProgressBar::update(int64_t done, const std::string& detail) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = done > 0 ? done / std::max(secs, 1e-9) : 0.0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    const std::string stats = fmt::format("{}/{} {:.2f} it/s ETA {:.1f}s{}{}", done, total_, rate, eta,
                                          detail.empty() ? "" : " ", detail);
    if (tty_) {
        constexpr int kWidth = 30;
        const int filled = static_cast<int>(kWidth * std::min<int64_t>(done, total_) / total_);
        std::fprintf(stderr, "\r%s [%s%s] %s\033[K", label_.c_str(), std::string(filled, '#').c_str(),
                     std::string(kWidth - filled, '.').c_str(), stats.c_str());
    } else {
        std::fprintf(stderr, "%s %s\n", label_.c_str(), stats.c_str());
    }
    std::fflush(stderr);
}

void ProgressBar::finish(const std::string& detail) {
    update(total_, detail);
    if (tty_) {
        std::fputs("\n", stderr);
    }
    finished_ = true;
}

} // namespace ditstudio
