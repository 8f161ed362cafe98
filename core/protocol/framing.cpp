#include "core/protocol/framing.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ditstudio::protocol {

namespace {

void putU16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
}

void putU32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

uint16_t getU16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t getU32(const unsigned char* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
           (static_cast<uint32_t>(p[3]) << 24);
}

// Deepest bracket nesting outside strings: rejects "[[[[..." before the parser sees it.
int jsonDepth(std::string_view text) {
    int depth = 0, deepest = 0;
    bool inString = false, escaped = false;
    for (char c : text) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
            continue;
        }
        if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

} // namespace

std::string Message::type() const {
    auto it = header.find("type");
    return it != header.end() && it->is_string() ? it->get<std::string>() : std::string();
}

nlohmann::json parseHeaderJson(std::string_view text) {
    const int depth = jsonDepth(text);
    if (depth > kMaxJsonDepth) {
        throw ProtocolError("bad_frame", fmt::format("message header nests {} levels deep; at most {} are allowed",
                                                     depth, kMaxJsonDepth));
    }
    nlohmann::json header = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) {
        throw ProtocolError("bad_frame", "message header is not valid UTF-8 JSON");
    }
    if (!header.is_object()) {
        throw ProtocolError("bad_frame", fmt::format("message header must be a JSON object, got {}", header.type_name()));
    }
    auto type = header.find("type");
    if (type == header.end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
        throw ProtocolError("bad_frame", "message header has no string field \"type\"");
    }
    return header;
}

std::string encodeFrame(const Message& message) {
    const std::string json = message.header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (json.size() > kMaxHeaderBytes) {
        throw ProtocolError("too_large", fmt::format("message header of {} bytes exceeds the limit of {} bytes",
                                                     json.size(), kMaxHeaderBytes));
    }
    if (message.payload.size() > kMaxPayloadBytes) {
        throw ProtocolError("too_large", fmt::format("message payload of {} bytes exceeds the limit of {} bytes",
                                                     message.payload.size(), kMaxPayloadBytes));
    }
    std::string frame;
    frame.reserve(kFixedHeaderBytes + json.size() + message.payload.size());
    frame.append(kFrameMagic, 4);
    putU16(frame, kFramingVersion);
    putU16(frame, 0);
    putU32(frame, static_cast<uint32_t>(json.size()));
    putU32(frame, static_cast<uint32_t>(message.payload.size()));
    frame += json;
    frame += message.payload;
    return frame;
}

void FrameDecoder::feed(const char* data, size_t size) {
    if (consumed_ > 0 && consumed_ * 2 >= buffer_.size()) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    buffer_.append(data, size);
}

std::optional<Message> FrameDecoder::next() {
    if (broken_) {
        throw ProtocolError("bad_frame", "the stream is unsynchronised after an earlier framing error");
    }
    if (bufferedBytes() < kFixedHeaderBytes) {
        return std::nullopt;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
    try {
        if (std::memcmp(p, kFrameMagic, 4) != 0) {
            throw ProtocolError("bad_frame", fmt::format("bad frame magic {:02x} {:02x} {:02x} {:02x}; expected "
                                                         "\"DSWP\" (is this a DiT Studio worker client?)",
                                                         p[0], p[1], p[2], p[3]));
        }
        const uint16_t version = getU16(p + 4);
        if (version != kFramingVersion) {
            throw ProtocolError("incompatible_version",
                                fmt::format("framing version {} is not supported; this side speaks version {}",
                                            version, kFramingVersion));
        }
        const uint16_t flags = getU16(p + 6);
        if (flags != 0) {
            throw ProtocolError("bad_frame", fmt::format("frame flags must be 0, got {:#x}", flags));
        }
        const uint32_t headerBytes = getU32(p + 8);
        const uint32_t payloadBytes = getU32(p + 12);
        if (headerBytes == 0) {
            throw ProtocolError("bad_frame", "frame header length is 0; every message has a JSON header");
        }
        if (headerBytes > kMaxHeaderBytes) {
            throw ProtocolError("too_large", fmt::format("frame header length {} is out of range 1..{}", headerBytes,
                                                         kMaxHeaderBytes));
        }
        if (payloadBytes > maxPayloadBytes_) {
            throw ProtocolError("too_large", fmt::format("frame payload length {} exceeds the limit of {} bytes",
                                                         payloadBytes, maxPayloadBytes_));
        }
        const size_t total = kFixedHeaderBytes + headerBytes + payloadBytes;
        if (bufferedBytes() < total) {
            return std::nullopt;
        }
        const char* body = buffer_.data() + consumed_ + kFixedHeaderBytes;
        Message message(parseHeaderJson(std::string_view(body, headerBytes)),
                        std::string(body + headerBytes, payloadBytes));
        consumed_ += total;
        if (consumed_ == buffer_.size()) {
            buffer_.clear();
            consumed_ = 0;
        }
        return message;
    } catch (const ProtocolError&) {
        broken_ = true;
        throw;
    }
}

void writeMessage(int fd, const Message& message) {
    const std::string frame = encodeFrame(message);
    size_t written = 0;
    while (written < frame.size()) {
        const ssize_t n = ::send(fd, frame.data() + written, frame.size() - written, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                pollfd pfd{fd, POLLOUT, 0};
                ::poll(&pfd, 1, 1000);
                continue;
            }
            throw ConnectionClosed(fmt::format("writing a {} message failed: {}", message.type(), std::strerror(errno)));
        }
        written += static_cast<size_t>(n);
    }
}

std::optional<Message> readMessage(int fd, FrameDecoder& decoder, std::chrono::milliseconds timeout) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + timeout;
    char chunk[64 * 1024];
    for (;;) {
        if (auto message = decoder.next()) {
            return message;
        }
        int waitMs = -1;
        if (timeout.count() >= 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) {
                return std::nullopt;
            }
            waitMs = static_cast<int>(std::min<int64_t>(left, 1 << 30));
        }
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, waitMs);
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw ConnectionClosed(fmt::format("waiting for a message failed: {}", std::strerror(errno)));
        }
        if (ready == 0) {
            continue; // the deadline check above returns
        }
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            throw ConnectionClosed(fmt::format("reading a message failed: {}", std::strerror(errno)));
        }
        if (n == 0) {
            throw ConnectionClosed(decoder.isMidFrame() ? "the peer closed the connection in the middle of a frame"
                                                        : "the peer closed the connection");
        }
        decoder.feed(chunk, static_cast<size_t>(n));
    }
}

} // namespace ditstudio::protocol
