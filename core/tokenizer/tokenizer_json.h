// HuggingFace `tokenizer.json` (the `tokenizers` library's file) of a Unigram model, such as google/umt5-xxl's,
// turned into the serialized SentencePiece ModelProto that the sentencepiece library loads, so that one encoder
// serves both files:
//   model.vocab [[piece, score], ...]   → pieces with their scores (id = position);
//   model.unk_id                        → the UNKNOWN piece; added special tokens <pad>, </s>, <s> → CONTROL,
//                                         other added special tokens (<extra_id_N>) → USER_DEFINED (matched whole
//                                         in the text, as HF splits them out); <0xHH> pieces → BYTE when
//                                         model.byte_fallback;
//   normalizer "Precompiled"            → normalizer_spec.precompiled_charsmap (the same bytes HF copied out of
//                                         spiece.model; the Strip/Replace(" {2,}") steps are SentencePiece's
//                                         remove_extra_whitespaces);
//   pre_tokenizer "Metaspace"           → add_dummy_prefix unless prepend_scheme is "never".
// Anything else (BPE/WordPiece models, other normalisers) is a FormatError naming the file and the field.
#pragma once
#include <filesystem>
#include <string>

namespace ditstudio {

std::string sentencePieceProtoFromTokenizerJson(const std::filesystem::path& path);

} // namespace ditstudio
