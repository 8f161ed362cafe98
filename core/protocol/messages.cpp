#include "core/protocol/messages.h"

#include <fmt/format.h>

namespace ditstudio::protocol {

namespace {

using F = FieldType;
using D = Direction;

std::vector<MessageSpec> buildCatalogue() {
    const FieldSpec replyTo{"reply_to", F::UInt, true};
    const FieldSpec job{"job", F::UInt, true};
    return {
        // Client → worker requests (each also carries "id": uint, echoed as "reply_to").
        {"hello", D::ClientToWorker, {{"protocol", F::UInt, true}, {"client", F::String, true}, {"token", F::String, false}}},
        {"submit", D::ClientToWorker, {{"settings", F::Object, true}, {"model", F::String, true}, {"priority", F::Int, false}}},
        {"cancel", D::ClientToWorker, {job}},
        {"list_queue", D::ClientToWorker, {{"include_done", F::Bool, false}}},
        {"set_priority", D::ClientToWorker, {job, {"priority", F::Int, true}}},
        {"reorder", D::ClientToWorker, {job, {"position", F::UInt, true}}},
        {"pause_queue", D::ClientToWorker, {{"paused", F::Bool, true}}},
        {"subscribe", D::ClientToWorker,
         {{"job", F::UInt, false}, {"previews", F::Bool, false}, {"frames", F::Bool, false}, {"logs", F::Bool, false}}},
        {"unsubscribe", D::ClientToWorker, {{"job", F::UInt, false}}},
        {"query_history", D::ClientToWorker,
         {{"search", F::String, false}, {"job", F::UInt, false}, {"limit", F::UInt, false}, {"offset", F::UInt, false},
          {"thumbnails", F::Bool, false}}},
        {"delete_history", D::ClientToWorker, {job}},
        {"list_presets", D::ClientToWorker, {}},
        {"get_status", D::ClientToWorker, {}},
        {"shutdown", D::ClientToWorker, {}},

        // Worker → client replies.
        {"welcome", D::WorkerToClient, {replyTo, {"protocol", F::UInt, true}, {"worker", F::String, true}, {"pid", F::UInt, true}}},
        {"ok", D::WorkerToClient, {replyTo}},
        {"error", D::WorkerToClient, {{"reply_to", F::UInt, false}, {"code", F::String, true}, {"message", F::String, true}}},
        {"submitted", D::WorkerToClient, {replyTo, job, {"position", F::UInt, true}}},
        {"queue", D::WorkerToClient, {replyTo, {"jobs", F::Array, true}, {"paused", F::Bool, true}}},
        {"history", D::WorkerToClient, {replyTo, {"entries", F::Array, true}}, true},
        {"presets", D::WorkerToClient, {replyTo, {"presets", F::Array, true}}},
        {"status", D::WorkerToClient,
         {replyTo, {"worker", F::String, true}, {"protocol", F::UInt, true}, {"pid", F::UInt, true},
          {"uptime_s", F::Number, true}, {"paused", F::Bool, true}, {"queue_length", F::UInt, true},
          {"running_job", F::UInt, false}, {"group", F::Object, true}, {"gpus", F::Array, true},
          {"log_file", F::String, true}, {"database", F::String, true}}},

        // Worker → client events (also rank 0 → worker for the job's progress).
        {"queued", D::WorkerToClient,
         {job, {"position", F::UInt, true}, {"priority", F::Int, true}, {"prompt", F::String, true}, {"model", F::String, true}}},
        {"queue_changed", D::WorkerToClient, {}},
        {"history_changed", D::WorkerToClient, {}},
        {"started", D::WorkerToClient, {job}},
        {"stage", D::WorkerToClient, {job, {"stage", F::String, true}, {"elapsed_s", F::Number, true}}},
        {"step", D::WorkerToClient,
         {job, {"step", F::UInt, true}, {"total", F::UInt, true}, {"it_per_s", F::Number, true}, {"eta_s", F::Number, true},
          {"elapsed_s", F::Number, true}}},
        {"preview", D::WorkerToClient,
         {job, {"step", F::UInt, true}, {"frames", F::UInt, true}, {"height", F::UInt, true}, {"width", F::UInt, true},
          {"format", F::String, true}},
         true},
        {"frames", D::WorkerToClient,
         {job, {"first_frame", F::UInt, true}, {"count", F::UInt, true}, {"height", F::UInt, true},
          {"width", F::UInt, true}, {"format", F::String, true}},
         true},
        {"finished", D::WorkerToClient,
         {job, {"outputs", F::Object, true}, {"timings", F::Object, true}, {"seed", F::Int, true}}},
        {"failed", D::WorkerToClient, {job, {"reason", F::String, true}, {"stage", F::String, false}}},
        {"cancelled", D::WorkerToClient, {job}},
        {"log", D::WorkerToClient,
         {{"job", F::UInt, false}, {"level", F::String, true}, {"message", F::String, true}, {"time", F::Number, true}}},

        // Control channel: rank 0 → worker.
        {"rank_hello", D::RankToWorker,
         {{"protocol", F::UInt, true}, {"rank", F::UInt, true}, {"world", F::UInt, true}, {"pid", F::UInt, true},
          {"device", F::String, true}}},
        {"stage", D::RankToWorker, {job, {"stage", F::String, true}, {"elapsed_s", F::Number, true}}},
        {"step", D::RankToWorker,
         {job, {"step", F::UInt, true}, {"total", F::UInt, true}, {"it_per_s", F::Number, true}, {"eta_s", F::Number, true},
          {"elapsed_s", F::Number, true}}},
        {"preview", D::RankToWorker,
         {job, {"step", F::UInt, true}, {"frames", F::UInt, true}, {"height", F::UInt, true}, {"width", F::UInt, true},
          {"format", F::String, true}},
         true},
        {"latents", D::RankToWorker, {job, {"shape", F::Array, true}, {"dtype", F::String, true}}, true},
        {"frames", D::RankToWorker,
         {job, {"first_frame", F::UInt, true}, {"count", F::UInt, true}, {"height", F::UInt, true},
          {"width", F::UInt, true}, {"format", F::String, true}},
         true},
        {"result", D::RankToWorker,
         {job, {"timings", F::Object, true}, {"seed", F::Int, true}, {"frames", F::UInt, true}, {"height", F::UInt, true},
          {"width", F::UInt, true}}},
        {"failed", D::RankToWorker, {job, {"reason", F::String, true}, {"stage", F::String, false}}},
        {"cancelled", D::RankToWorker, {job}},
        {"log", D::RankToWorker,
         {{"job", F::UInt, false}, {"level", F::String, true}, {"message", F::String, true}, {"time", F::Number, true}}},

        // Control channel: worker → rank 0.
        {"run_job", D::WorkerToRank, {job, {"settings", F::Object, true}, {"model", F::String, true}, {"preview_interval_s", F::Number, true}}},
        {"cancel", D::WorkerToRank, {job}},
        {"shutdown", D::WorkerToRank, {}},
    };
}

bool hasType(const nlohmann::json& value, FieldType type) {
    switch (type) {
    case F::UInt: return value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0);
    case F::Int: return value.is_number_integer();
    case F::Number: return value.is_number();
    case F::String: return value.is_string();
    case F::Bool: return value.is_boolean();
    case F::Object: return value.is_object();
    case F::Array: return value.is_array();
    }
    return false;
}

} // namespace

