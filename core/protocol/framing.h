// The wire format of the worker protocol (docs/protocol.md): every message is one frame,
//   16-byte fixed header (little-endian): magic "DSWP", u16 framing version, u16 flags (0),
//                                         u32 JSON header length, u32 payload length
//   JSON header (UTF-8, an object with a string "type")
//   binary payload (images, frames, latents), possibly empty.
// Limits are checked on the fixed header before anything else is buffered, so an oversized or garbage frame costs
// 16 bytes to reject. A framing error leaves the stream unsynchronised: the peer sends an error and closes.
#pragma once
#include "core/util/error.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ditstudio::protocol {

// A malformed, oversized, out-of-order or refused message. `code()` is the protocol's error code
// ("bad_frame", "bad_message", "unknown_type", "out_of_order", "incompatible_version", ...); `what()` says
// which field/limit, expected vs actual.
class ProtocolError : public Error {
public:
    ProtocolError(std::string code, const std::string& message) : Error(message), code_(std::move(code)) {}
    const std::string& code() const { return code_; }

private:
    std::string code_;
};

// The peer closed the connection (cleanly between frames, or in the middle of one).
class ConnectionClosed : public Error {
public:
    using Error::Error;
};

inline constexpr char kFrameMagic[4] = {'D', 'S', 'W', 'P'};
inline constexpr uint16_t kFramingVersion = 1;
inline constexpr size_t kFixedHeaderBytes = 16;
inline constexpr uint32_t kMaxHeaderBytes = 1u << 20;   // 1 MiB of JSON
inline constexpr uint32_t kMaxPayloadBytes = 64u << 20; // 64 MiB: a chunk of decoded 480x832 frames is ~5 MiB
inline constexpr int kMaxJsonDepth = 32;

struct Message {
    nlohmann::json header = nlohmann::json::object(); // always an object with a string "type"
    std::string payload;                               // binary, may be empty

    Message() = default;
    explicit Message(nlohmann::json h, std::string p = {}) : header(std::move(h)), payload(std::move(p)) {}
    std::string type() const;
};

// The whole frame of a message. Throws ProtocolError when the header or payload exceeds the limits.
std::string encodeFrame(const Message& message);

// Incremental decoder for a byte stream: feed() what arrives, next() each complete message.
// Thread contract: one decoder per connection, used by one thread.
class FrameDecoder {
public:
    explicit FrameDecoder(uint32_t maxPayloadBytes = kMaxPayloadBytes) : maxPayloadBytes_(maxPayloadBytes) {}
    void feed(const char* data, size_t size);
    // The next complete message, or nullopt when more bytes are needed. Throws ProtocolError("bad_frame") for a
    // bad magic/version/flags, oversized lengths, a header that is not a JSON object with a string "type", or
    // JSON nested deeper than kMaxJsonDepth. After a throw the decoder is unusable (the stream is lost).
    std::optional<Message> next();
    size_t bufferedBytes() const { return buffer_.size() - consumed_; }
    // Bytes the decoder still needs for the frame it is in (0 when between frames): lets a reader wait sensibly.
    bool isMidFrame() const { return bufferedBytes() > 0; }

private:
    std::string buffer_;
    size_t consumed_ = 0;
    uint32_t maxPayloadBytes_;
    bool broken_ = false;
};

// Parses and checks a JSON header (object, "type" string, depth). Throws ProtocolError("bad_frame").
nlohmann::json parseHeaderJson(std::string_view text);

// Blocking I/O on a connected socket. writeMessage writes the whole frame (retrying on EINTR/partial writes, with
// MSG_NOSIGNAL); throws ConnectionClosed when the peer is gone. readMessage blocks until one message arrives, the
// timeout passes (returns nullopt; negative = wait forever) or the peer closes (ConnectionClosed).
void writeMessage(int fd, const Message& message);
std::optional<Message> readMessage(int fd, FrameDecoder& decoder, std::chrono::milliseconds timeout);

} // namespace ditstudio::protocol
