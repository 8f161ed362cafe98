#include "core/tokenizer/tokenizer_json.h"

#include "core/util/error.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <vector>

namespace ditstudio {

namespace {

// SentencePiece's ModelProto field numbers (sentencepiece_model.proto).
namespace field {
constexpr int kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3;
constexpr int kPiece = 1, kScore = 2, kType = 3;                                     // SentencePiece
constexpr int kModelType = 3, kVocabSize = 4, kByteFallback = 35;                    // TrainerSpec
constexpr int kUnkId = 40, kBosId = 41, kEosId = 42, kPadId = 43;                    // TrainerSpec
constexpr int kUnkPiece = 45, kBosPiece = 46, kEosPiece = 47, kPadPiece = 48;        // TrainerSpec
constexpr int kName = 1, kCharsmap = 2, kAddDummyPrefix = 3, kRemoveExtraWhitespaces = 4,
              kEscapeWhitespaces = 5;                                                // NormalizerSpec
} // namespace field

enum class PieceType : int { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6 };
constexpr int kUnigram = 1;

// Minimal protobuf wire-format writer: varints, length-delimited fields and 32-bit floats.
class ProtoWriter {
public:
    void varintField(int number, int64_t value) {
        key(number, 0);
        varint(static_cast<uint64_t>(value)); // negative int32 values take 10 bytes, as protobuf writes them
    }
    void bytesField(int number, const std::string& bytes) {
        key(number, 2);
        varint(bytes.size());
        out_ += bytes;
    }
    void floatField(int number, float value) {
        key(number, 5);
        uint32_t bits = 0;
        std::memcpy(&bits, &value, sizeof bits);
        for (int i = 0; i < 4; ++i) {
            out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
        }
    }
    const std::string& bytes() const { return out_; }

private:
    void key(int number, int wireType) { varint((static_cast<uint64_t>(number) << 3) | static_cast<uint64_t>(wireType)); }
    void varint(uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    std::string out_;
};

std::optional<std::string> decodeBase64(const std::string& text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    out.reserve(text.size() * 3 / 4);
    uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        if (c == '=') {
            break;
        }
        const int v = value(c);
        if (v < 0) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    return out;
}

bool isBytePiece(const std::string& piece) {
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
    return piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && hex(piece[3]) && hex(piece[4]) && piece[5] == '>';
}

} // namespace

std::string sentencePieceProtoFromTokenizerJson(const std::filesystem::path& path) {
    const std::string file = path.string();
    std::ifstream in(path);
    if (!in) {
        throw FormatError(fmt::format("{}: cannot open", file));
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
        throw FormatError(fmt::format("{}: not well-formed JSON: {}", file, e.what()));
    }
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
        throw FormatError(fmt::format("{}: no \"model\" object (not a HuggingFace tokenizer.json)", file));
    }
    const auto& model = j["model"];
    const std::string type = model.value("type", "");
    if (type != "Unigram") {
        throw FormatError(fmt::format("{}: model.type is \"{}\"; only Unigram tokenizers (SentencePiece, as umt5) are "
                                      "read",
                                      file, type));
    }
    if (!model.contains("vocab") || !model["vocab"].is_array() || model["vocab"].empty()) {
        throw FormatError(fmt::format("{}: model.vocab must be a non-empty list of [piece, score]", file));
    }

    // Pieces in id order, then the added tokens (which may extend the vocabulary).
    struct Piece {
        std::string text;
        float score = 0;
        PieceType type = PieceType::Normal;
    };
    std::vector<Piece> pieces;
    pieces.reserve(model["vocab"].size());
    for (size_t i = 0; i < model["vocab"].size(); ++i) {
        const auto& entry = model["vocab"][i];
        if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number()) {
            throw FormatError(fmt::format("{}: model.vocab[{}] must be [piece, score], got {}", file, i,
                                          entry.dump().substr(0, 80)));
        }
        pieces.push_back(Piece{entry[0].get<std::string>(), entry[1].get<float>(), PieceType::Normal});
    }
    const bool byteFallback = model.value("byte_fallback", false);
    if (byteFallback) {
        for (auto& p : pieces) {
            if (isBytePiece(p.text)) {
                p.type = PieceType::Byte;
            }
        }
    }
    if (!model.contains("unk_id") || !model["unk_id"].is_number_integer()) {
        throw FormatError(fmt::format("{}: model.unk_id must be an integer (a Unigram model without it cannot encode "
                                      "unseen characters)",
                                      file));
    }
    const int64_t unkId = model["unk_id"].get<int64_t>();
    if (unkId < 0 || unkId >= static_cast<int64_t>(pieces.size())) {
        throw FormatError(fmt::format("{}: model.unk_id {} is outside the vocabulary of {} pieces", file, unkId,
                                      pieces.size()));
    }
    pieces[static_cast<size_t>(unkId)].type = PieceType::Unknown;

