// ditstudio-cli: the engine from a terminal. `verify` proves parity against golden vectors.
#include "core/tokenizer/umt5_tokenizer.h"
#include "core/export/video_info.h"
#include "core/io/model_folder.h"
#include "core/util/error.h"
#include "core/verify/golden.h"
#include "kernels/compile.h"
#include "kernels/compile_settings.h"
#include "kernels/dit_bench.h"
#include "kernels/kernel_check.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

using namespace ditstudio;

// --compile MODE --compile-dynamic/--no-compile-dynamic --compile-fullgraph --compile-models dit,vae
struct CompileFlags {
    std::string mode = "none";
    bool dynamic = true;
    bool fullgraph = false;
    std::string models = "dit";

    void addTo(CLI::App* command) {
        command->add_option("--compile", mode,
                            "none, default, reduce-overhead, max-autotune or max-autotune-no-cudagraphs");
        command->add_flag("--compile-dynamic,!--no-compile-dynamic", dynamic,
                          "Keep CUDA graphs per shape (default) or re-capture when the shape changes");
        command->add_flag("--compile-fullgraph", fullgraph, "One CUDA graph for all blocks instead of one per block");
        command->add_option("--compile-models", models, "Comma-separated: dit, vae, text_encoder");
    }
    CompileSettings settings() const { // throws ConfigError naming the knob
        CompileSettings s;
        s.mode = kernels::compileModeFromName(mode);
        s.dynamic = dynamic;
        s.fullgraph = fullgraph;
        s.models = kernels::parseCompileModels(models);
        kernels::validateCompileSettings(s);
        return s;
    }
};

static int runVerify(const std::string& dir, const std::vector<std::string>& cases, const std::string& device,
                     const std::string& dtype, const CompileFlags& compileFlags) {
    verify::Options options;
    try {
        const CompileSettings compile = compileFlags.settings();
        if (compile.mode != CompileMode::None) {
            options.prepareDiT = [compile](WanDiT& dit) { kernels::compileDiT(dit, compile); };
        }
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
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

static int runBench(kernels::DiTBenchOptions options, const std::string& device, const std::string& dtype,
                    const CompileFlags& compileFlags, const std::string& jsonPath, bool checkKernels) {
    try {
        if (device == "cuda") {
            if (!at::hasCUDA()) {
                std::cerr << "error: --device cuda, but this build/machine has no CUDA device\n";
                return 2;
            }
            options.device = at::Device(at::kCUDA, 0);
        }
        options.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
        options.compile = compileFlags.settings();
        nlohmann::json result;
        int failed = 0;
        if (checkKernels) {
            for (const auto& r : kernels::runKernelChecks(options.device)) {
                std::cout << kernels::formatKernelCheck(r) << "\n";
                failed += !r.passed;
                result["kernel_checks"].push_back({{"op", r.op}, {"dtype", r.dtype}, {"shape", r.shape},
                                                    {"fused_rel_l2", r.fusedError}, {"eager_rel_l2", r.eagerError},
                                                    {"tolerance", r.tolerance}, {"passed", r.passed},
                                                    {"note", r.note}});
            }
            std::cout << "kernel checks: " << failed << " failed" << std::endl;
        } else {
            result = kernels::runDiTBench(options);
            std::cout << result.dump(1) << std::endl;
        }
        if (!jsonPath.empty()) {
            std::ofstream(jsonPath) << result.dump(1) << "\n";
        }
        return failed == 0 ? 0 : 1;
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    } catch (const c10::Error& e) {
        std::cerr << "error: " << e.what_without_backtrace() << "\n";
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
    CompileFlags compileFlags;
    compileFlags.addTo(verify);

    auto* bench = app.add_subcommand("bench", "Time one DiT forward at a real config with random weights");
    kernels::DiTBenchOptions benchOptions;
    std::string benchDevice = "cuda", benchDtype = "bfloat16", benchJson;
    bool checkKernels = false;
    bench->add_option("--model-config", benchOptions.modelConfig, "1.3B or 14B")
        ->check(CLI::IsMember({"1.3B", "14B"}));
    bench->add_option("--frames", benchOptions.frames, "Video frames (4k+1)");
    bench->add_option("--height", benchOptions.height, "Pixels (multiple of 16)");
    bench->add_option("--width", benchOptions.width, "Pixels (multiple of 16)");
    bench->add_option("--text-len", benchOptions.textLength, "Text tokens")->check(CLI::PositiveNumber);
    bench->add_option("--iters", benchOptions.iterations, "Timed forwards (median)")->check(CLI::PositiveNumber);
    bench->add_option("--warmup", benchOptions.warmup, "Untimed forwards after the first call");
    bench->add_option("--layers", benchOptions.layers, "Override the layer count (quick runs)");
    bench->add_option("--device", benchDevice, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
    bench->add_option("--dtype", benchDtype, "float32 or bfloat16")->check(CLI::IsMember({"float32", "bfloat16"}));
    bench->add_option("--json", benchJson, "Also write the result to this file");
    bench->add_flag("--check-kernels", checkKernels, "Instead: fused-vs-eager checks of every fused op");
    CompileFlags benchCompile;
    benchCompile.addTo(bench);

    auto* tokenize = app.add_subcommand("tokenize", "Print the umt5 token ids of a prompt (padding not shown)");
    std::string tokenizerPath, prompt;
    int64_t seqLen = 512;
    tokenize->add_option("--tokenizer", tokenizerPath, "spiece.model or the google/umt5-xxl folder")->required();
    tokenize->add_option("prompt", prompt, "The prompt")->required();
    tokenize->add_option("--seq-len", seqLen, "Padded length (EOS included)")->check(CLI::PositiveNumber);

    auto* probe = app.add_subcommand("probe", "Read a video back (frames, size, fps, codec) or describe a model folder");
    std::string probePath;
    probe->add_option("file", probePath, "Video file, PNG-sequence folder or model folder")->required();

    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::from_str(logLevel));
    if (*verify) {
        return runVerify(dir, cases, device, dtype, compileFlags);
    }
    if (*bench) {
        return runBench(benchOptions, benchDevice, benchDtype, benchCompile, benchJson, checkKernels);
    }
    if (*tokenize) {
        return runTokenize(tokenizerPath, prompt, seqLen);
    }
    if (*probe) {
        return runProbe(probePath);
    }
    return 0;
}
