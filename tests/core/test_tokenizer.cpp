// UMT5 tokenizer: the reference's clean-up (spec §4.1) and the ids/mask layout, on a SentencePiece model that the
// test trains with the library itself (unigram, ~200 pieces, umt5's id layout: pad 0, EOS 1, unk 2, no BOS).
#include "core/tokenizer/umt5_tokenizer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <QtTest/QtTest>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <sstream>
#include <memory>

using namespace ditstudio;

namespace {

// Words the model is trained on: English, Chinese, Arabic and emoji, so every test character is in the vocabulary.
const char* kCorpus[] = {
    "a cat walks on the green grass in the sunshine",
    "the dog runs quickly across the field and jumps over the fence",
    "Tom & Jerry chase each other around the kitchen table",
    "a red car drives along the coast road at sunset, waves crash on the rocks",
    "close-up of a flower opening its petals in slow motion, <3 \"quoted\" it's",
    "一只猫在草地上散步，阳光明媚",
    "小狗在田野里快速奔跑",
    "قطة تمشي على العشب الأخضر",
    "الكلب يركض بسرعة في الحقل",
    "🐱 🐶 🌸 🚗 a cat 🐱 and a dog 🐶",
    "Crème brûlée, café, naïve: ¬ © ® é ü",
};

// The bytes of NormalizerSpec.precompiled_charsmap (ModelProto field 3 → field 2) in a serialized spiece.model:
// what HuggingFace's converter copies into tokenizer.json.
std::string precompiledCharsmap(const std::string& proto) {
    auto readVarint = [](const std::string& b, size_t& i) {
        uint64_t v = 0;
        for (int shift = 0; i < b.size(); shift += 7) {
            const auto byte = static_cast<unsigned char>(b[i++]);
            v |= static_cast<uint64_t>(byte & 0x7F) << shift;
            if (!(byte & 0x80)) {
                break;
            }
        }
        return v;
    };
    // Returns the payload of the first length-delimited field `number` of `message`.
    auto findBytes = [&](const std::string& message, uint64_t number) -> std::string {
        size_t i = 0;
        while (i < message.size()) {
            const uint64_t key = readVarint(message, i);
            const uint64_t wire = key & 7;
            if (wire == 0) {
                readVarint(message, i);
            } else if (wire == 1) {
                i += 8;
            } else if (wire == 5) {
                i += 4;
            } else if (wire == 2) {
                const size_t length = readVarint(message, i);
                if ((key >> 3) == number) {
                    return message.substr(i, length);
                }
                i += length;
            } else {
                return {};
            }
        }
        return {};
    };
    return findBytes(findBytes(proto, 3), 2);
}

std::string base64(const std::string& bytes) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                           uint32_t(uint8_t(bytes[i + 2]));
        for (int k = 3; k >= 0; --k) {
            out.push_back(kAlphabet[(v >> (6 * k)) & 63]);
        }
    }
    if (i < bytes.size()) {
        uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
        if (i + 1 < bytes.size()) {
            v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
        }
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

} // namespace

class TokenizerTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        const std::string corpus = dir_.filePath("corpus.txt").toStdString();
        {
            std::ofstream out(corpus);
            for (int repeat = 0; repeat < 20; ++repeat) {
                for (const char* line : kCorpus) {
                    out << line << "\n";
                }
            }
        }
        const std::string prefix = dir_.filePath("spiece").toStdString();
        const auto status = sentencepiece::SentencePieceTrainer::Train(
            "--input=" + corpus + " --model_prefix=" + prefix +
            " --model_type=unigram --vocab_size=200 --hard_vocab_limit=false --character_coverage=1.0"
            " --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --minloglevel=2");
        QVERIFY2(status.ok(), status.ToString().c_str());
        QVERIFY(QDir(dir_.path()).mkpath("tok"));
        QVERIFY(QFile::rename(dir_.filePath("spiece.model"), dir_.filePath("tok/spiece.model")));
        tokenizer_ = std::make_unique<UMT5Tokenizer>(UMT5Tokenizer::fromFile(dir_.filePath("tok").toStdString()));
        writeTokenizerJson(dir_.filePath("tok/spiece.model").toStdString(), dir_.filePath("json/tokenizer.json"));
        QCOMPARE(tokenizer_->eosId(), 1);
        QCOMPARE(tokenizer_->padId(), 0);
    }

    void emptyPromptIsEosThenPadding() {
        const auto e = tokenizer_->encode("");
        QCOMPARE(e.ids.sizes().vec(), (std::vector<int64_t>{1, 512}));
        QCOMPARE(e.mask.sizes().vec(), (std::vector<int64_t>{1, 512}));
        QCOMPARE(e.ids.scalar_type(), at::kLong);
        QCOMPARE(e.mask.scalar_type(), at::kLong);
        QCOMPARE(e.validTokens, int64_t(1));
        QVERIFY(!e.truncated);
        QCOMPARE(e.ids[0][0].item<int64_t>(), int64_t(1));
        QCOMPARE(e.ids.slice(1, 1).abs().sum().item<int64_t>(), int64_t(0));
        QCOMPARE(e.mask[0][0].item<int64_t>(), int64_t(1));
        QCOMPARE(e.mask.sum().item<int64_t>(), int64_t(1));
    }

    void onlyWhitespaceIsLikeTheEmptyPrompt() {
        const auto e = tokenizer_->encode(" \t\n\r\f\v\u00a0\u2003\u3000  ");
        QVERIFY(at::equal(e.ids, tokenizer_->encode("").ids));
        QCOMPARE(e.validTokens, int64_t(1));
    }

    void idsAndMaskLayout() {
        const std::string text = "a cat walks on the grass";
        const auto pieces = tokenizer_->pieces(text);
        QVERIFY(!pieces.empty());
        const auto e = tokenizer_->encode(text, 32);
        const int64_t n = static_cast<int64_t>(pieces.size());
        QCOMPARE(e.ids.sizes().vec(), (std::vector<int64_t>{1, 32}));
        QCOMPARE(e.validTokens, n + 1);
        for (int64_t i = 0; i < 32; ++i) {
            const int64_t expected = i < n ? pieces[i] : (i == n ? 1 : 0);
            QCOMPARE(e.ids[0][i].item<int64_t>(), expected);
            QCOMPARE(e.mask[0][i].item<int64_t>(), int64_t(i <= n ? 1 : 0));
        }
        QCOMPARE(tokenizer_->decode(pieces), text);
        QVERIFY_THROWS_EXCEPTION(ConfigError, tokenizer_->encode(text, 0));
    }

    void overlongPromptKeepsEos() {
        std::string text;
        for (int i = 0; i < 400; ++i) {
            text += "the dog runs quickly ";
        }
        const auto pieces = tokenizer_->pieces(UMT5Tokenizer::cleanPrompt(text));
        QVERIFY(pieces.size() > 512);
        const auto e = tokenizer_->encode(text);
        QVERIFY(e.truncated);
        QCOMPARE(e.validTokens, int64_t(512));
        QCOMPARE(e.ids[0][511].item<int64_t>(), int64_t(1));
        QCOMPARE(e.mask.sum().item<int64_t>(), int64_t(512));
        for (int64_t i = 0; i < 511; ++i) {
            QCOMPARE(e.ids[0][i].item<int64_t>(), int64_t(pieces[i]));
        }
        // Exactly 511 pieces fit without truncation; 512 do not.
        const auto fit = tokenizer_->encode(text, static_cast<int64_t>(pieces.size()) + 1);
        QVERIFY(!fit.truncated);
        QCOMPARE(fit.validTokens, static_cast<int64_t>(pieces.size()) + 1);
        QVERIFY(tokenizer_->encode(text, static_cast<int64_t>(pieces.size())).truncated);
    }

    void nonLatinScriptsAndEmojiRoundTrip_data() {
        QTest::addColumn<QString>("text");
        QTest::newRow("chinese") << QString::fromUtf8("一只猫在草地上散步");
        QTest::newRow("arabic") << QString::fromUtf8("قطة تمشي على العشب");
        QTest::newRow("emoji") << QString::fromUtf8("🐱 and 🐶 🌸");
        QTest::newRow("mixed") << QString::fromUtf8("a cat 一只猫 قطة 🐱");
        QTest::newRow("accents") << QString::fromUtf8("Crème brûlée, café");
    }
    void nonLatinScriptsAndEmojiRoundTrip() {
        QFETCH(QString, text);
        const std::string utf8 = text.toStdString();
        const auto e = tokenizer_->encode(utf8);
        std::vector<int> ids;
        for (int64_t i = 0; i < e.validTokens - 1; ++i) {
            ids.push_back(static_cast<int>(e.ids[0][i].item<int64_t>()));
        }
        QVERIFY(!ids.empty());
        QVERIFY2(std::find(ids.begin(), ids.end(), 2) == ids.end(), "no unknown pieces for trained characters");
        QCOMPARE(QString::fromStdString(tokenizer_->decode(ids)), text);
        QCOMPARE(e.ids[0][e.validTokens - 1].item<int64_t>(), int64_t(1));
    }

    void unseenCharacterIsUnknownNotAnError() {
        const auto pieces = tokenizer_->pieces("\xF0\x9F\xA6\x84"); // 🦄, not in the training text
        QVERIFY(std::find(pieces.begin(), pieces.end(), 2) != pieces.end());
    }

    void cleanPromptFollowsTheReference_data() {
        QTest::addColumn<QString>("input");
        QTest::addColumn<QString>("expected");
        auto row = [](const char* name, const char* in, const char* out) {
            QTest::newRow(name) << QString::fromUtf8(in) << QString::fromUtf8(out);
        };
        row("double-escaped ampersand", "Tom &amp;amp; Jerry", "Tom & Jerry");
        row("ftfy unescapes a third time without '<'", "a &amp;amp;amp; b", "a & b");
        row("no third pass when '<' appears", "<3 &amp;amp;amp; b", "<3 &amp; b");
        row("named entities", "&lt;3 &quot;hi&quot; &copy; &eacute;t&eacute; &hellip; &euro;5",
            "<3 \"hi\" \u00a9 \u00e9t\u00e9 \u2026 \u20ac5");
        row("legacy name without semicolon", "caf&eacute au lait &amp co", "caf\u00e9 au lait & co");
        row("longest legacy prefix", "&notit; &ampfoo", "\u00acit; &foo");
        row("unknown names stay", "&hellip &nosuchentity; & alone", "&hellip &nosuchentity; & alone");
        row("numeric references", "&#72;&#x69;&#X21; &#20013;&#x6587;", "Hi! \u4e2d\u6587");
        row("numeric without semicolon", "&#72i", "Hi");
        row("numeric edge cases", "a&#0;b&#xD800;c&#1114112;d&#x1;e&#65535;f", "a\ufffdb\ufffdc\ufffdde" "f");
        row("cp1252 reference then uncurled", "it&#x92;s &#147;ok&#148; &#128;", "it's \"ok\" \u20ac");
        row("curly quotes straightened", "\u2018single\u2019 \u201cdouble\u201d", "'single' \"double\"");
        row("terminal escapes removed", "\x1b[36;44mblue\x1b[0m sky", "blue sky");
        row("control characters removed", "a\x01" "b\x7f" "c\xef\xbb\xbf" "d", "abcd");
        row("whitespace runs collapse", "  a \t\n b\u00a0\u2003c\u3000\u3000d\r\n", "a b c d");
        row("entity whitespace collapses", "a&nbsp;&nbsp;b&#10;c", "a b c");
        row("invalid utf-8 becomes U+FFFD", "a\xff" "b\xc3", "a\ufffdb\ufffd");
        row("no lower-casing or punctuation changes", "Hello, World!", "Hello, World!");
    }
    void cleanPromptFollowsTheReference() {
        QFETCH(QString, input);
        QFETCH(QString, expected);
        // QString cannot hold invalid UTF-8: the invalid row is written as raw bytes.
        std::string raw = input.toStdString();
        if (QTest::currentDataTag() == QString("invalid utf-8 becomes U+FFFD")) {
            raw = "a\xff" "b\xc3";
        }
        QCOMPARE(QString::fromStdString(UMT5Tokenizer::cleanPrompt(raw)), expected);
    }

    void entitiesTokeniseLikeTheirCharacters() {
        QVERIFY(at::equal(tokenizer_->encode("Tom &amp;amp; Jerry").ids, tokenizer_->encode("Tom & Jerry").ids));
        QVERIFY(at::equal(tokenizer_->encode("  a   cat\n").ids, tokenizer_->encode("a cat").ids));
    }

    void tokenizerJsonGivesTheSameIdsAsSpieceModel_data() {
        QTest::addColumn<QString>("text");
        for (const char* line : kCorpus) {
            QTest::newRow(line) << QString::fromUtf8(line);
        }
        QTest::newRow("empty") << QString();
        QTest::newRow("entities") << QString::fromUtf8("Tom &amp;amp; Jerry &eacute; &#x1F431;");
        QTest::newRow("unseen") << QString::fromUtf8("\xF0\x9F\xA6\x84 zebra QXZ");
        QTest::newRow("full width") << QString::fromUtf8("\xEF\xBC\xA1\xEF\xBC\xA2 a cat");
        // Only the model's NFKC charsmap turns these into trained characters (circled three → 3, e + U+0301 → é).
        QTest::newRow("nfkc from the charsmap") << QString::fromUtf8("<\xE2\x91\xA2 caf" "e\xCC\x81");
    }
    void tokenizerJsonGivesTheSameIdsAsSpieceModel() {
        QFETCH(QString, text);
        // A folder with only tokenizer.json (as HuggingFace writes it for a Unigram model) is read too.
        const auto fromJson = UMT5Tokenizer::fromFile(dir_.filePath("json").toStdString());
        QCOMPARE(fromJson.vocabSize(), tokenizer_->vocabSize());
        const auto a = tokenizer_->encode(text.toStdString(), 64);
        const auto b = fromJson.encode(text.toStdString(), 64);
        QVERIFY2(at::equal(a.ids, b.ids), qPrintable(text));
        QVERIFY(at::equal(a.mask, b.mask));
    }

    void tokenizerJsonErrorsNameTheField() {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        auto expectError = [&](const std::string& json, const QString& fragment) {
            const QString path = tmp.filePath("tokenizer.json");
            QFile::remove(path);
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(json.c_str());
            f.close();
            try {
                UMT5Tokenizer::fromFile(path.toStdString());
                QFAIL(qPrintable("expected a FormatError for " + QString::fromStdString(json)));
            } catch (const FormatError& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
                QVERIFY2(QString(e.what()).contains("tokenizer.json"), e.what());
            }
        };
        expectError("{}", "no \"model\" object");
        expectError("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", "only Unigram");
        expectError("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0.0]]}}",
                    "no \"</s>\"");
        expectError("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"<unk>\", 0.0]]}}",
                    "unk_id 5 is outside");
        expectError("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\"]]}}",
                    "model.vocab[0] must be [piece, score]");
        expectError("{\"model\"", "not well-formed JSON");
    }

    void fileErrorsAreClear() {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        {
            QFile json(tmp.filePath("tokenizer.json"));
            QVERIFY(json.open(QIODevice::WriteOnly));
            json.write("{}");
        }
        auto expectFormatError = [](const std::string& path, const QString& fragment) {
            try {
                UMT5Tokenizer::fromFile(path);
                QFAIL(qPrintable("expected a FormatError for " + QString::fromStdString(path)));
            } catch (const FormatError& e) {
                QVERIFY2(QString(e.what()).contains(fragment), e.what());
            }
        };
        expectFormatError(tmp.path().toStdString(), "no \"model\" object");
        QVERIFY(QFile::remove(tmp.filePath("tokenizer.json")));
        expectFormatError(tmp.path().toStdString(), "no spiece.model or tokenizer.json");
        expectFormatError(tmp.filePath("nothing-here").toStdString(), "no such tokenizer");
        {
            QFile bad(tmp.filePath("bad.model"));
            QVERIFY(bad.open(QIODevice::WriteOnly));
            bad.write("this is not a protobuf");
        }
        expectFormatError(tmp.filePath("bad.model").toStdString(), "not a SentencePiece model");
    }

