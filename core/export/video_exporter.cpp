#include "core/export/video_exporter.h"

#include "core/util/atomic_output.h"
#include "core/export/av_check.h"
#include "core/export/gif_palette.h"
#include "core/util/error.h"
#include "core/util/fault_points.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace ditstudio {

namespace fs = std::filesystem;

namespace {

struct FormatPlan {
    const char* muxer;       // libavformat's short name
    const char* encoder;     // libavcodec's encoder name
    AVPixelFormat pixelFormat;
};

FormatPlan planFor(ExportFormat format) {
    switch (format) {
    case ExportFormat::Mp4:
        return {"mp4", "libx264", AV_PIX_FMT_YUV420P};
    case ExportFormat::WebM:
        return {"webm", "libvpx-vp9", AV_PIX_FMT_YUV420P};
    case ExportFormat::Gif:
        return {"gif", "gif", AV_PIX_FMT_PAL8};
    case ExportFormat::PngSequence:
        return {"image2", "png", AV_PIX_FMT_RGB24};
    }
    throw ConfigError("unknown export format");
}

struct OutputContextDeleter {
    void operator()(AVFormatContext* context) const {
        if (context == nullptr) {
            return;
        }
        if (context->pb != nullptr && (context->oformat->flags & AVFMT_NOFILE) == 0) {
            avio_closep(&context->pb);
        }
        avformat_free_context(context);
    }
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
struct SwsDeleter {
    void operator()(SwsContext* context) const { sws_freeContext(context); }
};
struct DictionaryGuard {
    AVDictionary* dict = nullptr;
    ~DictionaryGuard() { av_dict_free(&dict); }
};

// One frame of the clip, padded to the encoded size by repeating the last column and row.
class FrameSource {
public:
    FrameSource(const uint8_t* data, int64_t height, int64_t width, int64_t encodedHeight, int64_t encodedWidth)
        : data_(data), height_(height), width_(width), encodedHeight_(encodedHeight), encodedWidth_(encodedWidth) {
        if (isPadded()) {
            padded_.resize(size_t(encodedHeight_ * encodedWidth_ * 3));
        }
    }
    bool isPadded() const { return height_ != encodedHeight_ || width_ != encodedWidth_; }
    // RGB24 rows of frame t at the encoded size, stride encodedWidth·3.
    const uint8_t* rgb(int64_t t) {
        const uint8_t* frame = data_ + t * height_ * width_ * 3;
        if (!isPadded()) {
            return frame;
        }
        for (int64_t y = 0; y < encodedHeight_; ++y) {
            const uint8_t* src = frame + std::min(y, height_ - 1) * width_ * 3;
            uint8_t* dst = padded_.data() + y * encodedWidth_ * 3;
            std::memcpy(dst, src, size_t(width_ * 3));
            for (int64_t x = width_; x < encodedWidth_; ++x) {
                std::memcpy(dst + x * 3, src + (width_ - 1) * 3, 3);
            }
        }
        return padded_.data();
    }

private:
    const uint8_t* data_;
    int64_t height_, width_, encodedHeight_, encodedWidth_;
    std::vector<uint8_t> padded_;
};

int crfFor(ExportFormat format, int quality) {
    // quality 100 → CRF 10 (visually lossless), 80 → ~18 (x264) / ~21 (VP9), 1 → near the worst.
    if (format == ExportFormat::Mp4) {
        return static_cast<int>(std::lround(51.0 - 0.41 * quality));
    }
    return static_cast<int>(std::lround(63.0 - 0.53 * quality));
}

uint64_t sizeOnDisk(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        uint64_t total = 0;
        for (const auto& entry : fs::directory_iterator(path, ec)) {
            total += entry.file_size(ec);
        }
        return total;
    }
    const auto size = fs::file_size(path, ec);
    return ec ? 0 : size;
}

} // namespace

std::string defaultExtension(ExportFormat format) {
    switch (format) {
    case ExportFormat::Mp4:
        return ".mp4";
    case ExportFormat::WebM:
        return ".webm";
    case ExportFormat::Gif:
        return ".gif";
    case ExportFormat::PngSequence:
        return "";
    }
    return "";
}

