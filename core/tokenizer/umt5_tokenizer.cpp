#include "core/tokenizer/umt5_tokenizer.h"

#include "core/tokenizer/tokenizer_json.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <sentencepiece_processor.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace ditstudio {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------- UTF-8

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Invalid sequences (bad lead byte, truncated, overlong, surrogate, > U+10FFFF) become one U+FFFD per bad byte.
std::u32string decodeUtf8(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        int length = 0;
        char32_t cp = 0;
        char32_t minimum = 0;
        if (b0 < 0x80) {
            out.push_back(b0);
            ++i;
            continue;
        } else if ((b0 & 0xE0) == 0xC0) {
            length = 2, cp = b0 & 0x1F, minimum = 0x80;
        } else if ((b0 & 0xF0) == 0xE0) {
            length = 3, cp = b0 & 0x0F, minimum = 0x800;
        } else if ((b0 & 0xF8) == 0xF0) {
            length = 4, cp = b0 & 0x07, minimum = 0x10000;
        }
        bool valid = length > 0 && i + length <= s.size();
        for (int k = 1; valid && k < length; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            valid = (b & 0xC0) == 0x80;
            cp = (cp << 6) | (b & 0x3F);
        }
        valid = valid && cp >= minimum && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (valid) {
            out.push_back(cp);
            i += length;
        } else {
            out.push_back(kReplacement);
            ++i;
        }
    }
    return out;
}