const char* toString(FieldType type) {
    switch (type) {
    case F::UInt: return "a non-negative integer";
    case F::Int: return "an integer";
    case F::Number: return "a number";
    case F::String: return "a string";
    case F::Bool: return "a boolean";
    case F::Object: return "an object";
    case F::Array: return "an array";
    }
    return "?";
}

const std::vector<MessageSpec>& messageCatalogue() {
    static const std::vector<MessageSpec> catalogue = buildCatalogue();
    return catalogue;
}

const MessageSpec* findSpec(const std::string& type, Direction direction) {
    for (const auto& spec : messageCatalogue()) {
        if (spec.direction == direction && type == spec.type) {
            return &spec;
        }
    }
    return nullptr;
}

void validateMessage(const Message& message, Direction direction) {
    const std::string type = message.type();
    const MessageSpec* spec = findSpec(type, direction);
    if (!spec) {
        throw ProtocolError("unknown_type", fmt::format("unknown message type \"{}\"", type.substr(0, 64)));
    }
    const bool isRequest = direction == D::ClientToWorker;
    if (isRequest) {
        auto id = message.header.find("id");
        if (id == message.header.end() || !hasType(*id, F::UInt)) {
            throw ProtocolError("bad_message",
                                fmt::format("{}: field \"id\" must be a non-negative integer request id", type));
        }
    }
    for (const auto& field : spec->fields) {
        auto it = message.header.find(field.name);
        if (it == message.header.end() || it->is_null()) {
            if (field.required) {
                throw ProtocolError("bad_message", fmt::format("{}: required field \"{}\" ({}) is missing", type,
                                                               field.name, toString(field.type)));
            }
            continue;
        }
        if (!hasType(*it, field.type)) {
            throw ProtocolError("bad_message", fmt::format("{}: field \"{}\" must be {}, got {}", type, field.name,
                                                           toString(field.type), it->type_name()));
        }
        if (it->is_string() && it->get_ref<const std::string&>().size() > kMaxStringBytes) {
            throw ProtocolError("bad_message", fmt::format("{}: field \"{}\" is {} bytes; at most {} are allowed", type,
                                                           field.name, it->get_ref<const std::string&>().size(),
                                                           kMaxStringBytes));
        }
    }
    for (const auto& [key, value] : message.header.items()) {
        if (key == "type" || (key == "id" && isRequest)) {
            continue;
        }
        bool known = false;
        for (const auto& field : spec->fields) {
            known = known || key == field.name;
        }
        if (!known) {
            throw ProtocolError("bad_message", fmt::format("{}: unknown field \"{}\"", type, key.substr(0, 64)));
        }
    }
    if (!spec->hasPayload && !message.payload.empty()) {
        throw ProtocolError("bad_message", fmt::format("{}: this message carries no payload, got {} bytes", type,
                                                       message.payload.size()));
    }
}

Message makeError(const std::string& code, const std::string& text, std::optional<uint64_t> replyTo) {
    nlohmann::json header{{"type", "error"}, {"code", code}, {"message", text}};
    if (replyTo) {
        header["reply_to"] = *replyTo;
    }
    return Message(std::move(header));
}

Message makeOk(uint64_t replyTo) { return Message(nlohmann::json{{"type", "ok"}, {"reply_to", replyTo}}); }

} // namespace ditstudio::protocol