std::string formatName(ExportFormat format) {
    switch (format) {
    case ExportFormat::Mp4:
        return "mp4";
    case ExportFormat::WebM:
        return "webm";
    case ExportFormat::Gif:
        return "gif";
    case ExportFormat::PngSequence:
        return "png";
    }
    return "?";
}

bool hasEncoderFor(ExportFormat format) { return avcodec_find_encoder_by_name(planFor(format).encoder) != nullptr; }

VideoExportResult exportVideo(const at::Tensor& framesIn, const fs::path& output, const VideoExportOptions& options) {
    const auto started = std::chrono::steady_clock::now();
    detail::routeFfmpegLogsToSpdlog();
    if (!framesIn.defined() || framesIn.dim() != 4 || framesIn.size(3) != 3 || framesIn.scalar_type() != at::kByte) {
        throw ConfigError(fmt::format("{}: frames must be uint8 [T, H, W, 3], got {} {}", output.string(),
                                      framesIn.defined() ? c10::toString(framesIn.scalar_type()) : "undefined",
                                      framesIn.defined() ? c10::str(framesIn.sizes()) : "[]"));
    }
    if (framesIn.size(0) < 1 || framesIn.size(1) < 1 || framesIn.size(2) < 1) {
        throw ConfigError(fmt::format("{}: no frames to export (shape {})", output.string(), c10::str(framesIn.sizes())));
    }
    if (!(options.fps > 0 && options.fps <= 1000)) {
        throw ConfigError(fmt::format("export fps must be in (0, 1000], got {}", options.fps));
    }
    if (options.quality < 1 || options.quality > 100) {
        throw ConfigError(fmt::format("export.quality must be 1..100, got {}", options.quality));
    }
    const at::Tensor frames = framesIn.to(at::kCPU).contiguous(); // [T, H, W, 3] uint8
    const int64_t numFrames = frames.size(0), height = frames.size(1), width = frames.size(2);
    const FormatPlan plan = planFor(options.format);
    const std::string what = fmt::format("writing {}", output.string());

    const AVCodec* codec = avcodec_find_encoder_by_name(plan.encoder);
    if (codec == nullptr) {
        throw ExportError(fmt::format("{}: {} export needs the {} encoder, which this FFmpeg build ({}, {}) does not "
                                      "have; choose another format",
                                      output.string(), formatName(options.format), plan.encoder, av_version_info(),
                                      LIBAVCODEC_IDENT));
    }
    checkExportTarget(output, options.format);

    int64_t encodedHeight = height, encodedWidth = width;
    if (plan.pixelFormat == AV_PIX_FMT_YUV420P && (height % 2 != 0 || width % 2 != 0)) {
        encodedHeight += height % 2;
        encodedWidth += width % 2;
        spdlog::info("{}: padding {}x{} frames to {}x{} (yuv420p needs even sizes) by repeating the edge", output.string(),
                     width, height, encodedWidth, encodedHeight);
    }

    AtomicOutput atomic(output);
    std::string target = atomic.temporary().string();
    if (options.format == ExportFormat::PngSequence) {
        std::error_code ec;
        if (!fs::create_directory(atomic.temporary(), ec)) {
            throw ExportError(fmt::format("{}: cannot create the folder: {}", output.string(), ec.message()));
        }
        target = (atomic.temporary() / "frame_%05d.png").string();
    }

    std::unique_ptr<AVFormatContext, OutputContextDeleter> container;
    {
        AVFormatContext* raw = nullptr;
        DS_AV_CHECK(avformat_alloc_output_context2(&raw, nullptr, plan.muxer, target.c_str()), what);
        container.reset(raw);
    }
    AVStream* stream = avformat_new_stream(container.get(), nullptr);
    if (stream == nullptr) {
        throw ExportError(fmt::format("{}: could not add a video stream", what));
    }
    std::unique_ptr<AVCodecContext, CodecContextDeleter> encoder(avcodec_alloc_context3(codec));
    if (!encoder) {
        throw ExportError(fmt::format("{}: out of memory for the {} encoder", what, plan.encoder));
    }
    const AVRational frameRate = av_d2q(options.fps, 100000);
    encoder->width = static_cast<int>(encodedWidth);
    encoder->height = static_cast<int>(encodedHeight);
    encoder->pix_fmt = plan.pixelFormat;
    encoder->time_base = av_inv_q(frameRate);
    encoder->framerate = frameRate;
    encoder->sample_aspect_ratio = AVRational{1, 1};
    if (plan.pixelFormat == AV_PIX_FMT_YUV420P) {
        encoder->color_range = AVCOL_RANGE_MPEG;
        encoder->colorspace = AVCOL_SPC_BT709;
        encoder->color_primaries = AVCOL_PRI_BT709;
        encoder->color_trc = AVCOL_TRC_BT709;
    }
    if (container->oformat->flags & AVFMT_GLOBALHEADER) {
        encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    }
    DictionaryGuard codecOptions;
    if (options.format == ExportFormat::Mp4) {
        av_dict_set(&codecOptions.dict, "preset", "medium", 0);
        av_dict_set_int(&codecOptions.dict, "crf", crfFor(options.format, options.quality), 0);
    } else if (options.format == ExportFormat::WebM) {
        encoder->bit_rate = 0; // constant quality
        av_dict_set_int(&codecOptions.dict, "crf", crfFor(options.format, options.quality), 0);
        av_dict_set(&codecOptions.dict, "deadline", "good", 0);
        av_dict_set(&codecOptions.dict, "cpu-used", "4", 0);
        av_dict_set(&codecOptions.dict, "row-mt", "1", 0);
    }
    DS_AV_CHECK(avcodec_open2(encoder.get(), codec, &codecOptions.dict), fmt::format("{} ({})", what, plan.encoder));
    DS_AV_CHECK(avcodec_parameters_from_context(stream->codecpar, encoder.get()), what);
    stream->time_base = encoder->time_base;
    stream->avg_frame_rate = frameRate;

    if ((container->oformat->flags & AVFMT_NOFILE) == 0) {
        DS_AV_CHECK(avio_open(&container->pb, target.c_str(), AVIO_FLAG_WRITE), what);
    }
    DictionaryGuard muxerOptions;
    if (options.format == ExportFormat::Mp4) {
        av_dict_set(&muxerOptions.dict, "movflags", "+faststart", 0);
    } else if (options.format == ExportFormat::PngSequence) {
        av_dict_set(&muxerOptions.dict, "start_number", "0", 0);
    }
    DS_AV_CHECK(avformat_write_header(container.get(), &muxerOptions.dict), what);

    std::unique_ptr<AVFrame, FrameDeleter> frame(av_frame_alloc());
    std::unique_ptr<AVPacket, PacketDeleter> packet(av_packet_alloc());
    if (!frame || !packet) {
        throw ExportError(fmt::format("{}: out of memory", what));
    }
    frame->format = plan.pixelFormat;
    frame->width = encoder->width;
    frame->height = encoder->height;
    DS_AV_CHECK(av_frame_get_buffer(frame.get(), 0), what);

    std::unique_ptr<SwsContext, SwsDeleter> converter;
    if (plan.pixelFormat == AV_PIX_FMT_YUV420P) {
        converter.reset(sws_getContext(encoder->width, encoder->height, AV_PIX_FMT_RGB24, encoder->width,
                                       encoder->height, AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr,
                                       nullptr, nullptr));
        if (!converter) {
            throw ExportError(fmt::format("{}: swscale cannot convert RGB24 to yuv420p at {}x{}", what,
                                          encoder->width, encoder->height));
        }
        // Full-range RGB in, limited-range BT.709 YUV out (what the stream is tagged with).
        sws_setColorspaceDetails(converter.get(), sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16);
    }
    std::optional<GifPalette> palette;
    if (options.format == ExportFormat::Gif) {
        const int colors = std::clamp(2 + (options.quality - 1) * 254 / 99, 2, 256);
        palette = GifPalette::medianCut(frames.data_ptr<uint8_t>(), size_t(numFrames * height * width), colors);
        spdlog::debug("{}: GIF palette of {} colours", output.string(), palette->colors().size());
    }

    auto writePackets = [&]() {
        while (true) {
            const int rc = avcodec_receive_packet(encoder.get(), packet.get());
            if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
                return;
            }
            if (rc < 0) {
                detail::throwAvError<ExportError>(rc, "avcodec_receive_packet",
                                                  fmt::format("{} ({})", what, plan.encoder), __FILE__, __LINE__);
            }
            if (packet->duration <= 0) {
                packet->duration = 1; // one frame in the encoder's time base
            }
            av_packet_rescale_ts(packet.get(), encoder->time_base, stream->time_base);
            packet->stream_index = stream->index;
            DS_AV_CHECK(av_interleaved_write_frame(container.get(), packet.get()), what);
            if (container->pb != nullptr && container->pb->error < 0) {
                detail::throwAvError<ExportError>(container->pb->error, "avio write", what, __FILE__, __LINE__);
            }
        }
    };

    FrameSource source(frames.data_ptr<uint8_t>(), height, width, encodedHeight, encodedWidth);
    for (int64_t t = 0; t < numFrames; ++t) {
        DS_AV_CHECK(av_frame_make_writable(frame.get()), what);
        const uint8_t* rgb = source.rgb(t); // [encodedHeight, encodedWidth, 3]
        const int rgbStride = static_cast<int>(encodedWidth * 3);
        if (converter) {
            const uint8_t* planes[1] = {rgb};
            const int strides[1] = {rgbStride};
            sws_scale(converter.get(), planes, strides, 0, encoder->height, frame->data, frame->linesize);
        } else if (palette) {
            for (int64_t y = 0; y < encodedHeight; ++y) {
                const uint8_t* src = rgb + y * rgbStride;
                uint8_t* dst = frame->data[0] + y * frame->linesize[0];
                for (int64_t x = 0; x < encodedWidth; ++x) {
                    dst[x] = palette->indexOf(src[3 * x], src[3 * x + 1], src[3 * x + 2]);
                }
            }
            palette->toPal8(reinterpret_cast<uint32_t*>(frame->data[1]));
        } else {
            for (int64_t y = 0; y < encodedHeight; ++y) {
                std::memcpy(frame->data[0] + y * frame->linesize[0], rgb + y * rgbStride, size_t(rgbStride));
            }
        }
        frame->pts = t;
        DS_AV_CHECK(avcodec_send_frame(encoder.get(), frame.get()), fmt::format("{} ({})", what, plan.encoder));
        writePackets();
        if (t == 0) {
            pauseAtFaultPoint("export"); // tests: a kill here lands mid-export, the temporary on disk
        }
    }
    DS_AV_CHECK(avcodec_send_frame(encoder.get(), nullptr), fmt::format("{} ({})", what, plan.encoder));
    writePackets();
    DS_AV_CHECK(av_write_trailer(container.get()), what);
    if (container->pb != nullptr && (container->oformat->flags & AVFMT_NOFILE) == 0) {
        avio_flush(container->pb);
        if (container->pb->error < 0) {
            detail::throwAvError<ExportError>(container->pb->error, "avio_flush", what, __FILE__, __LINE__);
        }
        DS_AV_CHECK(avio_closep(&container->pb), what);
    }
    container.reset();
    atomic.commit();

    VideoExportResult result;
    result.path = output;
    result.frameCount = numFrames;
    result.width = encodedWidth;
    result.height = encodedHeight;
    result.codec = plan.encoder;
    result.bytesWritten = sizeOnDisk(output);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("wrote {} ({} frames {}x{} {} at {} fps, quality {}, {} bytes, {:.2f} s)", output.string(), numFrames,
                 encodedWidth, encodedHeight, plan.encoder, options.fps, options.quality, result.bytesWritten,
                 result.seconds);
    return result;
}

} // namespace ditstudio