void appendUtf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string encodeUtf8(const std::u32string& s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t cp : s) {
        appendUtf8(out, cp);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------- character classes

// Unicode White_Space: what the `regex` module's \s matches.
bool isWhiteSpace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Python's str.isspace (what str.strip removes): White_Space plus the separators U+001C–001F.
bool isPythonSpace(char32_t c) { return isWhiteSpace(c) || (c >= 0x1C && c <= 0x1F); }

// ftfy's remove_control_chars set.
bool isRemovedControl(char32_t c) {
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
           c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

// Windows-1252 meaning of the C1 code points U+0080–U+009F (0 = undefined in cp1252: kept as is). Used by
// html.unescape for numeric references and by ftfy's fix_c1_controls.
constexpr char32_t kCp1252C1[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E,
    0x0178};

char32_t c1ToCp1252(char32_t c) {
    if (c >= 0x80 && c <= 0x9F && kCp1252C1[c - 0x80] != 0) {
        return kCp1252C1[c - 0x80];
    }
    return c;
}

// ---------------------------------------------------------------------------------------------- HTML entities

struct NamedEntity {
    const char* name;
    char32_t codePoint;
};

// U+00A0..U+00FF in order: the HTML 4 Latin-1 names, all of which HTML5 also accepts without ';'.
constexpr const char* kLatin1Names[96] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",   "ordf",
    "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",   "acute",  "micro",
    "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12", "frac34", "iquest", "Agrave",
    "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute", "Ecirc",  "Euml",
    "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",
    "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute",
    "acirc",  "atilde", "auml",   "aring",  "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave",
    "iacute", "icirc",  "iuml",   "eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide",
    "oslash", "ugrave", "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};

// Other names HTML5 accepts without ';'.
constexpr NamedEntity kLegacyOther[] = {{"amp", '&'},  {"lt", '<'},    {"gt", '>'},   {"quot", '"'},
                                        {"AMP", '&'},  {"LT", '<'},    {"GT", '>'},   {"QUOT", '"'},
                                        {"COPY", 0xA9}, {"REG", 0xAE}};

// Names that need the ';': the rest of HTML 4 (symbols, Greek, punctuation, arrows, maths) and a few HTML5 ones.
constexpr NamedEntity kSemicolonOnly[] = {
    {"apos", '\''},      {"Tab", '\t'},       {"NewLine", '\n'},   {"OElig", 0x152},   {"oelig", 0x153},
    {"Scaron", 0x160},   {"scaron", 0x161},   {"Yuml", 0x178},     {"fnof", 0x192},    {"circ", 0x2C6},
    {"tilde", 0x2DC},    {"ensp", 0x2002},    {"emsp", 0x2003},    {"thinsp", 0x2009}, {"zwnj", 0x200C},
    {"zwj", 0x200D},     {"lrm", 0x200E},     {"rlm", 0x200F},     {"ndash", 0x2013},  {"mdash", 0x2014},
    {"lsquo", 0x2018},   {"rsquo", 0x2019},   {"sbquo", 0x201A},   {"ldquo", 0x201C},  {"rdquo", 0x201D},
    {"bdquo", 0x201E},   {"dagger", 0x2020},  {"Dagger", 0x2021},  {"bull", 0x2022},   {"hellip", 0x2026},
    {"permil", 0x2030},  {"prime", 0x2032},   {"Prime", 0x2033},   {"lsaquo", 0x2039}, {"rsaquo", 0x203A},
    {"oline", 0x203E},   {"frasl", 0x2044},   {"euro", 0x20AC},    {"image", 0x2111},  {"weierp", 0x2118},
    {"real", 0x211C},    {"trade", 0x2122},   {"alefsym", 0x2135}, {"larr", 0x2190},   {"uarr", 0x2191},
    {"rarr", 0x2192},    {"darr", 0x2193},    {"harr", 0x2194},    {"crarr", 0x21B5},  {"lArr", 0x21D0},
    {"uArr", 0x21D1},    {"rArr", 0x21D2},    {"dArr", 0x21D3},    {"hArr", 0x21D4},   {"forall", 0x2200},
    {"part", 0x2202},    {"exist", 0x2203},   {"empty", 0x2205},   {"nabla", 0x2207},  {"isin", 0x2208},
    {"notin", 0x2209},   {"ni", 0x220B},      {"prod", 0x220F},    {"sum", 0x2211},    {"minus", 0x2212},
    {"lowast", 0x2217},  {"radic", 0x221A},   {"prop", 0x221D},    {"infin", 0x221E},  {"ang", 0x2220},
    {"and", 0x2227},     {"or", 0x2228},      {"cap", 0x2229},     {"cup", 0x222A},    {"int", 0x222B},
    {"there4", 0x2234},  {"sim", 0x223C},     {"cong", 0x2245},    {"asymp", 0x2248},  {"ne", 0x2260},
    {"equiv", 0x2261},   {"le", 0x2264},      {"ge", 0x2265},      {"sub", 0x2282},    {"sup", 0x2283},
    {"nsub", 0x2284},    {"sube", 0x2286},    {"supe", 0x2287},    {"oplus", 0x2295},  {"otimes", 0x2297},
    {"perp", 0x22A5},    {"sdot", 0x22C5},    {"lceil", 0x2308},   {"rceil", 0x2309},  {"lfloor", 0x230A},
    {"rfloor", 0x230B},  {"lang", 0x27E8},    {"rang", 0x27E9},    {"loz", 0x25CA},    {"spades", 0x2660},
    {"clubs", 0x2663},   {"hearts", 0x2665},  {"diams", 0x2666},   {"thetasym", 0x3D1}, {"upsih", 0x3D2},
    {"piv", 0x3D6},      {"Alpha", 0x391},    {"Beta", 0x392},     {"Gamma", 0x393},   {"Delta", 0x394},
    {"Epsilon", 0x395},  {"Zeta", 0x396},     {"Eta", 0x397},      {"Theta", 0x398},   {"Iota", 0x399},
    {"Kappa", 0x39A},    {"Lambda", 0x39B},   {"Mu", 0x39C},       {"Nu", 0x39D},      {"Xi", 0x39E},
    {"Omicron", 0x39F},  {"Pi", 0x3A0},       {"Rho", 0x3A1},      {"Sigma", 0x3A3},   {"Tau", 0x3A4},
    {"Upsilon", 0x3A5},  {"Phi", 0x3A6},      {"Chi", 0x3A7},      {"Psi", 0x3A8},     {"Omega", 0x3A9},
    {"alpha", 0x3B1},    {"beta", 0x3B2},     {"gamma", 0x3B3},    {"delta", 0x3B4},   {"epsilon", 0x3B5},
    {"zeta", 0x3B6},     {"eta", 0x3B7},      {"theta", 0x3B8},    {"iota", 0x3B9},    {"kappa", 0x3BA},
    {"lambda", 0x3BB},   {"mu", 0x3BC},       {"nu", 0x3BD},       {"xi", 0x3BE},      {"omicron", 0x3BF},
    {"pi", 0x3C0},       {"rho", 0x3C1},      {"sigmaf", 0x3C2},   {"sigma", 0x3C3},   {"tau", 0x3C4},
    {"upsilon", 0x3C5},  {"phi", 0x3C6},      {"chi", 0x3C7},      {"psi", 0x3C8},     {"omega", 0x3C9}};

struct EntityTable {
    std::unordered_map<std::u32string, char32_t> withSemicolon; // "amp;" → '&'
    std::unordered_map<std::u32string, char32_t> bare;          // "amp" → '&' (legacy names only)

    EntityTable() {
        auto add = [&](const char* name, char32_t cp, bool legacy) {
            std::u32string key(name, name + std::char_traits<char>::length(name));
            if (legacy) {
                bare.emplace(key, cp);
            }
            withSemicolon.emplace(key + U";", cp);
        };
        for (int i = 0; i < 96; ++i) {
            add(kLatin1Names[i], static_cast<char32_t>(0xA0 + i), true);
        }
        for (const auto& e : kLegacyOther) {
            add(e.name, e.codePoint, true);
        }
        for (const auto& e : kSemicolonOnly) {
            add(e.name, e.codePoint, false);
        }
    }
};

const EntityTable& entities() {
    static const EntityTable table;
    return table;
}

bool isEntityNameChar(char32_t c) {
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
}

bool isNonCharacter(char32_t c) { return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE; }

// Python's html.unescape replacement for a numeric reference (empty = removed).
std::u32string numericReference(char32_t value, bool overflow) {
    if (!overflow && value <= 0x9F && (value == 0x00 || value == 0x0D || value >= 0x80)) {
        if (value == 0x00) {
            return std::u32string(1, kReplacement);
        }
        return std::u32string(1, value == 0x0D ? value : c1ToCp1252(value));
    }
    if (overflow || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        return std::u32string(1, kReplacement);
    }
    if ((value >= 0x01 && value <= 0x08) || value == 0x0B || (value >= 0x0E && value <= 0x1F) || value == 0x7F ||
        isNonCharacter(value)) {
        return {};
    }
    return std::u32string(1, value);
}

// One pass of Python's html.unescape over decoded text.
std::u32string unescapeHtml(const std::u32string& s) {
    if (s.find(U'&') == std::u32string::npos) {
        return s;
    }
    const auto& table = entities();
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        if (s[i] != U'&') {
            out.push_back(s[i++]);
            continue;
        }
        const size_t start = i + 1;
        if (start < s.size() && s[start] == U'#') {
            // &#123;  &#x1F600;  (';' optional)
            size_t p = start + 1;
            const bool hex = p < s.size() && (s[p] == U'x' || s[p] == U'X');
            p += hex ? 1 : 0;
            const size_t digitsBegin = p;
            char32_t value = 0;
            bool overflow = false;
            while (p < s.size()) {
                const char32_t c = s[p];
                int digit = -1;
                if (c >= U'0' && c <= U'9') {
                    digit = static_cast<int>(c - U'0');
                } else if (hex && c >= U'a' && c <= U'f') {
                    digit = static_cast<int>(c - U'a') + 10;
                } else if (hex && c >= U'A' && c <= U'F') {
                    digit = static_cast<int>(c - U'A') + 10;
                }
                if (digit < 0) {
                    break;
                }
                value = value * (hex ? 16 : 10) + static_cast<char32_t>(digit);
                overflow = overflow || value > 0x10FFFF;
                if (overflow) {
                    value = 0x110000; // keep it bounded; only "too big" matters from here
                }
                ++p;
            }
            if (p == digitsBegin) { // "&#" or "&#x" without digits: not a reference
                out.push_back(U'&');
                i = start;
                continue;
            }
            if (p < s.size() && s[p] == U';') {
                ++p;
            }
            out += numericReference(value, overflow);
            i = p;
            continue;
        }
        // Named: up to 32 name characters, then an optional ';'.
        size_t p = start;
        while (p < s.size() && p - start < 32 && isEntityNameChar(s[p])) {
            ++p;
        }
        if (p == start) {
            out.push_back(U'&');
            i = start;
            continue;
        }
        if (p < s.size() && s[p] == U';') {
            ++p;
        }
        const std::u32string name = s.substr(start, p - start);
        if (auto it = table.withSemicolon.find(name); it != table.withSemicolon.end()) {
            out.push_back(it->second);
        } else if (auto bare = table.bare.find(name); bare != table.bare.end()) {
            out.push_back(bare->second);
        } else {
            // The HTML5 rule: the longest prefix (of at least 2 characters) that is a legacy name.
            bool replaced = false;
            for (size_t x = name.size() - 1; x >= 2; --x) {
                if (auto prefix = table.bare.find(name.substr(0, x)); prefix != table.bare.end()) {
                    out.push_back(prefix->second);
                    out += name.substr(x);
                    replaced = true;
                    break;
                }
            }
            if (!replaced) {
                out.push_back(U'&');
                out += name;
            }
        }
        i = p;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------- ftfy subset

std::u32string removeTerminalEscapes(const std::u32string& s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        if (s[i] == 0x1B && i + 1 < s.size() && s[i + 1] == U'[') {
            size_t p = i + 2;
            while (p < s.size() && ((s[p] >= U'0' && s[p] <= U'9') || s[p] == U';')) {
                ++p;
            }
            if (p < s.size() && ((s[p] >= U'a' && s[p] <= U'z') || (s[p] >= U'A' && s[p] <= U'Z'))) {
                i = p + 1;
                continue;
            }
        }
        out.push_back(s[i++]);
    }
    return out;
}

// ftfy's fix_latin_ligatures: the Latin ligatures and digraphs spelt out (their NFKC forms).
std::u32string_view latinLigature(char32_t c) {
    switch (c) {
    case 0x0132: return U"IJ";
    case 0x0133: return U"ij";
    case 0x013F: return U"L\u00b7";
    case 0x0140: return U"l\u00b7";
    case 0x0149: return U"\u02bcn";
    case 0x01C4: return U"D\u017d";
    case 0x01C5: return U"D\u017e";
    case 0x01C6: return U"d\u017e";
    case 0x01C7: return U"LJ";
    case 0x01C8: return U"Lj";
    case 0x01C9: return U"lj";
    case 0x01CA: return U"NJ";
    case 0x01CB: return U"Nj";
    case 0x01CC: return U"nj";
    case 0x01F1: return U"DZ";
    case 0x01F2: return U"Dz";
    case 0x01F3: return U"dz";
    case 0xFB00: return U"ff";
    case 0xFB01: return U"fi";
    case 0xFB02: return U"fl";
    case 0xFB03: return U"ffi";
    case 0xFB04: return U"ffl";
    case 0xFB05: return U"st";
    case 0xFB06: return U"st";
    default: return {};
    }
}

// ftfy's fix_character_width for the full-width ASCII block, the full-width signs and the ideographic space
// (half-width katakana/hangul are left to the SentencePiece normaliser).
char32_t fullWidthToNarrow(char32_t c) {
    if (c >= 0xFF01 && c <= 0xFF5E) {
        return c - 0xFF01 + 0x21;
    }
    switch (c) {
    case 0x3000: return U' ';
    case 0xFFE0: return 0xA2;
    case 0xFFE1: return 0xA3;
    case 0xFFE2: return 0xAC;
    case 0xFFE4: return 0xA6;
    case 0xFFE5: return 0xA5;
    case 0xFFE6: return 0x20A9;
    default: return c;
    }
}

// ftfy's uncurl_quotes.
char32_t uncurl(char32_t c) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
        return U'\'';
    }
    if (c >= 0x201C && c <= 0x201F) {
        return U'"';
    }
    return c;
}