    std::map<std::string, int64_t> specialIds; // "<pad>", "</s>", "<s>" → id
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
        for (const auto& token : j["added_tokens"]) {
            if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer() ||
                !token.contains("content") || !token["content"].is_string()) {
                throw FormatError(fmt::format("{}: added_tokens entry {} needs an integer \"id\" and a \"content\"",
                                              file, token.dump().substr(0, 80)));
            }
            const int64_t id = token["id"].get<int64_t>();
            const std::string content = token["content"].get<std::string>();
            const bool special = token.value("special", false);
            if (id == static_cast<int64_t>(pieces.size())) {
                pieces.push_back(Piece{content, 0.0f, PieceType::UserDefined});
            } else if (id < 0 || id > static_cast<int64_t>(pieces.size())) {
                throw FormatError(fmt::format("{}: added token '{}' has id {}, beyond the vocabulary of {} pieces",
                                              file, content, id, pieces.size()));
            } else if (pieces[static_cast<size_t>(id)].text != content) {
                throw FormatError(fmt::format("{}: added token '{}' has id {}, which the vocabulary gives to '{}'",
                                              file, content, id, pieces[static_cast<size_t>(id)].text));
            }
            auto& piece = pieces[static_cast<size_t>(id)];
            if (content == "<pad>" || content == "</s>" || content == "<s>") {
                specialIds[content] = id;
                if (piece.type != PieceType::Unknown) {
                    piece.type = PieceType::Control;
                }
            } else if (special && piece.type == PieceType::Normal) {
                piece.type = PieceType::UserDefined;
            }
        }
    }
    if (!specialIds.count("</s>")) {
        throw FormatError(fmt::format("{}: no \"</s>\" in added_tokens: the umt5 tokenizer ends every prompt with it",
                                      file));
    }

    // Normaliser: Precompiled charsmap (+ the whitespace steps SentencePiece does itself).
    std::string charsmap;
    std::vector<nlohmann::json> normalizers;
    if (j.contains("normalizer") && j["normalizer"].is_object()) {
        const auto& n = j["normalizer"];
        if (n.value("type", "") == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
            normalizers.assign(n["normalizers"].begin(), n["normalizers"].end());
        } else {
            normalizers.push_back(n);
        }
    }
    for (const auto& n : normalizers) {
        const std::string kind = n.value("type", "");
        if (kind == "Precompiled") {
            const auto decoded = decodeBase64(n.value("precompiled_charsmap", ""));
            if (!decoded) {
                throw FormatError(fmt::format("{}: normalizer.precompiled_charsmap is not valid base64", file));
            }
            charsmap = *decoded;
        } else if (kind != "Strip" && kind != "Replace") {
            throw FormatError(fmt::format("{}: normalizer \"{}\" is not supported (Precompiled, Strip and Replace are)",
                                          file, kind));
        }
    }

    // Pre-tokenizer: Metaspace (possibly after WhitespaceSplit) decides the leading "▁".
    bool addDummyPrefix = true;
    std::vector<nlohmann::json> preTokenizers;
    if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object()) {
        const auto& p = j["pre_tokenizer"];
        if (p.value("type", "") == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].is_array()) {
            preTokenizers.assign(p["pretokenizers"].begin(), p["pretokenizers"].end());
        } else {
            preTokenizers.push_back(p);
        }
    }
    for (const auto& p : preTokenizers) {
        const std::string kind = p.value("type", "");
        if (kind == "Metaspace") {
            if (p.value("replacement", "\u2581") != "\u2581") {
                throw FormatError(fmt::format("{}: Metaspace replacement must be U+2581", file));
            }
            if (p.contains("prepend_scheme") && p["prepend_scheme"].is_string()) {
                addDummyPrefix = p["prepend_scheme"].get<std::string>() != "never";
            } else if (p.contains("add_prefix_space") && p["add_prefix_space"].is_boolean()) {
                addDummyPrefix = p["add_prefix_space"].get<bool>();
            }
        } else if (kind != "WhitespaceSplit") {
            throw FormatError(fmt::format("{}: pre_tokenizer \"{}\" is not supported (Metaspace, WhitespaceSplit are)",
                                          file, kind));
        }
    }

    ProtoWriter proto;
    for (const auto& p : pieces) {
        ProtoWriter piece;
        piece.bytesField(field::kPiece, p.text);
        piece.floatField(field::kScore, p.score);
        piece.varintField(field::kType, static_cast<int>(p.type));
        proto.bytesField(field::kPieces, piece.bytes());
    }
    auto idOf = [&](const char* name) { return specialIds.count(name) ? specialIds[name] : int64_t(-1); };
    ProtoWriter trainer;
    trainer.varintField(field::kModelType, kUnigram);
    trainer.varintField(field::kVocabSize, static_cast<int64_t>(pieces.size()));
    trainer.varintField(field::kByteFallback, byteFallback ? 1 : 0);
    trainer.varintField(field::kUnkId, unkId);
    trainer.varintField(field::kBosId, idOf("<s>"));
    trainer.varintField(field::kEosId, idOf("</s>"));
    trainer.varintField(field::kPadId, idOf("<pad>"));
    trainer.bytesField(field::kUnkPiece, pieces[static_cast<size_t>(unkId)].text);
    trainer.bytesField(field::kBosPiece, "<s>");
    trainer.bytesField(field::kEosPiece, "</s>");
    trainer.bytesField(field::kPadPiece, "<pad>");
    proto.bytesField(field::kTrainerSpec, trainer.bytes());
    ProtoWriter normalizer;
    normalizer.bytesField(field::kName, charsmap.empty() ? "identity" : "precompiled");
    if (!charsmap.empty()) {
        normalizer.bytesField(field::kCharsmap, charsmap);
    }
    normalizer.varintField(field::kAddDummyPrefix, addDummyPrefix ? 1 : 0);
    normalizer.varintField(field::kRemoveExtraWhitespaces, 1);
    normalizer.varintField(field::kEscapeWhitespaces, 1);
    proto.bytesField(field::kNormalizerSpec, normalizer.bytes());
    return proto.bytes();
}

} // namespace ditstudio
