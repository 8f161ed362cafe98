// The umt5-xxl tokenizer of Wan 2.1 (spec §4.1): the reference's prompt clean-up, then the SentencePiece model's
// pieces, the EOS id, padding to a fixed length and the attention mask — what HuggingFace's
// `tokenizer(text, padding='max_length', truncation=True, max_length=512, add_special_tokens=True)` returns.
//
// Clean-up (`cleanPrompt`), in the reference's order:
//   1. the part of `ftfy.fix_text` that can change a prompt's ids, re-implemented here (ftfy is Python-only):
//      - ANSI terminal escapes (ESC '[' digits/';' letter) are removed;
//      - HTML entities are unescaped once more unless the text contains '<' (ftfy's "auto" HTML rule);
//      - C1 control characters are read as Windows-1252 (U+0085 → "…", U+0092 → ’);
//      - Latin ligatures are spelt out (ﬁ → fi, Ǉ → LJ, …), full-width ASCII and signs become narrow (Ａ → A);
//      - curly quotes become straight ones (U+02BC, U+2018–U+201B → ', U+201C–U+201F → ");
//      - control characters are removed (U+0000–0008, 000B, 000E–001F, 007F, U+206A–206F, U+FEFF,
//        U+FFF9–FFFC); tabs, line feeds, form feeds and carriage returns stay (they are whitespace below);
//      - invalid UTF-8 becomes U+FFFD (Python strings cannot hold invalid UTF-8 in the first place).
//      NOT replicated: mojibake repair (fix_encoding, restore_byte_a0, replace_lossy_sequences,
//      decode_inconsistent_utf8), which needs ftfy's statistical tables; ftfy's NFC normalisation and its
//      half-width katakana/hangul widening, which a SentencePiece model with an NFKC-based normaliser (nmt_nfkc,
//      the library's default) subsumes. So a prompt with mojibake ("schÃ¶n") can tokenise
//      differently from the reference. Checked against ftfy 6.3.1 + html + regex + HF `tokenizers` 0.23 (a
//      test-trained unigram model, 43 tricky prompts: entities, quotes, controls, whitespace, scripts, emoji,
//      ligatures, full width, truncation): identical cleaned text and ids, except the cleaned text of the
//      mojibake and NFC prompts (their ids were still equal, through the model's NFKC).
//   2. `html.unescape` twice: every numeric reference (decimal/hex, with or without ';', Python's replacement
//      rules for 0, surrogates, > U+10FFFF, C1 code points in cp1252 and non-characters) and the named entities
//      of a built-in table: the HTML 4 set (Latin-1, symbols, Greek, punctuation; those valid without ';' are
//      unescaped without it too, with the HTML5 longest-prefix rule) plus apos and a few HTML5 names. Names
//      outside the table are left as they are (Python knows all 2231 HTML5 names).
//   3. strip, collapse every run of Unicode whitespace (the White_Space property, as the `regex` module's \s)
//      into one ASCII space, strip.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ditstudio {

class UMT5Tokenizer {
public:
    // `path`: a spiece.model file, a HuggingFace tokenizer.json (Unigram; see tokenizer_json.h), or a tokenizer
    // folder (google/umt5-xxl) holding either (spiece.model preferred). Failures name the file and quote
    // SentencePiece's message.
    static UMT5Tokenizer fromFile(const std::filesystem::path& path);

    struct Encoded {
        at::Tensor ids;  // [1, L] int64: pieces, EOS, then pad ids
        at::Tensor mask; // [1, L] int64: 1 for the pieces and the EOS, 0 for padding
        int64_t validTokens = 0;
        bool truncated = false; // more than L − 1 pieces: the first L − 1 are kept, then EOS
    };
    // Thread-safe (SentencePiece encoding is const). seqLen ≥ 1, else ConfigError.
    Encoded encode(const std::string& prompt, int64_t seqLen = 512) const;
    // The pieces of an already cleaned text, without EOS (for tests and the CLI).
    std::vector<int> pieces(const std::string& cleanedText) const;
    // Text of piece ids (control ids such as EOS and pad decode to nothing).
    std::string decode(const std::vector<int>& ids) const;
    static std::string cleanPrompt(const std::string& prompt);

    int eosId() const { return eosId_; }
    int padId() const { return padId_; }
    int vocabSize() const;
    const std::filesystem::path& modelPath() const { return modelPath_; }

    UMT5Tokenizer(UMT5Tokenizer&&) noexcept;
    UMT5Tokenizer& operator=(UMT5Tokenizer&&) noexcept;
    ~UMT5Tokenizer();

private:
    UMT5Tokenizer();
    std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
    std::filesystem::path modelPath_;
    int eosId_ = 1;
    int padId_ = 0;
};

} // namespace ditstudio
