// Every input under tests/fuzz/regressions/ that once crashed a reader (found by the libFuzzer targets of
// tests/fuzz and by reviewing what they exercise) must now be refused with the project's own error, naming the
// file and the defect. Run under scripts/sanitize.sh asan the same inputs also prove there is no out-of-bounds
// read, signed overflow or float conversion overflow left (the defects behind them).
#include "core/io/model_folder.h"
#include "core/io/pth_reader.h"
#include "core/io/safetensors.h"
#include "core/presets/preset_store.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace ditstudio;

namespace {

const fs::path kInputs = fs::path(DITSTUDIO_SOURCE_DIR) / "tests" / "fuzz" / "regressions";

// What `action` threw: the message of a ditstudio::Error, or a test failure for anything else (or nothing).
template <typename F>
std::string projectErrorOf(F&& action) {
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("NOT A DITSTUDIO ERROR: ") + typeid(e).name() + ": " + e.what();
    }
    return "NO ERROR";
}

} // namespace

class FuzzRegressionsTest : public QObject {
    Q_OBJECT
private slots:
    void malformedInputIsRefusedClearly_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("expected");
        QTest::newRow("pth: dict nested in itself") << "pth-self-nested-state-dict.pth" << "nested more than 4 levels";
        QTest::newRow("pth: LONG1 of 9 bytes") << "pth-long1-nine-bytes.pth" << "does not fit in 64 bits";
        QTest::newRow("pth: size x stride overflows") << "pth-size-stride-overflow.pth" << "runs past its storage";
        QTest::newRow("pth: fewer strides than sizes") << "pth-stride-shorter-than-size.pth" << "2 sizes but 1 strides";
        QTest::newRow("safetensors: dimension beyond int64") << "safetensors-dimension-beyond-int64.safetensors"
                                                             << "non-negative 64-bit integers";
        QTest::newRow("preset: a lone comma (yaml-cpp LoadAll never ends)") << "preset-lone-comma.yaml"
                                                                            << "the preset is empty";
        QTest::newRow("preset: the fuzzer's timeout") << "preset-fuzzer-timeout.yaml" << "the preset is empty";
        QTest::newRow("safetensors: number beyond double (fuzz_safetensors)")
            << "safetensors-number-beyond-double.safetensors" << "header is not well-formed JSON";
        QTest::newRow("manifest: number beyond double") << "manifest-number-beyond-double.json"
                                                        << "not well-formed JSON";
        QTest::newRow("manifest: num_heads a string") << "manifest-num-heads-not-an-integer.json"
                                                      << "dit.config.num_heads: expected an integer";
        QTest::newRow("manifest: factor beyond float") << "manifest-preview-factor-overflows-float.json"
                                                       << "expected finite float32 numbers";
    }
    void malformedInputIsRefusedClearly() {
        QFETCH(QString, file);
        QFETCH(QString, expected);
        const fs::path input = kInputs / file.toStdString();
        QVERIFY2(fs::exists(input), input.c_str());
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        std::string message;
        std::string named;
        if (file.startsWith("pth-")) {
            named = input.filename().string();
            message = projectErrorOf([&] { io::readPth(input); });
        } else if (file.startsWith("safetensors-")) {
            named = input.filename().string();
            message = projectErrorOf([&] {
                const auto st = io::SafetensorsFile::open(input);
                for (const auto& info : st.tensors()) {
                    (void)st.tensor(info.name);
                }
            });
        } else if (file.startsWith("preset-")) {
            named = input.filename().string();
            message = projectErrorOf([&] { loadPresetFile(input); });
        } else {
            // The folder the manifest fuzzer runs in: the golden tiny weights and a tokenizer beside the manifest.
            const fs::path golden(DITSTUDIO_GOLDEN_DIR);
            fs::copy_file(golden / "dit_a.weights.safetensors", dir / "dit.safetensors");
            fs::copy_file(golden / "vae_tiny.weights.safetensors", dir / "vae.safetensors");
            fs::copy_file(golden / "t5_tiny.weights.safetensors", dir / "t5.safetensors");
            std::ofstream(dir / "spiece.model") << "x";
            fs::copy_file(input, dir / io::kManifestName);
            named = io::kManifestName;
            message = projectErrorOf([&] { io::ModelFolder::open(dir); });
        }
        QVERIFY2(message.find(expected.toStdString()) != std::string::npos, message.c_str());
        QVERIFY2(message.find(named) != std::string::npos, message.c_str());
    }
};

QTEST_GUILESS_MAIN(FuzzRegressionsTest)
#include "test_fuzz_regressions.moc"