std::u32string ftfySubset(std::u32string s) {
    s = removeTerminalEscapes(s);
    if (s.find(U'<') == std::u32string::npos) {
        s = unescapeHtml(s);
    }
    std::u32string out;
    out.reserve(s.size());
    auto emit = [&](char32_t c) {
        c = uncurl(fullWidthToNarrow(c));
        if (!isRemovedControl(c)) {
            out.push_back(c);
        }
    };
    for (char32_t c : s) {
        c = c1ToCp1252(c);
        if (const auto spelt = latinLigature(c); !spelt.empty()) {
            for (char32_t part : spelt) {
                emit(part);
            }
        } else {
            emit(c);
        }
    }
    return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------- tokenizer

std::string UMT5Tokenizer::cleanPrompt(const std::string& prompt) {
    std::u32string text = ftfySubset(decodeUtf8(prompt));
    text = unescapeHtml(unescapeHtml(text));
    // strip, collapse runs of whitespace, strip: the collapsed text has no leading/trailing space to strip.
    std::u32string out;
    out.reserve(text.size());
    size_t begin = 0, end = text.size();
    while (begin < end && isPythonSpace(text[begin])) {
        ++begin;
    }
    while (end > begin && isPythonSpace(text[end - 1])) {
        --end;
    }
    bool inSpace = false;
    for (size_t i = begin; i < end; ++i) {
        if (isWhiteSpace(text[i])) {
            inSpace = true;
            continue;
        }
        if (inSpace && !out.empty()) {
            out.push_back(U' ');
        }
        inSpace = false;
        out.push_back(text[i]);
    }
    return encodeUtf8(out);
}

UMT5Tokenizer::UMT5Tokenizer() : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
UMT5Tokenizer::UMT5Tokenizer(UMT5Tokenizer&&) noexcept = default;
UMT5Tokenizer& UMT5Tokenizer::operator=(UMT5Tokenizer&&) noexcept = default;
UMT5Tokenizer::~UMT5Tokenizer() = default;

UMT5Tokenizer UMT5Tokenizer::fromFile(const fs::path& path) {
    fs::path model = path;
    if (fs::is_directory(path)) {
        model = path / "spiece.model";
        if (!fs::exists(model)) {
            model = path / "tokenizer.json";
        }
        if (!fs::exists(model)) {
            throw FormatError(fmt::format("{}: no spiece.model or tokenizer.json in this tokenizer folder",
                                          path.string()));
        }
    } else if (!fs::exists(path)) {
        throw FormatError(fmt::format("{}: no such tokenizer file or folder", path.string()));
    }
    UMT5Tokenizer t;
    t.modelPath_ = model;
    if (model.extension() == ".json") {
        const std::string proto = sentencePieceProtoFromTokenizerJson(model);
        const auto status = t.processor_->LoadFromSerializedProto(proto);
        if (!status.ok()) {
            throw FormatError(fmt::format("{}: SentencePiece rejected the model converted from this tokenizer.json: {}",
                                          model.string(), status.ToString()));
        }
    } else {
        const auto status = t.processor_->Load(model.string());
        if (!status.ok()) {
            throw FormatError(fmt::format("{}: not a SentencePiece model: {}", model.string(), status.ToString()));
        }
    }
    t.eosId_ = t.processor_->eos_id();
    if (t.eosId_ < 0) {
        throw FormatError(fmt::format("{}: the SentencePiece model has no EOS piece (the umt5 model has </s> = 1)",
                                      model.string()));
    }
    t.padId_ = t.processor_->pad_id() >= 0 ? t.processor_->pad_id() : 0;
    if (t.eosId_ != 1 || t.padId_ != 0) {
        spdlog::warn("{}: EOS id {} and pad id {} differ from umt5-xxl's 1 and 0", model.string(), t.eosId_,
                     t.padId_);
    }
    spdlog::info("tokenizer {}: {} pieces, EOS {}, pad {}", model.string(), t.processor_->GetPieceSize(), t.eosId_,
                 t.padId_);
    return t;
}

int UMT5Tokenizer::vocabSize() const { return processor_->GetPieceSize(); }

std::vector<int> UMT5Tokenizer::pieces(const std::string& cleanedText) const {
    std::vector<int> ids;
    const auto status = processor_->Encode(cleanedText, &ids);
    if (!status.ok()) {
        throw FormatError(fmt::format("{}: SentencePiece failed to encode the prompt: {}", modelPath_.string(),
                                      status.ToString()));
    }
    return ids;
}

std::string UMT5Tokenizer::decode(const std::vector<int>& ids) const {
    for (int id : ids) {
        if (id < 0 || id >= processor_->GetPieceSize()) {
            throw ConfigError(fmt::format("token id {} is outside the vocabulary [0, {}) of {}", id,
                                          processor_->GetPieceSize(), modelPath_.string()));
        }
    }
    std::string text;
    const auto status = processor_->Decode(ids, &text);
    if (!status.ok()) {
        throw FormatError(fmt::format("{}: SentencePiece failed to decode ids: {}", modelPath_.string(),
                                      status.ToString()));
    }
    return text;
}

UMT5Tokenizer::Encoded UMT5Tokenizer::encode(const std::string& prompt, int64_t seqLen) const {
    if (seqLen < 1) {
        throw ConfigError(fmt::format("tokenizer sequence length must be at least 1 (room for EOS), got {}", seqLen));
    }
    const std::vector<int> p = pieces(cleanPrompt(prompt));
    Encoded e;
    const int64_t kept = std::min<int64_t>(static_cast<int64_t>(p.size()), seqLen - 1);
    e.truncated = static_cast<int64_t>(p.size()) > kept;
    e.validTokens = kept + 1;
    e.ids = at::full({1, seqLen}, static_cast<int64_t>(padId_), at::kLong); // [1, L]
    e.mask = at::zeros({1, seqLen}, at::kLong);                             // [1, L]
    auto ids = e.ids.accessor<int64_t, 2>();
    for (int64_t i = 0; i < kept; ++i) {
        ids[0][i] = p[static_cast<size_t>(i)];
    }
    ids[0][kept] = eosId_;
    e.mask.slice(1, 0, e.validTokens).fill_(1);
    if (e.truncated) {
        spdlog::warn("prompt has {} tokens; truncated to {} + EOS", p.size(), kept);
    }
    return e;
}

} // namespace ditstudio
