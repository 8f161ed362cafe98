#include "core/export/av_check.h"

#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/log.h>
}

#include <cstdarg>
#include <mutex>

namespace ditstudio::detail {

namespace {

void forwardLine(void* object, int level, const char* format, va_list args) {
    if (level > av_log_get_level()) {
        return;
    }
    const auto spdLevel = level <= AV_LOG_ERROR     ? spdlog::level::err
                          : level <= AV_LOG_WARNING ? spdlog::level::warn
                          : level <= AV_LOG_VERBOSE ? spdlog::level::debug
                                                    : spdlog::level::trace;
    if (!spdlog::should_log(spdLevel)) {
        return;
    }
    char line[1024];
    int printPrefix = 1;
    av_log_format_line2(object, level, format, args, line, sizeof line, &printPrefix);
    std::string text = line;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    if (!text.empty()) {
        spdlog::log(spdLevel, "ffmpeg: {}", text);
    }
}

} // namespace

void routeFfmpegLogsToSpdlog() {
    static std::once_flag once;
    std::call_once(once, [] { av_log_set_callback(forwardLine); });
}

} // namespace ditstudio::detail