private:
    // tokenizer.json in the layout HuggingFace's T5 converter writes (transformers 5 / tokenizers 0.23).
    static void writeTokenizerJson(const std::string& spieceModel, const QString& path) {
        std::ifstream in(spieceModel, std::ios::binary);
        std::stringstream bytes;
        bytes << in.rdbuf();
        sentencepiece::SentencePieceProcessor sp;
        QVERIFY(sp.LoadFromSerializedProto(bytes.str()).ok());
        nlohmann::json vocab = nlohmann::json::array();
        for (int i = 0; i < sp.GetPieceSize(); ++i) {
            vocab.push_back({sp.IdToPiece(i), sp.GetScore(i)});
        }
        const std::string charsmap = precompiledCharsmap(bytes.str());
        QVERIFY(!charsmap.empty());
        auto added = [](int id, const char* content) {
            return nlohmann::json{{"id", id},        {"content", content}, {"single_word", false}, {"lstrip", false},
                                  {"rstrip", false}, {"normalized", false}, {"special", true}};
        };
        const nlohmann::json metaspace = {
            {"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}, {"split", true}};
        const nlohmann::json json = {
            {"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", {added(0, "<pad>"), added(1, "</s>")}},
            {"normalizer",
             {{"type", "Sequence"},
              {"normalizers",
               {{{"type", "Precompiled"}, {"precompiled_charsmap", base64(charsmap)}},
                {{"type", "Strip"}, {"strip_left", false}, {"strip_right", true}},
                {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", "\u2581"}}}}}},
            {"pre_tokenizer", metaspace},
            {"post_processor", nullptr},
            {"decoder", metaspace},
            {"model", {{"type", "Unigram"}, {"unk_id", 2}, {"vocab", vocab}, {"byte_fallback", false}}}};
        QVERIFY(QDir().mkpath(QFileInfo(path).path()));
        std::ofstream(path.toStdString()) << json.dump();
    }

    QTemporaryDir dir_;
    std::unique_ptr<UMT5Tokenizer> tokenizer_;
};

QTEST_GUILESS_MAIN(TokenizerTest)
#include "test_tokenizer.moc"
