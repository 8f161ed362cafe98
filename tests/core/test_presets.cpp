// Presets and generation settings: every defect in a preset is rejected with the file, line and column and what
// was expected; the built-in presets load; YAML and JSON round trips; `key=value` overrides; the preset store's
// file operations (atomic save, duplicate, rename, delete, import, export, listing of broken presets).
#include "core/presets/generation_settings.h"
#include "core/presets/preset_store.h"

#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <sstream>

using namespace ditstudio;
namespace fs = std::filesystem;

namespace {

// The negative prompt of the Wan 2.1 examples (DiffSynth-Studio examples/wanvideo), the built-in default's.
const std::string kWanNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"
    "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

const QStringList kBuiltinNames{"demo-cpu", "quick-draft", "wan21-720p", "wan21-default", "wan21-fast"};

struct Caught {
    bool thrown = false;
    std::string message;
    std::string key;
};

Caught catchPresetError(const std::function<void()>& action) {
    try {
        action();
    } catch (const PresetError& e) {
        return {true, e.what(), e.key()};
    }
    return {};
}

void writeText(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
}

std::string readText(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> filesIn(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        names.push_back(it->path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

GenerationSettings everySettingChanged() {
    GenerationSettings s;
    s.name = "all-changed";
    s.description = "every key away from its default";
    s.prompt = "A cat: on a mat # not a comment, \"quoted\", 'single', {braces}, [brackets], & * ! | > % @ `";
    s.negativePrompt = "blurry\nsecond line\twith a tab";
    s.seed = 1234567890123;
    s.seedMode = SeedMode::Increment;
    s.width = 1280;
    s.height = 720;
    s.numFrames = 33;
    s.fps = 24;
    s.steps = 7;
    s.cfgScale = 7.25;
    s.shift = 3.0;
    s.denoisingStrength = 0.1;
    s.dtype = "float32";
    s.vae.tiled = false;
    s.vae.tileHeight = 20;
    s.vae.tileWidth = 40;
    s.vae.tileStrideHeight = 10;
    s.vae.tileStrideWidth = 33;
    s.compile.mode = CompileMode::MaxAutotuneNoCudagraphs;
    s.compile.dynamic = false;
    s.compile.fullgraph = true;
    s.compile.models = {"vae", "dit", "text_encoder"};
    s.parallel.ulysses = 2;
    s.parallel.ring = 2;
    s.parallel.cfgParallel = true;
    s.parallel.device = "cuda";
    s.parallel.gpus = {7, 6, 5, 4, 3, 2, 1, 0};
    s.exportSettings.format = ExportFormat::PngSequence;
    s.exportSettings.quality = 1;
    s.exportSettings.directory = "/tmp/videos dir";
    s.exportSettings.filenameTemplate = "{seed}";
    return s;
}

GenerationSettings trickyStrings() {
    GenerationSettings s;
    s.name = "123";
    s.description = "yes";
    s.prompt = "一只猫在垫子上 🐱 — ünïcödé";
    s.negativePrompt = "";
    s.exportSettings.directory = " leading and trailing ";
    s.exportSettings.filenameTemplate = "null";
    return s;
}

} // namespace

namespace {
QString formatFor(const std::string& output, ExportFormat configured, bool setExplicitly) {
    return QString::fromStdString(toString(exportFormatForOutput(output, configured, setExplicitly)));
}
} // namespace

class PresetsTest : public QObject {
    Q_OBJECT

private:
    // A fresh folder per test; std::filesystem::remove_all is not used because libtorch.so exports its own copy
    // of it, which crashes.
    std::unique_ptr<QTemporaryDir> tempDir_;
    fs::path builtinDir_; // a copy of resources/presets, so that a broken store cannot harm the real one
    fs::path userDir_;
    fs::path outsideDir_;

    PresetStore store() const { return PresetStore(builtinDir_, userDir_); }

private slots:
    void init() {
        tempDir_ = std::make_unique<QTemporaryDir>();
        QVERIFY(tempDir_->isValid());
        const fs::path root = tempDir_->path().toStdString();
        builtinDir_ = root / "case" / "builtin";
        userDir_ = root / "case" / "user"; // not created: the store makes it on the first save
        outsideDir_ = root / "case" / "outside";
        fs::create_directories(builtinDir_);
        fs::create_directories(outsideDir_);
        for (const auto& entry : fs::directory_iterator(PresetStore::defaultBuiltinDir())) {
            fs::copy_file(entry.path(), builtinDir_ / entry.path().filename());
        }
    }

    // --- validation --------------------------------------------------------------------------------------------

    void outputExtensionChoosesTheExportFormat() {
        QCOMPARE(formatFor("out/clip.gif", ExportFormat::Mp4, false), QString("gif"));
        QCOMPARE(formatFor("clip.WebM", ExportFormat::Mp4, false), QString("webm"));
        QCOMPARE(formatFor("clip.mp4", ExportFormat::Gif, false), QString("mp4"));
        QCOMPARE(formatFor("frames", ExportFormat::PngSequence, true), QString("png"));
        QCOMPARE(formatFor("runs.v2/frames", ExportFormat::Mp4, false), QString("mp4"));
        QCOMPARE(formatFor("clip.gif", ExportFormat::Gif, true), QString("gif"));
        try {
            exportFormatForOutput("clip.gif", ExportFormat::Mp4, true);
            QFAIL("a .gif output with export.format=mp4 set was accepted");
        } catch (const PresetError& e) {
            QCOMPARE(QString::fromStdString(e.key()), QString("export.format"));
            QVERIFY2(QString(e.what()).contains("'clip.gif' is a .gif file but export.format is mp4"), e.what());
        }
    }

    void invalidPresetIsRejectedWithLocation_data() {
        QTest::addColumn<QString>("yaml");
        QTest::addColumn<QString>("key");
        QTest::addColumn<QStringList>("expected");
        // clang-format off
        QTest::newRow("unknown key") << "width: 832\nwidht: 480\n" << "widht"
            << QStringList{"test.yaml:2:1: unknown key 'widht' (did you mean 'width'?); expected one of: ", "height"};
        QTest::newRow("unknown key in a group") << "vae:\n  tiled: true\n  tile_sizes: [30, 52]\n" << "vae.tile_sizes"
            << QStringList{"test.yaml:3:3: unknown key 'tile_sizes' in 'vae' (did you mean 'tile_size'?)",
                           "expected one of: tiled, tile_size, tile_stride"};
        QTest::newRow("wrong type: a word for an integer") << "steps: fifty\n" << "steps"
            << QStringList{"test.yaml:1:8: steps: expected an integer, got 'fifty'"};
        QTest::newRow("wrong type: a quoted number for an integer") << "width: \"832\"\n" << "width"
            << QStringList{"test.yaml:1:8: width: expected an integer, got the string '832'"};
        QTest::newRow("wrong type: a fraction for an integer") << "fps: 15.5\n" << "fps"
            << QStringList{"test.yaml:1:6: fps: expected an integer, got 15.5"};
        QTest::newRow("wrong type: a list for a number") << "cfg_scale: [5]\n" << "cfg_scale"
            << QStringList{"test.yaml:1:12: cfg_scale: expected a number, got a list of 1"};
        QTest::newRow("wrong type: a word for a bool") << "vae:\n  tiled: maybe\n" << "vae.tiled"
            << QStringList{"test.yaml:2:10: vae.tiled: expected true or false, got 'maybe'"};
        QTest::newRow("wrong type: a number for a group") << "vae: 3\n" << "vae"
            << QStringList{"test.yaml:1:6: vae: expected a mapping of settings (key: value), got 3"};
        QTest::newRow("wrong type: a mapping for a string") << "prompt: {a: 1}\n" << "prompt"
            << QStringList{"test.yaml:1:9: prompt: expected a string, got a mapping"};
        QTest::newRow("wrong type: nothing for an integer") << "steps:\n" << "steps"
            << QStringList{"test.yaml:1:1: steps: expected an integer, got nothing (null)"};
        QTest::newRow("wrong type: three numbers for a tile size") << "vae:\n  tile_size: [30, 52, 1]\n"
            << "vae.tile_size" << QStringList{"test.yaml:2:14: vae.tile_size: expected a list of two integers"};
        QTest::newRow("integer overflow") << "seed: 99999999999999999999\n" << "seed"
            << QStringList{"test.yaml:1:7: seed: expected an integer that fits in 64 bits"};
        QTest::newRow("out of range: width not a multiple of 16") << "width: 830\n" << "width"
            << QStringList{"test.yaml:1:8: width: expected a multiple of 16 between 16 and 8192, got 830"};
        QTest::newRow("out of range: height 0") << "height: 0\n" << "height"
            << QStringList{"test.yaml:1:9: height: expected a multiple of 16", "got 0"};
        QTest::newRow("out of range: frames not 4k+1") << "num_frames: 80\n" << "num_frames"
            << QStringList{"test.yaml:1:13: num_frames: expected 4k+1 frames", "got 80"};
        QTest::newRow("out of range: steps 0") << "steps: 0\n" << "steps"
            << QStringList{"test.yaml:1:8: steps: expected an integer between 1 and 1000, got 0"};
        QTest::newRow("out of range: cfg negative") << "cfg_scale: -1.5\n" << "cfg_scale"
            << QStringList{"test.yaml:1:12: cfg_scale: expected a number between 0 and 100, got -1.5"};
        QTest::newRow("out of range: cfg infinite") << "cfg_scale: .inf\n" << "cfg_scale"
            << QStringList{"test.yaml:1:12: cfg_scale: expected a number between 0 and 100, got inf"};
        QTest::newRow("out of range: shift 0") << "shift: 0\n" << "shift"
            << QStringList{"test.yaml:1:8: shift: expected a number greater than 0"};
        QTest::newRow("out of range: denoising strength above 1") << "denoising_strength: 1.5\n"
            << "denoising_strength" << QStringList{"test.yaml:1:21: denoising_strength: expected", "got 1.5"};
        QTest::newRow("out of range: negative seed") << "seed: -1\n" << "seed"
            << QStringList{"test.yaml:1:7: seed: expected an integer of 0 or more, got -1"};
        QTest::newRow("out of range: ulysses 0") << "parallel:\n  ulysses: 0\n" << "parallel.ulysses"
            << QStringList{"test.yaml:2:12: parallel.ulysses: expected an integer between 1 and 64, got 0"};
        QTest::newRow("out of range: quality 101") << "export:\n  quality: 101\n" << "export.quality"
            << QStringList{"test.yaml:2:12: export.quality: expected an integer between 1 and 100, got 101"};
        QTest::newRow("out of range: tile stride larger than the tile")
            << "vae:\n  tile_size: [30, 52]\n  tile_stride: [40, 26]\n" << "vae.tile_stride"
            << QStringList{"test.yaml:3:16: vae.tile_stride: expected strides between 1 and the tile size [30, 52], "
                           "got [40, 26]"};
        QTest::newRow("out of range: GPU count does not match the degrees")
            << "parallel:\n  ulysses: 2\n  gpus: [0, 1, 2]\n" << "parallel.gpus"
            << QStringList{"test.yaml:3:9: parallel.gpus: expected 2 GPU indices (ulysses 2 x ring 1 x cfg 1) or none, "
                           "got 3"};
        QTest::newRow("out of range: a GPU twice") << "parallel:\n  ulysses: 2\n  gpus: [1, 1]\n" << "parallel.gpus"
            << QStringList{"test.yaml:3:9: parallel.gpus: expected each GPU at most once, got GPU 1 twice"};
        QTest::newRow("bad enum: seed mode") << "seed_mode: sometimes\n" << "seed_mode"
            << QStringList{"test.yaml:1:12: seed_mode: expected one of fixed, random, increment, got 'sometimes'"};
        QTest::newRow("bad enum: compile mode") << "compile:\n  mode: fast\n" << "compile.mode"
            << QStringList{"test.yaml:2:9: compile.mode: expected one of none, default, reduce-overhead, "
                           "max-autotune, max-autotune-no-cudagraphs, got 'fast'"};
        QTest::newRow("bad enum: export format") << "export:\n  format: avi\n" << "export.format"
            << QStringList{"test.yaml:2:11: export.format: expected one of mp4, webm, gif, png, got 'avi'"};
        QTest::newRow("bad enum: dtype") << "dtype: float16\n" << "dtype"
            << QStringList{"test.yaml:1:8: dtype: expected one of bfloat16, float32, got 'float16'"};
        QTest::newRow("bad enum: device") << "parallel:\n  device: tpu\n" << "parallel.device"
            << QStringList{"test.yaml:2:11: parallel.device: expected one of auto, cpu, cuda, got 'tpu'"};
        QTest::newRow("bad enum: sampler") << "sampler: ddim\n" << "sampler"
            << QStringList{"test.yaml:1:10: sampler: expected one of flow_match_euler, got 'ddim'"};
        QTest::newRow("bad enum: compiled model") << "compile:\n  models: [dit, unet]\n" << "compile.models"
            << QStringList{"test.yaml:2:11: compile.models: expected one of dit, vae, text_encoder, got 'unet'"};
        QTest::newRow("duplicate key") << "width: 832\nwidth: 480\n" << "width"
            << QStringList{"test.yaml:2:1: duplicate key 'width' (first given at test.yaml:1:1)"};
        QTest::newRow("malformed YAML: unclosed list") << "width: [832\nheight: 480\n" << ""
            << QStringList{"test.yaml:2:7: malformed YAML: end of sequence flow not found"};
        QTest::newRow("malformed YAML: two values on a line") << "width: 832\nsteps: 5: 6\n" << ""
            << QStringList{"test.yaml:2:9: malformed YAML: illegal map value"};
        QTest::newRow("newer schema_version") << "schema_version: 2\nwidth: 832\n" << "schema_version"
            << QStringList{"test.yaml:1:17: schema_version 2 is newer than this DiT Studio supports (1)"};
        QTest::newRow("schema_version 0") << "schema_version: 0\n" << "schema_version"
            << QStringList{"test.yaml:1:17: schema_version: expected a version between 1 and 1, got 0"};
        QTest::newRow("empty document") << "# only a comment\n" << ""
            << QStringList{"test.yaml: the preset is empty; expected a mapping of settings"};
        QTest::newRow("a list instead of a mapping") << "- width\n- 832\n" << "settings"
            << QStringList{"test.yaml:1:1: settings: expected a mapping of settings (key: value), got a list of 2"};
        QTest::newRow("two documents") << "width: 832\n---\nwidth: 480\n" << ""
            << QStringList{"test.yaml:3:1: a second YAML document"};
        // clang-format on
    }

    void invalidPresetIsRejectedWithLocation() {
        QFETCH(QString, yaml);
        QFETCH(QString, key);
        QFETCH(QStringList, expected);
        const Caught caught = catchPresetError([&] { loadPresetYaml(yaml.toStdString(), "test.yaml"); });
        QVERIFY2(caught.thrown, "the preset was accepted");
        const QString message = QString::fromStdString(caught.message);
        for (const QString& part : expected) {
            QVERIFY2(message.contains(part), qPrintable("message: " + message + "\nmissing: " + part));
        }
        QCOMPARE(QString::fromStdString(caught.key), key);
    }

    void everyTruncationOfAPresetLoadsOrFailsWithAPresetError() {
        const std::string text = readText(builtinDir_ / "wan21-default.yaml");
        int loaded = 0;
        for (size_t length = 0; length <= text.size(); ++length) {
            try {
                loadPresetYaml(text.substr(0, length), "cut.yaml");
                ++loaded;
            } catch (const PresetError& e) {
                QVERIFY2(QString::fromStdString(e.what()).startsWith("cut.yaml"), e.what());
            }
        }
        QVERIFY(loaded > 0); // cuts at line ends leave valid presets
    }

    void validateNamesTheKeyOfSettingsBuiltInCode() {
        GenerationSettings s;
        s.parallel.ulysses = 0;
        const Caught caught = catchPresetError([&] { s.validate(); });
        QVERIFY(caught.thrown);
        QCOMPARE(caught.key, std::string("parallel.ulysses"));
        QCOMPARE(caught.message, std::string("parallel.ulysses: expected an integer between 1 and 64, got 0"));
        GenerationSettings{}.validate();
    }

    void missingKeysKeepTheirDefaults() {
        const GenerationSettings s = loadPresetYaml("prompt: a cat\nvae:\n  tiled: false\n", "partial.yaml");
        GenerationSettings expected;
        expected.prompt = "a cat";
        expected.vae.tiled = false;
        QVERIFY(s == expected);
    }

    void plainScalarsAreTextForStringKeys() {
        const GenerationSettings s =
            loadPresetYaml("schema_version: 1\nprompt: 123\nnegative_prompt:\ndescription: yes\n", "plain.yaml");
        QCOMPARE(s.prompt, std::string("123"));
        QCOMPARE(s.negativePrompt, std::string(""));
        QCOMPARE(s.description, std::string("yes"));
    }

    // --- built-in presets --------------------------------------------------------------------------------------

    void builtInPresetLoadsAndValidates_data() {
        QTest::addColumn<QString>("name");
        for (const QString& name : kBuiltinNames) {
            QTest::newRow(qPrintable(name)) << name;
        }
    }

    void builtInPresetLoadsAndValidates() {
        QFETCH(QString, name);
        const GenerationSettings s = store().load(name.toStdString());
        s.validate();
        QCOMPARE(QString::fromStdString(s.name), name);
        QVERIFY(!s.description.empty());
        // The file's own name agrees with its file name.
        QCOMPARE(QString::fromStdString(loadPresetFile(builtinDir_ / (name.toStdString() + ".yaml")).name), name);
    }

    void everyBuiltInPresetIsListedWithoutError() {
        QStringList listed;
        for (const auto& entry : PresetStore(PresetStore::defaultBuiltinDir(), userDir_).list()) {
            QVERIFY2(entry.error.empty(), entry.error.c_str());
            QVERIFY(entry.builtin);
            listed << QString::fromStdString(entry.name);
        }
        QCOMPARE(listed, kBuiltinNames);
    }

    void referenceDefaultsPresetHasTheReferenceValues() {
        const GenerationSettings s = store().load("wan21-default");
        QCOMPARE(s.width, int64_t(832));
        QCOMPARE(s.height, int64_t(480));
        QCOMPARE(s.numFrames, int64_t(81));
        QCOMPARE(s.steps, int64_t(50));
        QCOMPARE(s.cfgScale, 5.0);
        QCOMPARE(s.shift, 5.0);
        QCOMPARE(s.denoisingStrength, 1.0);
        QCOMPARE(s.seed, int64_t(0));
        QVERIFY(s.seedMode == SeedMode::Fixed);
        QCOMPARE(s.fps, int64_t(16));
        QCOMPARE(s.dtype, std::string("bfloat16"));
        QVERIFY(s.vae.tiled);
        QCOMPARE((std::array{s.vae.tileHeight, s.vae.tileWidth, s.vae.tileStrideHeight, s.vae.tileStrideWidth}),
                 (std::array<int64_t, 4>{30, 52, 15, 26}));
        QCOMPARE(s.negativePrompt, kWanNegativePrompt);
        QCOMPARE(s.prompt, std::string());
        // Apart from the name, description and the examples' negative prompt, the preset is the code's defaults.
        GenerationSettings defaults;
        defaults.name = s.name;
        defaults.description = s.description;
        defaults.negativePrompt = kWanNegativePrompt;
        QVERIFY(s == defaults);
    }

    void otherBuiltInPresetsChangeWhatTheySay() {
        const GenerationSettings hd = store().load("wan21-720p");
        QCOMPARE(hd.width, int64_t(1280));
        QCOMPARE(hd.height, int64_t(720));
        QCOMPARE(hd.steps, int64_t(50));
        const GenerationSettings draft = store().load("quick-draft");
        QCOMPARE(draft.numFrames, int64_t(33));
        QVERIFY(draft.steps < 50);
        // wan21-fast: the reference defaults, compiled DiT and untiled, autotuned VAE decode.
        GenerationSettings fast = store().load("wan21-fast");
        QVERIFY(fast.compile.mode == CompileMode::Default);
        QCOMPARE(fast.compile.models, (std::vector<std::string>{"dit", "vae"}));
        QVERIFY(!fast.vae.tiled);
        GenerationSettings reference = store().load("wan21-default");
        fast.name = reference.name;
        fast.description = reference.description;
        fast.compile = reference.compile;
        fast.vae.tiled = reference.vae.tiled;
        QVERIFY(fast == reference);
        const GenerationSettings demo = store().load("demo-cpu");
        QCOMPARE(demo.width, int64_t(128));
        QCOMPARE(demo.height, int64_t(128));
        QCOMPARE(demo.numFrames, int64_t(17));
        QCOMPARE(demo.steps, int64_t(20));
        QCOMPARE(demo.dtype, std::string("float32"));
        QCOMPARE(demo.parallel.device, std::string("cpu"));
        QVERIFY(!demo.vae.tiled);
    }

    // --- round trips -------------------------------------------------------------------------------------------

    void roundTrip_data() {
        QTest::addColumn<QString>("source"); // a built-in preset name, or a settings factory below
        QTest::newRow("defaults") << "defaults";
        QTest::newRow("every setting changed") << "every setting changed";
        QTest::newRow("strings that look like numbers, bools and null") << "tricky strings";
        for (const QString& name : kBuiltinNames) {
            QTest::newRow(qPrintable("built-in " + name)) << name;
        }
    }

    GenerationSettings roundTripSource(const QString& source) {
        if (source == "defaults") {
            return {};
        }
        if (source == "every setting changed") {
            return everySettingChanged();
        }
        if (source == "tricky strings") {
            return trickyStrings();
        }
        return store().load(source.toStdString());
    }

    void yamlRoundTripIsExact_data() { roundTrip_data(); }
    void yamlRoundTripIsExact() {
        QFETCH(QString, source);
        const GenerationSettings s = roundTripSource(source);
        s.validate();
        const std::string yaml = toYaml(s);
        QVERIFY2(yaml.find("schema_version: 1\n") != std::string::npos, yaml.c_str());
        const GenerationSettings back = loadPresetYaml(yaml, "roundtrip.yaml");
        QVERIFY2(back == s, yaml.c_str());
        QCOMPARE(toYaml(back), yaml);
    }

    void jsonRoundTripIsExact_data() { roundTrip_data(); }
    void jsonRoundTripIsExact() {
        QFETCH(QString, source);
        const GenerationSettings s = roundTripSource(source);
        const nlohmann::json json = s.toJson();
        QCOMPARE(json.at("schema_version").get<int>(), GenerationSettings::kSchemaVersion);
        QVERIFY(GenerationSettings::fromJson(json) == s);
        // Through text, as the protocol and the sidecars carry it.
        QVERIFY(GenerationSettings::fromJson(nlohmann::json::parse(json.dump())) == s);
    }

    void invalidJsonIsRejectedNamingTheKey_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown key") << R"({"widht": 832})" << "widht"
                                     << "unknown key 'widht' (did you mean 'width'?)";
        QTest::newRow("string for an integer") << R"({"width": "832"})" << "width"
                                               << "width: expected an integer, got the string '832'";
        QTest::newRow("fraction for an integer") << R"({"steps": 2.5})" << "steps"
                                                 << "steps: expected an integer, got 2.5";
        QTest::newRow("unsigned overflow") << R"({"seed": 18446744073709551615})" << "seed"
                                           << "seed: expected an integer, got";
        QTest::newRow("out of range") << R"({"vae": {"tile_stride": [0, 26]}})" << "vae.tile_stride"
                                      << "vae.tile_stride: expected strides between 1 and the tile size";
        QTest::newRow("bad enum") << R"({"export": {"format": "avi"}})" << "export.format"
                                  << "export.format: expected one of mp4, webm, gif, png, got the string 'avi'";
        QTest::newRow("newer schema") << R"({"schema_version": 9})" << "schema_version"
                                      << "schema_version 9 is newer than this DiT Studio supports (1)";
        QTest::newRow("not an object") << R"([1, 2])" << "settings" << "settings: expected a mapping";
    }

    void invalidJsonIsRejectedNamingTheKey() {
        QFETCH(QString, json);
        QFETCH(QString, key);
        QFETCH(QString, expected);
        const auto parsed = nlohmann::json::parse(json.toStdString());
        const Caught caught = catchPresetError([&] { GenerationSettings::fromJson(parsed); });
        QVERIFY(caught.thrown);
        QVERIFY2(QString::fromStdString(caught.message).startsWith(expected), caught.message.c_str());
        QCOMPARE(QString::fromStdString(caught.key), key);
    }

    // --- overrides ---------------------------------------------------------------------------------------------

    void applyOverrideSetsNestedKeys_data() {
        QTest::addColumn<QStringList>("assignments");
        QTest::addColumn<QString>("pointer");
        QTest::addColumn<QString>("expected"); // JSON
        QTest::newRow("bool in a group") << QStringList{"vae.tiled=false"} << "/vae/tiled" << "false";
        QTest::newRow("integer in a group") << QStringList{"parallel.ulysses=2"} << "/parallel/ulysses" << "2";
        QTest::newRow("pair as a YAML list") << QStringList{"vae.tile_size=[20, 40]"} << "/vae/tile_size"
                                             << "[20, 40]";
        QTest::newRow("text is taken literally") << QStringList{"prompt=a cat: on a mat # really"} << "/prompt"
                                                 << R"("a cat: on a mat # really")";
        QTest::newRow("empty text") << QStringList{"negative_prompt="} << "/negative_prompt" << R"("")";
        QTest::newRow("number") << QStringList{"cfg_scale=7.5"} << "/cfg_scale" << "7.5";
        QTest::newRow("integer for a number") << QStringList{"shift=3"} << "/shift" << "3.0";
        QTest::newRow("enum") << QStringList{"export.format=webm"} << "/export/format" << R"("webm")";
        QTest::newRow("spaces around the key") << QStringList{" steps = 30"} << "/steps" << "30";
        QTest::newRow("comma-separated list") << QStringList{"parallel.ulysses=2", "parallel.gpus=3,1"}
                                              << "/parallel/gpus" << "[3, 1]";
        QTest::newRow("empty list") << QStringList{"parallel.gpus="} << "/parallel/gpus" << "[]";
        QTest::newRow("one-word list") << QStringList{"compile.models=vae"} << "/compile/models" << R"(["vae"])";
        QTest::newRow("a group changes only the keys it names")
            << QStringList{"vae={tiled: false, tile_stride: [10, 20]}"} << "/vae"
            << R"({"tiled": false, "tile_size": [30, 52], "tile_stride": [10, 20]})";
    }

    void applyOverrideSetsNestedKeys() {
        QFETCH(QStringList, assignments);
        QFETCH(QString, pointer);
        QFETCH(QString, expected);
        GenerationSettings s;
        for (const QString& assignment : assignments) {
            s.applyOverride(assignment.toStdString());
        }
        const nlohmann::json actual = s.toJson().at(nlohmann::json::json_pointer(pointer.toStdString()));
        QCOMPARE(QString::fromStdString(actual.dump()),
                 QString::fromStdString(nlohmann::json::parse(expected.toStdString()).dump()));
    }

    void applyOverrideRejectsAndKeepsTheSettings_data() {
        QTest::addColumn<QString>("assignment");
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown nested key") << "vae.tilde=false" << "vae.tilde"
                                            << "override 'vae.tilde=false': unknown key 'vae.tilde' (did you mean "
                                               "'vae.tiled'?)";
        QTest::newRow("not a number") << "steps=abc" << "steps"
                                      << "override 'steps=abc': steps: expected an integer, got 'abc'";
        QTest::newRow("out of range") << "width=830" << "width"
                                      << "override 'width=830': width: expected a multiple of 16";
        QTest::newRow("quality 101") << "export.quality=101" << "export.quality"
                                     << "override 'export.quality=101': export.quality: expected an integer between 1 "
                                        "and 100, got 101";
        QTest::newRow("no equals sign") << "steps" << "" << "override 'steps': expected key=value";
        QTest::newRow("no key") << "=5" << "" << "override '=5': expected key=value";
        QTest::newRow("malformed YAML value") << "vae.tile_size=[1, 2" << "vae.tile_size"
                                              << "override 'vae.tile_size=[1, 2': vae.tile_size: the value is not "
                                                 "valid YAML";
        QTest::newRow("unknown key inside a group value") << "vae={tiles: 1}" << "vae.tiles"
                                                          << "override 'vae={tiles: 1}': unknown key 'tiles' in 'vae'";
        QTest::newRow("schema_version is not a setting") << "schema_version=2" << "schema_version"
                                                         << "override 'schema_version=2': unknown key";
        QTest::newRow("GPU list of the wrong size") << "parallel.gpus=0,1" << "parallel.gpus"
                                                    << "override 'parallel.gpus=0,1': parallel.gpus: expected 1 GPU "
                                                       "indices";
    }

    void applyOverrideRejectsAndKeepsTheSettings() {
        QFETCH(QString, assignment);
        QFETCH(QString, key);
        QFETCH(QString, expected);
        GenerationSettings s = everySettingChanged();
        s.parallel = {};
        const GenerationSettings before = s;
        const Caught caught = catchPresetError([&] { s.applyOverride(assignment.toStdString()); });
        QVERIFY(caught.thrown);
        QVERIFY2(QString::fromStdString(caught.message).startsWith(expected), caught.message.c_str());
        QCOMPARE(QString::fromStdString(caught.key), key);
        QVERIFY(s == before);
    }

    // --- the store ---------------------------------------------------------------------------------------------

    void saveWritesAtomicallyAndLoadsBack() {
        const PresetStore presets = store();
        GenerationSettings s = everySettingChanged();
        const fs::path path = presets.save(s, "mine");
        QCOMPARE(path, userDir_ / "mine.yaml");
        QCOMPARE(filesIn(userDir_), std::vector<std::string>{"mine.yaml"}); // no temporary file left
        s.name = "mine";
        QVERIFY(presets.load("mine") == s);
        QVERIFY(loadPresetFile(path) == s);

        s.steps = 12;
        presets.save(s, "mine"); // replaces
        QCOMPARE(presets.load("mine").steps, int64_t(12));
        QCOMPARE(filesIn(userDir_), std::vector<std::string>{"mine.yaml"});

        // Invalid settings never reach the disk, and the preset that was there stays as it was.
        const std::string before = readText(path);
        GenerationSettings bad = s;
        bad.width = 830;
        const Caught caught = catchPresetError([&] { presets.save(bad, "mine"); });
        QVERIFY(caught.thrown);
        QCOMPARE(caught.message, std::string("preset 'mine' not saved: width: expected a multiple of 16 between 16 "
                                             "and 8192, got 830"));
        QCOMPARE(readText(path), before);
        QCOMPARE(filesIn(userDir_), std::vector<std::string>{"mine.yaml"});
    }

    void saveIsRefusedForBuiltInAndUnusableNames_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("expected");
        QTest::newRow("built-in name") << "wan21-default" << "'wan21-default' is the name of a built-in preset";
        QTest::newRow("empty") << "" << "a preset name cannot be empty";
        QTest::newRow("path separator") << "../escape" << "is not a usable preset name";
        QTest::newRow("hidden file") << ".hidden" << "is not a usable preset name";
        QTest::newRow("control character") << "a\nb" << "is not a usable preset name";
    }

    void saveIsRefusedForBuiltInAndUnusableNames() {
        QFETCH(QString, name);
        QFETCH(QString, expected);
        const Caught caught = catchPresetError([&] { store().save(GenerationSettings{}, name.toStdString()); });
        QVERIFY(caught.thrown);
        QVERIFY2(QString::fromStdString(caught.message).contains(expected), caught.message.c_str());
        QVERIFY(filesIn(userDir_).empty());
        QVERIFY(!fs::exists(userDir_.parent_path() / "escape.yaml"));
    }

    void duplicateCopiesUnderTheNewName() {
        const PresetStore presets = store();
        presets.duplicate("wan21-default", "my-default");
        GenerationSettings expected = presets.load("wan21-default");
        expected.name = "my-default";
        QVERIFY(presets.load("my-default") == expected);
        QCOMPARE(loadPresetFile(userDir_ / "my-default.yaml").name, std::string("my-default"));
        const Caught taken = catchPresetError([&] { presets.duplicate("demo-cpu", "my-default"); });
        QVERIFY(taken.thrown);
        QVERIFY2(taken.message.find("a preset named 'my-default' already exists") != std::string::npos,
                 taken.message.c_str());
        QVERIFY(presets.load("my-default") == expected);
    }

    void renameMovesAUserPreset() {
        const PresetStore presets = store();
        presets.save(everySettingChanged(), "old");
        presets.save(GenerationSettings{}, "other");
        QCOMPARE(presets.rename("old", "new"), userDir_ / "new.yaml");
        QVERIFY(!fs::exists(userDir_ / "old.yaml"));
        QCOMPARE(presets.load("new").steps, everySettingChanged().steps);
        QCOMPARE(loadPresetFile(userDir_ / "new.yaml").name, std::string("new"));

        const Caught taken = catchPresetError([&] { presets.rename("new", "other"); });
        QVERIFY(taken.thrown);
        QVERIFY(fs::exists(userDir_ / "new.yaml"));
        const Caught builtin = catchPresetError([&] { presets.rename("wan21-default", "mine"); });
        QVERIFY(builtin.thrown);
        QVERIFY2(builtin.message.find("built-in preset, which is read-only") != std::string::npos,
                 builtin.message.c_str());
        QVERIFY(fs::exists(builtinDir_ / "wan21-default.yaml"));
    }

    void renameKeepsABrokenPresetAsItIs() {
        const std::string text = "# mine\nsteps: 0\n";
        writeText(userDir_ / "broken.yml", text);
        store().rename("broken", "still-broken");
        QCOMPARE(filesIn(userDir_), std::vector<std::string>{"still-broken.yml"});
        QCOMPARE(readText(userDir_ / "still-broken.yml"), text);
    }

    void removeDeletesAUserPresetButNotABuiltIn() {
        const PresetStore presets = store();
        presets.save(GenerationSettings{}, "gone");
        presets.remove("gone");
        QVERIFY(filesIn(userDir_).empty());

        const Caught builtin = catchPresetError([&] { presets.remove("wan21-default"); });
        QVERIFY(builtin.thrown);
        QCOMPARE(builtin.message, std::string("'wan21-default' is a built-in preset and cannot be deleted"));
        QVERIFY(fs::exists(builtinDir_ / "wan21-default.yaml"));

        const Caught unknown = catchPresetError([&] { presets.remove("gone"); });
        QVERIFY(unknown.thrown);
        QVERIFY2(unknown.message.find("no preset named 'gone'; available: demo-cpu, quick-draft") != std::string::npos,
                 unknown.message.c_str());
    }

    void importOfAnInvalidFileIsRefusedAndNothingCopied() {
        const fs::path file = outsideDir_ / "bad.yaml";
        writeText(file, "width: 832\nnum_frames: 80\n");
        const Caught caught = catchPresetError([&] { store().importFile(file); });
        QVERIFY(caught.thrown);
        QCOMPARE(caught.message, file.string() + ":2:13: num_frames: expected 4k+1 frames (1, 5, 9, ..., 81, ...) up "
                                                 "to 1025, got 80");
        QVERIFY(filesIn(userDir_).empty());
    }

    void importCopiesTheFileAsWritten() {
        const fs::path file = outsideDir_ / "shared-look.yaml";
        const std::string text = "# a friend's settings\nsteps: 30 # fewer\ncfg_scale: 6\n";
        writeText(file, text);
        const PresetStore presets = store();
        QCOMPARE(presets.importFile(file), std::string("shared-look"));
        QCOMPARE(readText(userDir_ / "shared-look.yaml"), text); // comments kept
        QCOMPARE(presets.load("shared-look").steps, int64_t(30));
        QCOMPARE(presets.importFile(file, "renamed"), std::string("renamed"));
        const Caught again = catchPresetError([&] { presets.importFile(file); });
        QVERIFY(again.thrown);
        QCOMPARE(filesIn(userDir_), (std::vector<std::string>{"renamed.yaml", "shared-look.yaml"}));
    }

    void exportWritesThePresetFile() {
        const fs::path target = outsideDir_ / "sub" / "exported.yaml";
        store().exportTo("quick-draft", target);
        QCOMPARE(readText(target), readText(builtinDir_ / "quick-draft.yaml"));
        QCOMPARE(filesIn(target.parent_path()), std::vector<std::string>{"exported.yaml"});
        QVERIFY(catchPresetError([&] { store().exportTo("missing", target); }).thrown);
    }

    void listShowsABrokenUserPresetWithItsError() {
        const PresetStore presets = store();
        presets.save(GenerationSettings{}, "fine");
        writeText(userDir_ / "broken.yaml", "description: typo below\nstesp: 20\n");
        writeText(userDir_ / "notes.txt", "not a preset");
        const auto entries = presets.list();
        QStringList names;
        for (const auto& entry : entries) {
            names << QString::fromStdString(entry.name) + (entry.builtin ? "*" : "");
        }
        QCOMPARE(names, (QStringList{"demo-cpu*", "quick-draft*", "wan21-720p*", "wan21-default*", "wan21-fast*", "broken",
                                    "fine"}));
        const PresetEntry& broken = entries[5];
        QCOMPARE(broken.path, userDir_ / "broken.yaml");
        QVERIFY2(broken.error.find((userDir_ / "broken.yaml").string() + ":2:1: unknown key 'stesp' (did you mean "
                                                                          "'steps'?)") == 0,
                 broken.error.c_str());
        QVERIFY(broken.description.empty());
        QVERIFY(entries[6].error.empty());
        QVERIFY(!entries[0].description.empty());
    }

    void loadTakesANameOrAPath() {
        const PresetStore presets = store();
        const fs::path file = outsideDir_ / "by-path.yaml";
        writeText(file, "steps: 9\n");
        const GenerationSettings byPath = presets.load(file.string());
        QCOMPARE(byPath.steps, int64_t(9));
        QCOMPARE(byPath.name, std::string("by-path"));
        const Caught missing = catchPresetError([&] { presets.load("no-such-preset"); });
        QVERIFY(missing.thrown);
        QCOMPARE(QString::fromStdString(missing.message),
                 "no preset named 'no-such-preset'; available: " + kBuiltinNames.join(", "));
        QVERIFY(catchPresetError([&] { presets.load((outsideDir_ / "nothing.yaml").string()); }).thrown);
        // A user preset is found before a built-in of the same name (one put there by hand).
        writeText(userDir_ / "demo-cpu.yaml", "steps: 3\n");
        QCOMPARE(presets.load("demo-cpu").steps, int64_t(3));
    }

    void defaultUserDirFollowsXdg() {
        const QByteArray savedXdg = qgetenv("XDG_CONFIG_HOME");
        const QByteArray savedHome = qgetenv("HOME");
        qputenv("XDG_CONFIG_HOME", "/xdg/config");
        QCOMPARE(PresetStore::defaultUserDir(), fs::path("/xdg/config/ditstudio/presets"));
        qputenv("XDG_CONFIG_HOME", "relative/ignored");
        qputenv("HOME", "/home/someone");
        QCOMPARE(PresetStore::defaultUserDir(), fs::path("/home/someone/.config/ditstudio/presets"));
        qunsetenv("XDG_CONFIG_HOME");
        QCOMPARE(PresetStore::defaultUserDir(), fs::path("/home/someone/.config/ditstudio/presets"));
        savedXdg.isNull() ? qunsetenv("XDG_CONFIG_HOME") : qputenv("XDG_CONFIG_HOME", savedXdg);
        qputenv("HOME", savedHome);
    }
};

QTEST_MAIN(PresetsTest)
#include "test_presets.moc"
