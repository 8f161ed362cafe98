#include "ui/media/video_reader.h"

#include "core/util/error.h"

#include <QCollator>
#include <QDir>
#include <QFileInfo>

#include <fmt/format.h>

#include <memory>

#ifdef DITSTUDIO_HAVE_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}
#endif

namespace ditstudio::ui {

namespace {

DecodedClip readPngSequence(const QString& folder, int maxFrames) {
    QDir dir(folder);
    QStringList names = dir.entryList({"*.png"}, QDir::Files);
    QCollator collator;
    collator.setNumericMode(true);
    std::sort(names.begin(), names.end(), collator);
    if (names.isEmpty()) {
        throw FormatError(fmt::format("{}: the folder holds no .png frames", folder.toStdString()));
    }
    if (names.size() > maxFrames) {
        throw FormatError(fmt::format("{}: {} frames, more than the player's limit of {}", folder.toStdString(),
                                      names.size(), maxFrames));
    }
    DecodedClip clip;
    for (const QString& name : names) {
        QImage image(dir.filePath(name));
        if (image.isNull()) {
            throw FormatError(fmt::format("{}: not a readable PNG", dir.filePath(name).toStdString()));
        }
        clip.frames.push_back(image.convertToFormat(QImage::Format_RGB888));
    }
    return clip;
}

#ifdef DITSTUDIO_HAVE_FFMPEG
std::string avError(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof(text));
    return text;
}

DecodedClip readVideoFile(const QString& path, int maxFrames) {
    const std::string file = path.toStdString();
    AVFormatContext* rawFormat = nullptr;
    if (int rc = avformat_open_input(&rawFormat, file.c_str(), nullptr, nullptr); rc < 0) {
        throw FormatError(fmt::format("{}: cannot open the video: {}", file, avError(rc)));
    }
    std::unique_ptr<AVFormatContext, void (*)(AVFormatContext*)> format(
        rawFormat, [](AVFormatContext* f) { avformat_close_input(&f); });
    if (int rc = avformat_find_stream_info(format.get(), nullptr); rc < 0) {
        throw FormatError(fmt::format("{}: cannot read the stream info: {}", file, avError(rc)));
    }
    const int stream = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream < 0) {
        throw FormatError(fmt::format("{}: no video stream: {}", file, avError(stream)));
    }
    AVStream* videoStream = format->streams[stream];
    const AVCodec* codec = avcodec_find_decoder(videoStream->codecpar->codec_id);
    if (!codec) {
        throw FormatError(fmt::format("{}: this FFmpeg build has no decoder for codec id {}", file,
                                      static_cast<int>(videoStream->codecpar->codec_id)));
    }
    std::unique_ptr<AVCodecContext, void (*)(AVCodecContext*)> context(avcodec_alloc_context3(codec),
                                                                       [](AVCodecContext* c) { avcodec_free_context(&c); });
    avcodec_parameters_to_context(context.get(), videoStream->codecpar);
    if (int rc = avcodec_open2(context.get(), codec, nullptr); rc < 0) {
        throw FormatError(fmt::format("{}: cannot open the {} decoder: {}", file, codec->name, avError(rc)));
    }

    DecodedClip clip;
    const AVRational rate = videoStream->avg_frame_rate.num > 0 ? videoStream->avg_frame_rate : videoStream->r_frame_rate;
    if (rate.num > 0 && rate.den > 0) {
        clip.fps = av_q2d(rate);
    }
    std::unique_ptr<AVPacket, void (*)(AVPacket*)> packet(av_packet_alloc(), [](AVPacket* p) { av_packet_free(&p); });
    std::unique_ptr<AVFrame, void (*)(AVFrame*)> frame(av_frame_alloc(), [](AVFrame* f) { av_frame_free(&f); });
    SwsContext* scaler = nullptr;

    auto drain = [&]() {
        for (;;) {
            const int rc = avcodec_receive_frame(context.get(), frame.get());
            if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
                return;
            }
            if (rc < 0) {
                throw FormatError(fmt::format("{}: decoding failed: {}", file, avError(rc)));
            }
            if (clip.frames.size() >= maxFrames) {
                throw FormatError(fmt::format("{}: more than the player's limit of {} frames", file, maxFrames));
            }
            scaler = sws_getCachedContext(scaler, frame->width, frame->height,
                                          static_cast<AVPixelFormat>(frame->format), frame->width, frame->height,
                                          AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
            if (!scaler) {
                throw FormatError(fmt::format("{}: cannot convert pixel format {} to RGB", file, frame->format));
            }
            QImage image(frame->width, frame->height, QImage::Format_RGB888);
            uint8_t* destination[4] = {image.bits(), nullptr, nullptr, nullptr};
            int strides[4] = {static_cast<int>(image.bytesPerLine()), 0, 0, 0};
            sws_scale(scaler, frame->data, frame->linesize, 0, frame->height, destination, strides);
            clip.frames.push_back(std::move(image));
            av_frame_unref(frame.get());
        }
    };
    try {
        while (av_read_frame(format.get(), packet.get()) >= 0) {
            if (packet->stream_index == stream) {
                avcodec_send_packet(context.get(), packet.get());
                drain();
            }
            av_packet_unref(packet.get());
        }
        avcodec_send_packet(context.get(), nullptr);
        drain();
    } catch (...) {
        sws_freeContext(scaler);
        throw;
    }
    sws_freeContext(scaler);
    if (clip.frames.isEmpty()) {
        throw FormatError(fmt::format("{}: the video has no decodable frames", file));
    }
    return clip;
}
#endif

} // namespace

DecodedClip readClip(const QString& path, int maxFrames) {
    const QFileInfo info(path);
    if (!info.exists()) {
        throw FormatError(fmt::format("{}: no such file or folder", path.toStdString()));
    }
    if (info.isDir()) {
        return readPngSequence(path, maxFrames);
    }
    const QString suffix = info.suffix().toLower();
    if (suffix == "png" || suffix == "jpg" || suffix == "jpeg") {
        QImage image(path);
        if (image.isNull()) {
            throw FormatError(fmt::format("{}: not a readable image", path.toStdString()));
        }
        return DecodedClip{{image.convertToFormat(QImage::Format_RGB888)}, 16.0};
    }
#ifdef DITSTUDIO_HAVE_FFMPEG
    return readVideoFile(path, maxFrames);
#else
    throw FormatError(fmt::format("{}: this build has no FFmpeg to read videos", path.toStdString()));
#endif
}

} // namespace ditstudio::ui
