#include "core/export/video_info.h"

#include "core/export/av_check.h"
#include "core/util/error.h"

#include <fmt/format.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
}

#include <cmath>
#include <limits>
#include <memory>

namespace ditstudio {

namespace fs = std::filesystem;

namespace {

struct InputContextDeleter {
    void operator()(AVFormatContext* context) const { avformat_close_input(&context); }
};
struct CodecContextDeleter {
    void operator()(AVCodecContext* context) const { avcodec_free_context(&context); }
};
struct FrameDeleter {
    void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct PacketDeleter {
    void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};
struct DictionaryGuard {
    AVDictionary* dict = nullptr;
    ~DictionaryGuard() { av_dict_free(&dict); }
};

} // namespace

#define DS_AV_READ_CHECK(call, what) DS_AV_CHECK_AS(call, what, ::ditstudio::FormatError)

VideoInfo readVideoInfo(const fs::path& path) {
    detail::routeFfmpegLogsToSpdlog();
    const std::string what = fmt::format("reading {}", path.string());
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        throw FormatError(fmt::format("{}: no such file or folder", path.string()));
    }
    const bool isSequence = fs::is_directory(path, ec);
    std::string url = path.string();
    const AVInputFormat* inputFormat = nullptr;
    DictionaryGuard inputOptions;
    if (isSequence) {
        url = (path / "frame_%05d.png").string();
        inputFormat = av_find_input_format("image2");
        av_dict_set(&inputOptions.dict, "start_number", "0", 0);
    }
    std::unique_ptr<AVFormatContext, InputContextDeleter> input;
    {
        AVFormatContext* raw = nullptr; // freed by avformat_open_input on failure
        DS_AV_READ_CHECK(avformat_open_input(&raw, url.c_str(), inputFormat, &inputOptions.dict), what);
        input.reset(raw);
    }
    DS_AV_READ_CHECK(avformat_find_stream_info(input.get(), nullptr), what);
    const int streamIndex = av_find_best_stream(input.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    DS_AV_READ_CHECK(streamIndex, fmt::format("{} (looking for a video stream)", what));
    AVStream* stream = input->streams[streamIndex];
    const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
    if (codec == nullptr) {
        throw FormatError(fmt::format("{}: this FFmpeg build has no decoder for {}", what,
                                      avcodec_get_name(stream->codecpar->codec_id)));
    }
    std::unique_ptr<AVCodecContext, CodecContextDeleter> decoder(avcodec_alloc_context3(codec));
    if (!decoder) {
        throw FormatError(fmt::format("{}: out of memory", what));
    }
    DS_AV_READ_CHECK(avcodec_parameters_to_context(decoder.get(), stream->codecpar), what);
    DS_AV_READ_CHECK(avcodec_open2(decoder.get(), codec, nullptr), what);

    VideoInfo info;
    info.container = input->iformat->name;
    info.codec = avcodec_get_name(stream->codecpar->codec_id);
    info.width = stream->codecpar->width;
    info.height = stream->codecpar->height;

    std::unique_ptr<AVFrame, FrameDeleter> frame(av_frame_alloc());
    std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
    int64_t firstPts = std::numeric_limits<int64_t>::max(), lastPts = std::numeric_limits<int64_t>::min();
    int64_t lastDuration = 0;
    auto receiveFrames = [&]() {
        while (true) {
            const int rc = avcodec_receive_frame(decoder.get(), frame.get());
            if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
                return;
            }
            if (rc < 0) {
                detail::throwAvError<FormatError>(rc, "avcodec_receive_frame",
                                                  fmt::format("{} (decoding frame {})", what, info.frameCount),
                                                  __FILE__, __LINE__);
            }
            ++info.frameCount;
            if (info.pixelFormat.empty()) {
                const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format));
                info.pixelFormat = name != nullptr ? name : "?";
            }
            const int64_t pts = frame->best_effort_timestamp;
            if (pts != AV_NOPTS_VALUE) {
                firstPts = std::min(firstPts, pts);
                if (pts >= lastPts) {
                    lastPts = pts;
                    lastDuration = frame->pkt_duration;
                }
            }
            av_frame_unref(frame.get());
        }
    };
    while (true) {
        const int rc = av_read_frame(input.get(), packet.get());
        if (rc == AVERROR_EOF) {
            break;
        }
        if (rc < 0) {
            detail::throwAvError<FormatError>(rc, "av_read_frame", what, __FILE__, __LINE__);
        }
        if (packet->stream_index == streamIndex) {
            const int sent = avcodec_send_packet(decoder.get(), packet.get());
            av_packet_unref(packet.get());
            if (sent < 0) {
                detail::throwAvError<FormatError>(sent, "avcodec_send_packet", fmt::format("{} (decoding)", what),
                                                  __FILE__, __LINE__);
            }
            receiveFrames();
        } else {
            av_packet_unref(packet.get());
        }
    }
    DS_AV_READ_CHECK(avcodec_send_packet(decoder.get(), nullptr), what);
    receiveFrames();

    const double timeBase = av_q2d(stream->time_base);
    // The timestamps give the rate; when a whole or NTSC (n·1000/1001) rate lies within their rounding (WebM
    // stores milliseconds: 24 fps reads back as 23.99), that rate is reported.
    if (info.frameCount > 1 && lastPts > firstPts) {
        const double span = double(lastPts - firstPts) * timeBase;
        info.fps = double(info.frameCount - 1) / span;
        const double tolerance = 1.5 * info.fps * timeBase / span;
        for (const double candidate : {std::round(info.fps), std::round(info.fps * 1.001) / 1.001}) {
            if (candidate > 0 && std::abs(info.fps - candidate) <= tolerance) {
                info.fps = candidate;
                break;
            }
        }
        info.durationSeconds = double(lastPts - firstPts + std::max<int64_t>(lastDuration, 0)) * timeBase;
    } else if (stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0) {
        info.fps = av_q2d(stream->avg_frame_rate);
    }
    if (isSequence) {
        info.fps = 0; // image2 invents 25 fps; a PNG sequence stores no rate
        info.durationSeconds = 0;
    }
    return info;
}

std::string describe(const VideoInfo& info) {
    if (info.fps > 0) {
        return fmt::format("{} {} {}x{}, {} frames, {:.3g} fps, {:.3f} s ({})", info.codec, info.pixelFormat,
                           info.width, info.height, info.frameCount, info.fps, info.durationSeconds, info.container);
    }
    return fmt::format("{} {} {}x{}, {} frames ({})", info.codec, info.pixelFormat, info.width, info.height,
                       info.frameCount, info.container);
}

} // namespace ditstudio
