// ditstudio-cli: the engine from a terminal. `verify` proves parity against golden vectors.
#include "core/tokenizer/umt5_tokenizer.h"
#include "core/presets/preset_store.h"
#include "core/export/video_info.h"
#include "core/io/model_folder.h"
#include "core/util/error.h"
#include "core/verify/golden.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>

using namespace ditstudio;

static int runVerify(const std::string& dir, const std::vector<std::string>& cases, const std::string& device,
                     const std::string& dtype) {
    verify::Options options;
    if (device == "cuda") {
        if (!at::hasCUDA()) {
            std::cerr << "error: --device cuda, but this build/machine has no CUDA device\n";
            return 2;
        }
        options.device = at::Device(at::kCUDA, 0);
        at::globalContext().setAllowTF32CuBLAS(false);
        at::globalContext().setAllowTF32CuDNN(false);
    }
    options.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
    std::vector<verify::CaseResult> results;
    try {
        results = verify::runCases(dir, cases, options);
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
    int passed = 0, failed = 0, skipped = 0;
    for (const auto& r : results) {
        std::cout << verify::formatResult(r) << "\n";
        passed += r.status == verify::Status::Pass;
        failed += r.status == verify::Status::Fail;
        skipped += r.status == verify::Status::Skip;
    }
    std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped" << std::endl;
    return failed == 0 ? 0 : 1;
}

static int runTokenize(const std::string& tokenizerPath, const std::string& prompt, int64_t seqLen) {
    try {
        const auto tokenizer = UMT5Tokenizer::fromFile(tokenizerPath);
        const auto encoded = tokenizer.encode(prompt, seqLen);
        std::cout << "cleaned: " << UMT5Tokenizer::cleanPrompt(prompt) << "\n";
        std::cout << "ids:";
        for (int64_t i = 0; i < encoded.validTokens; ++i) {
            std::cout << " " << encoded.ids[0][i].item<int64_t>();
        }
        std::cout << "\nvalid: " << encoded.validTokens << " of " << seqLen
                  << (encoded.truncated ? " (truncated)" : "") << std::endl;
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
    return 0;
}

// `presets [list]`, `presets show NAME|FILE`, `presets validate FILE`: exit 1 when a preset does not load.
static int runPresets(const std::string& action, const std::string& target, const std::string& builtinDir,
                      const std::string& userDir) {
    try {
        const std::filesystem::path builtin(builtinDir), user(userDir);
        const PresetStore store(builtin.empty() ? PresetStore::defaultBuiltinDir() : builtin,
                                user.empty() ? PresetStore::defaultUserDir() : user);
        if (action == "show") {
            std::cout << toYaml(store.load(target));
            return 0;
        }
        if (action == "validate") {
            const GenerationSettings settings = loadPresetFile(target);
            std::cout << target << ": valid preset '" << settings.name << "'\n";
            return 0;
        }
        std::cout << "built-in: " << store.builtinDir().string() << "\nuser:     " << store.userDir().string() << "\n";
        for (const auto& entry : store.list()) {
            std::cout << fmt::format("{:<24} {:<9} {}\n", entry.name, entry.builtin ? "built-in" : "user",
                                     entry.error.empty() ? entry.description : "ERROR " + entry.error);
        }
        return 0;
    } catch (const PresetError& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
}

// probe FILE: what a written video holds, as libavformat reads it back; a model folder: its layout and parts.
static int runProbe(const std::string& path) {
    try {
        std::error_code ec;
        const bool isModelFolder = std::filesystem::is_directory(path, ec) &&
                                   !std::filesystem::exists(std::filesystem::path(path) / "frame_00000.png", ec);
        if (isModelFolder) {
            const auto folder = io::ModelFolder::open(path);
            std::cout << path << ": " << io::toString(folder.layout) << " model folder \"" << folder.name << "\"\n"
                      << folder.summary() << "\n";
            return 0;
        }
        const auto info = readVideoInfo(path);
        std::cout << path << ": " << describe(info) << "\n";
        std::cout << "frames " << info.frameCount << "\nwidth " << info.width << "\nheight " << info.height << "\nfps "
                  << info.fps << "\ncodec " << info.codec << "\n";
        return 0;
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
}

int main(int argc, char** argv) {
    CLI::App app{"DiT Studio command line: verify, generate, bench"};
    app.require_subcommand(1);
    std::string logLevel = "warn";
    app.add_option("--log-level", logLevel, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

    auto* verify = app.add_subcommand("verify", "Run the golden cases of DIR/manifest.json (all, or those named)");
    std::string dir;
    std::vector<std::string> cases;
    std::string device = "cpu", dtype = "float32";
    verify->add_option("dir", dir, "Directory with manifest.json")->required();
    verify->add_option("cases", cases, "Case names (default: every case)");
    verify->add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
    verify->add_option("--dtype", dtype, "float32 or bfloat16")->check(CLI::IsMember({"float32", "bfloat16"}));

    auto* tokenize = app.add_subcommand("tokenize", "Print the umt5 token ids of a prompt (padding not shown)");
    std::string tokenizerPath, prompt;
    int64_t seqLen = 512;
    tokenize->add_option("--tokenizer", tokenizerPath, "spiece.model or the google/umt5-xxl folder")->required();
    tokenize->add_option("prompt", prompt, "The prompt")->required();
    tokenize->add_option("--seq-len", seqLen, "Padded length (EOS included)")->check(CLI::PositiveNumber);

    auto* presets = app.add_subcommand("presets", "List built-in and user presets, show one, or validate a file");
    presets->require_subcommand(0, 1)->fallthrough();
    std::string presetTarget, presetBuiltinDir, presetUserDir;
    presets->add_option("--builtin-dir", presetBuiltinDir, "Built-in presets (default: the installed ones)");
    presets->add_option("--user-dir", presetUserDir, "User presets (default: $XDG_CONFIG_HOME/ditstudio/presets)");
    presets->add_subcommand("list", "Every preset with its description, or its error");
    presets->add_subcommand("show", "Print a preset as YAML, every setting included")
        ->add_option("name", presetTarget, "Preset name or .yaml file")
        ->required();
    presets->add_subcommand("validate", "Check a preset file; errors give the line and column")
        ->add_option("file", presetTarget, "Preset .yaml file")
        ->required();

    auto* probe = app.add_subcommand("probe", "Read a video back (frames, size, fps, codec) or describe a model folder");
    std::string probePath;
    probe->add_option("file", probePath, "Video file, PNG-sequence folder or model folder")->required();

    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::from_str(logLevel));
    if (*verify) {
        return runVerify(dir, cases, device, dtype);
    }
    if (*tokenize) {
        return runTokenize(tokenizerPath, prompt, seqLen);
    }
    if (*presets) {
        const auto chosen = presets->get_subcommands();
        return runPresets(chosen.empty() ? "list" : chosen.front()->get_name(), presetTarget, presetBuiltinDir,
                          presetUserDir);
    }
    if (*probe) {
        return runProbe(probePath);
    }
    return 0;
}
