// libFuzzer target: the worker protocol's frame decoder (core/protocol/framing.h) and message validation
// (messages.h). The first input byte picks how the rest is cut into feed() calls, so partial frames, frames split
// inside the fixed header and several frames in one read are all exercised. Every decoded message is re-encoded
// and must decode to the same header and payload.
#include "core/protocol/framing.h"
#include "core/protocol/messages.h"

#include <cstdio>
#include <cstdlib>

using namespace ditstudio::protocol;

namespace {

void checkRoundTrip(const Message& message) {
    std::string frame;
    try {
        frame = encodeFrame(message);
    } catch (const ProtocolError&) {
        return; // re-encoding may exceed a limit the decoder allowed (a smaller payload limit); not a defect
    }
    FrameDecoder again;
    again.feed(frame.data(), frame.size());
    const auto decoded = again.next();
    if (!decoded || decoded->header != message.header || decoded->payload != message.payload) {
        std::fprintf(stderr, "frame round trip changed the message %s\n", message.header.dump().c_str());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const size_t chunk = 1 + data[0] % 64;
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    const size_t length = size - 1;
    FrameDecoder decoder(1u << 16);
    try {
        for (size_t at = 0; at < length; at += chunk) {
            decoder.feed(bytes + at, std::min(chunk, length - at));
            while (auto message = decoder.next()) {
                checkRoundTrip(*message);
                for (auto direction : {Direction::ClientToWorker, Direction::WorkerToClient, Direction::RankToWorker,
                                       Direction::WorkerToRank}) {
                    try {
                        validateMessage(*message, direction);
                    } catch (const ProtocolError&) {
                    }
                }
            }
        }
    } catch (const ProtocolError&) {
    }
    try {
        (void)parseHeaderJson(std::string_view(bytes, length));
    } catch (const ProtocolError&) {
    }
    return 0;
}
