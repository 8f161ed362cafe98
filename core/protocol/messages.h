// The message catalogue of the worker protocol (docs/protocol.md): every message type, who may send it, and its
// fields with their JSON types. `validateMessage` is the single gate every received message passes: unknown
// types, missing required fields, wrong types and unknown fields are ProtocolErrors naming the field.
//
// To add a message: add a row to the table in messages.cpp (type, direction, fields, whether it carries a
// payload), document it in docs/protocol.md with an example, and bump kProtocolVersion if an old peer would
// refuse it.
#pragma once
#include "core/protocol/framing.h"

#include <string>
#include <vector>

namespace ditstudio::protocol {

// The message-set version negotiated by hello/welcome. Peers with another version are refused with
// "incompatible_version" (the message says both versions).
inline constexpr int kProtocolVersion = 1;

enum class Direction {
    ClientToWorker, // requests of the CLI/GUI
    WorkerToClient, // replies and events
    RankToWorker,   // rank 0 on the control channel
    WorkerToRank,
};

enum class FieldType { UInt, Int, Number, String, Bool, Object, Array };

struct FieldSpec {
    const char* name;
    FieldType type;
    bool required;
};

struct MessageSpec {
    const char* type;
    Direction direction;
    std::vector<FieldSpec> fields;
    bool hasPayload = false; // messages without a payload must not carry one
};

const std::vector<MessageSpec>& messageCatalogue();
const MessageSpec* findSpec(const std::string& type, Direction direction);

// Throws ProtocolError: "unknown_type" (not a type of that direction), "bad_message" (missing/mistyped/unknown
// field, unexpected payload, a string over kMaxStringBytes). Requests of clients must carry a uint "id".
void validateMessage(const Message& message, Direction direction);

inline constexpr size_t kMaxStringBytes = 64 * 1024;

// Builders of the common replies.
Message makeError(const std::string& code, const std::string& text, std::optional<uint64_t> replyTo = std::nullopt);
Message makeOk(uint64_t replyTo);

const char* toString(FieldType type);

} // namespace ditstudio::protocol
