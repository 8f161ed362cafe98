// DS_AV_CHECK: every FFmpeg call that returns an AVERROR code goes through it. A negative code throws
// ExportError "<what>: <FFmpeg's own error text> (<call> at file:line)", so the caller can clean up and report
// (c10d's C10D_NCCL_CHECK, flash-attention's CHECK_CUDA). Include only from .cpp files that use libav*.
#pragma once
#include "core/util/error.h"

extern "C" {
#include <libavutil/error.h>
}

#include <fmt/format.h>

#include <string>

namespace ditstudio::detail {

// Sends FFmpeg's own log lines through spdlog (info and below → debug, warnings → warn, errors → error) instead
// of stderr. Installed once per process; idempotent and thread-safe.
void routeFfmpegLogsToSpdlog();

inline std::string avErrorText(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    if (av_strerror(code, text, sizeof text) < 0) {
        return fmt::format("FFmpeg error {}", code);
    }
    return text;
}

template <typename ErrorType>
[[noreturn]] void throwAvError(int code, const char* call, const std::string& what, const char* file, int line) {
    std::string base = file;
    if (auto slash = base.find_last_of('/'); slash != std::string::npos) {
        base = base.substr(slash + 1);
    }
    throw ErrorType(fmt::format("{}: {} ({} at {}:{})", what, avErrorText(code), call, base, line));
}

} // namespace ditstudio::detail

// Readers pass the error type: DS_AV_CHECK_AS(call, what, ::ditstudio::FormatError).
#define DS_AV_CHECK_AS(call, what, ErrorType)                                                                      \
    do {                                                                                                           \
        const int dsAvCode_ = (call);                                                                              \
        if (dsAvCode_ < 0) {                                                                                       \
            ::ditstudio::detail::throwAvError<ErrorType>(dsAvCode_, #call, (what), __FILE__, __LINE__);            \
        }                                                                                                          \
    } while (0)
#define DS_AV_CHECK(call, what) DS_AV_CHECK_AS(call, what, ::ditstudio::ExportError)
