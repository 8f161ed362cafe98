// ditstudio-cli: the engine from a terminal. `verify` proves parity against golden vectors.
#include "core/export/sidecar.h"
#include "core/tokenizer/umt5_tokenizer.h"
#include "core/export/video_info.h"
#include "core/io/model_folder.h"
#include "core/presets/preset_store.h"
#include "core/export/video_exporter.h"
#include "core/runtime/inline_job.h"
#include "core/runtime/model_locator.h"
#include "core/protocol/client.h"
#include "core/util/error.h"
#include "core/verify/golden.h"
#include "parallel/usp_bench.h"
#include "parallel/verify_parallel.h"
#include "kernels/compile.h"
#include "kernels/compile_settings.h"
#include "kernels/bench_profile.h"
#include "kernels/dit_bench.h"
#include "kernels/fused_ops.h"
#include "kernels/t2v_bench.h"
#include "kernels/vae_bench.h"
#include "kernels/kernel_check.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <random>
#include <iostream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

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

// verify --ulysses U --ring R [--cfg-parallel]: the DiT and pipeline cases run on a rank group of U × R (× 2) processes through
// the launcher (rank 0 reports); the other kinds run in this process as without the options.
static int runVerifyOnRanks(const std::string& dir, const std::vector<std::string>& cases, const std::string& device,
                            const std::string& dtype, const parallel::ParallelDegrees& degrees,
                            const std::string& logLevel, const std::function<int(std::vector<std::string>)>& runRest) {
    parallel::ParallelVerifyOptions options;
    options.degrees = degrees;
    options.device = device;
    options.dtype = dtype;
    options.logLevel = logLevel;
    std::vector<std::string> ditCases, otherCases;
    try {
        for (const auto& [name, kind] : parallel::listCases(dir, cases)) {
            if (parallel::runsOnRanks(kind)) {
                parallel::checkDegreesForCase(dir, name, options); // refuse before anything starts
                ditCases.push_back(name);
            } else {
                otherCases.push_back(name);
            }
        }
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
    int passed = 0, failed = 0;
    for (const auto& name : ditCases) {
        verify::CaseResult r;
        try {
            r = parallel::runDitCaseOnRanks(dir, name, options);
        } catch (const Error& e) {
            std::cerr << "error: " << e.what() << "\n";
            return 2;
        }
        std::cout << verify::formatResult(r) << std::endl;
        if (r.status == verify::Status::Fail && !r.reason.empty()) {
            std::cout << "  " << r.reason << std::endl;
        }
        passed += r.status == verify::Status::Pass;
        failed += r.status == verify::Status::Fail;
    }
    std::cout << "on ranks (" << degrees.describe() << "): " << passed << " passed, " << failed << " failed"
              << std::endl;
    const int rest = otherCases.empty() ? 0 : runRest(otherCases);
    return failed > 0 ? 1 : rest;
}

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

// The benches' --device: cuda:0 when asked for and present; false (after saying why) when asked for and absent.
static bool pickBenchDevice(const std::string& name, at::Device& device) {
    if (name != "cuda") {
        return true;
    }
    if (!at::hasCUDA()) {
        std::cerr << "error: --device cuda, but this build/machine has no CUDA device\n";
        return false;
    }
    device = at::Device(at::kCUDA, 0);
    return true;
}

// bench --profile FILE --profile-iters N: after the timing, the same forward per kernel (kernels/bench_profile.h).
struct ProfileFlags {
    bool isRequested = false;
    std::string path;
    int iterations = 1;

    void check() const { // throws ConfigError naming the option
        if (isRequested) {
            kernels::checkProfileRequest(path, iterations);
        }
    }
    int benchIterations() const { return isRequested ? iterations : 0; }
    // Takes result["profile"] out of the bench result, writes it with that result under "bench", prints its tables.
    void write(nlohmann::json& result) const {
        if (!isRequested) {
            return;
        }
        nlohmann::json profile = std::move(result.at("profile"));
        result.erase("profile");
        profile["bench"] = result;
        kernels::writeProfile(path, profile);
        std::cout << "\n" << kernels::formatProfileMarkdown(profile) << "\nprofile written to " << path << std::endl;
    }
};

// Prints a bench result (without its profile), writes the profile when one was asked for, then the whole result as
// JSON to `jsonPath` when given (atomically).
static void reportBench(nlohmann::json result, const ProfileFlags& profile, const std::string& jsonPath) {
    nlohmann::json timing = result;
    timing.erase("profile");
    std::cout << timing.dump(1) << std::endl;
    profile.write(result);
    if (!jsonPath.empty()) {
        writeJsonAtomically(jsonPath, result);
    }
}

// Runs a bench body; our errors and LibTorch's become "error: …" and exit status 2.
static int guardedBench(const std::function<int()>& body) {
    try {
        return body();
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    } catch (const c10::Error& e) {
        std::cerr << "error: " << e.what_without_backtrace() << "\n";
        return 2;
    }
}

static int runBench(kernels::DiTBenchOptions options, const std::string& device, const std::string& dtype,
                    const CompileFlags& compileFlags, const std::string& jsonPath, bool checkKernels,
                    const ProfileFlags& profile) {
    if (!pickBenchDevice(device, options.device)) {
        return 2;
    }
    return guardedBench([&] {
        profile.check();
        options.profileIterations = profile.benchIterations();
        options.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
        options.compile = compileFlags.settings();
        if (checkKernels) {
            nlohmann::json result;
            int failed = 0;
            for (const auto& r : kernels::runKernelChecks(options.device)) {
                std::cout << kernels::formatKernelCheck(r) << "\n";
                failed += !r.passed;
                result["kernel_checks"].push_back({{"op", r.op}, {"dtype", r.dtype}, {"shape", r.shape},
                                                    {"fused_rel_l2", r.fusedError}, {"eager_rel_l2", r.eagerError},
                                                    {"tolerance", r.tolerance}, {"passed", r.passed},
                                                    {"note", r.note}});
            }
            std::cout << "kernel checks: " << failed << " failed" << std::endl;
            if (!jsonPath.empty()) {
                writeJsonAtomically(jsonPath, result);
            }
            return failed == 0 ? 0 : 1;
        }
        reportBench(kernels::runDiTBench(options), profile, jsonPath);
        return 0;
    });
}

// bench --vae-decode: the VAE decode of one video (kernels/vae_bench.h), as JSON.
static int runVaeBench(const kernels::DiTBenchOptions& shape, bool tiled, const std::string& device,
                       const std::string& dtype, const CompileFlags& compile, const std::string& jsonPath,
                       const ProfileFlags& profile) {
    kernels::VaeBenchOptions options;
    options.frames = shape.frames;
    options.height = shape.height;
    options.width = shape.width;
    options.iterations = shape.iterations;
    options.warmup = shape.warmup;
    options.tiled = tiled;
    options.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
    if (!pickBenchDevice(device, options.device)) {
        return 2;
    }
    return guardedBench([&] {
        // --compile MODE --compile-models vae: the decode as generation runs it with those settings.
        options.compiled = compilesVae(compile.settings(), options.device);
        profile.check();
        options.profileIterations = profile.benchIterations();
        reportBench(kernels::runVaeDecodeBench(options), profile, jsonPath);
        return 0;
    });
}

// bench --t2v: whole generations with a model folder (default: the demo model) and its preset, as JSON. The bench's
// --frames/--height/--width/--steps/--compile* override the preset's only where given.
struct T2VBenchArgs {
    std::string model, preset;
    int64_t steps = 0;               // 0: the preset's
    bool shapeGiven = false, compileGiven = false;
};

static int runT2VBench(const T2VBenchArgs& a, const kernels::DiTBenchOptions& shape, const std::string& device,
                       const std::string& dtype, const CompileFlags& compile, const std::string& jsonPath) {
    kernels::T2VBenchOptions options;
    if (!pickBenchDevice(device, options.device)) {
        return 2;
    }
    return guardedBench([&] {
        options.modelDir = a.model.empty() ? defaultModelDir() : std::filesystem::path(a.model);
        if (options.modelDir.empty()) {
            throw ConfigError("bench --t2v: no --model given and no demo model found (resources/demo-model)");
        }
        PresetStore store(PresetStore::defaultBuiltinDir(), PresetStore::defaultUserDir());
        GenerationSettings settings = store.load(a.preset.empty() ? defaultPresetOf(options.modelDir) : a.preset);
        settings.prompt = "a red circle moving left on a blue background";
        if (a.shapeGiven) {
            settings.numFrames = shape.frames;
            settings.height = shape.height;
            settings.width = shape.width;
        }
        if (a.steps > 0) {
            settings.steps = a.steps;
        }
        if (a.compileGiven) {
            settings.compile = compile.settings();
        }
        settings.validate();
        options.settings = settings;
        options.dtype = resolveDtype(dtype, options.device); // as generate --inline: float32 on a CPU
        options.iterations = shape.iterations;
        options.warmup = shape.warmup;
        reportBench(kernels::runT2VBench(options), ProfileFlags{}, jsonPath);
        return 0;
    });
}

// bench-usp: one CFG denoising step on a rank group (parallel/usp_bench.h); rank 0's result as a line and JSON.
static int runBenchUsp(const parallel::UspBenchOptions& options, const std::string& jsonPath) {
    try {
        parallel::checkUspBench(options); // refuse before anything starts
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
    try {
        const nlohmann::json result = parallel::runUspBenchOnRanks(options);
        std::cout << parallel::formatUspBench(result) << std::endl;
        if (!jsonPath.empty()) {
            std::ofstream out(jsonPath);
            out << result.dump() << "\n";
            if (!out) {
                std::cerr << "error: cannot write " << jsonPath << "\n";
                return 1;
            }
        } else {
            std::cout << result.dump(1) << std::endl;
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
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

// ---- The worker from a terminal (docs/protocol.md): status, queue, cancel, history, shutdown, and generate
// through the worker. The worker is found at DITSTUDIO_WORKER, else the user's runtime socket.

// Connects; with `startIfNeeded`, launches ditstudio-worker (beside this executable) in the background when no
// worker answers on the Unix socket, and waits for it. Throws protocol::ConnectionError / ProtocolError.
static std::unique_ptr<protocol::WorkerClient> connectWorker(bool startIfNeeded) {
    auto client = std::make_unique<protocol::WorkerClient>();
    const auto endpoint = protocol::Endpoint::fromEnvironment();
    const std::string clientName = "ditstudio-cli " DITSTUDIO_VERSION;
    try {
        client->connect(endpoint, clientName);
        return client;
    } catch (const protocol::ConnectionError&) {
        if (!startIfNeeded || endpoint.kind != protocol::Endpoint::Kind::Unix) {
            throw;
        }
    }
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    std::filesystem::path exe = self.parent_path() / "ditstudio-worker";
    if (!std::filesystem::exists(exe, ec)) {
        exe = self.parent_path().parent_path() / "worker" / "ditstudio-worker"; // the build tree
    }
    std::cerr << "starting " << exe.string() << " on " << endpoint.describe() << "\n";
    const pid_t child = ::fork();
    if (child == 0) {
        ::setsid();
        if (::fork() == 0) {
            const int devNull = ::open("/dev/null", O_RDWR);
            ::dup2(devNull, 0);
            ::dup2(devNull, 1);
            ::dup2(devNull, 2);
            const std::string socket = endpoint.socketPath.string();
            ::execl(exe.c_str(), exe.c_str(), "--socket", socket.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::_exit(0);
    }
    ::waitpid(child, nullptr, 0);
    for (int attempt = 0;; ++attempt) {
        try {
            client->connect(endpoint, clientName);
            return client;
        } catch (const protocol::ConnectionError&) {
            if (attempt >= 150) {
                throw;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

static std::string formatAge(double epochSeconds) {
    const std::time_t t = static_cast<std::time_t>(epochSeconds);
    std::tm local{};
    localtime_r(&t, &local);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
    return text;
}

static std::string ellipsize(const std::string& text, size_t width) {
    return text.size() <= width ? text : text.substr(0, width - 3) + "...";
}

static int runWorkerCommand(const std::string& command, int64_t jobId, const std::string& search, int64_t limit,
                            bool asJson) {
    try {
        auto client = connectWorker(false);
        if (command == "status") {
            const auto s = client->request({{"type", "get_status"}}).header;
            if (asJson) {
                std::cout << s.dump(1) << "\n";
                return 0;
            }
            std::cout << "worker " << s["worker"].get<std::string>() << " (protocol " << s["protocol"] << "), pid "
                      << s["pid"] << ", up " << static_cast<int64_t>(s["uptime_s"].get<double>()) << " s\n";
            std::cout << "queue: " << s["queue_length"] << " pending" << (s["paused"].get<bool>() ? " (paused)" : "")
                      << (s.contains("running_job") ? ", running job " + s["running_job"].dump() : "") << "\n";
            const auto& g = s["group"];
            std::cout << "rank group: " << g["state"].get<std::string>();
            if (g.contains("model")) {
                std::cout << ", " << g["model"].get<std::string>() << " on " << g["device"].get<std::string>()
                          << ", world " << g["world"] << ", " << g["dtype"].get<std::string>();
            }
            std::cout << "\n";
            for (const auto& gpu : s["gpus"]) {
                std::cout << "gpu " << gpu["index"] << ": " << gpu["name"].get<std::string>() << ", "
                          << gpu["memory_used_mib"] << " / " << gpu["memory_total_mib"] << " MiB, "
                          << gpu["utilization_percent"] << " %\n";
            }
            std::cout << "log: " << s["log_file"].get<std::string>() << "\n";
        } else if (command == "queue") {
            const auto q = client->request({{"type", "list_queue"}}).header;
            if (asJson) {
                std::cout << q.dump(1) << "\n";
                return 0;
            }
            std::cout << fmt::format("{:>6}  {:<9} {:>4}  {}\n", "JOB", "STATE", "PRIO", "PROMPT");
            for (const auto& job : q["jobs"]) {
                std::cout << fmt::format("{:>6}  {:<9} {:>4}  {}\n", job["job"].get<int64_t>(),
                                         job["state"].get<std::string>(), job["priority"].get<int64_t>(),
                                         ellipsize(job["prompt"].get<std::string>(), 80));
            }
            if (q["paused"].get<bool>()) {
                std::cout << "(the queue is paused)\n";
            }
        } else if (command == "cancel") {
            client->request({{"type", "cancel"}, {"job", jobId}});
            std::cout << "job " << jobId << ": cancel requested\n";
        } else if (command == "history") {
            nlohmann::json request{{"type", "query_history"}, {"limit", limit}};
            if (!search.empty()) {
                request["search"] = search;
            }
            const auto h = client->request(request).header;
            if (asJson) {
                std::cout << h["entries"].dump(1) << "\n";
                return 0;
            }
            for (const auto& e : h["entries"]) {
                std::cout << fmt::format("job {:>5}  {}  seed {}  {}\n", e["job"].get<int64_t>(),
                                         formatAge(e["created_at"].get<double>()), e["seed"].get<int64_t>(),
                                         ellipsize(e["prompt"].get<std::string>(), 70));
                if (e["outputs"].contains("video")) {
                    std::cout << "           " << e["outputs"]["video"].get<std::string>() << "\n";
                }
            }
            std::cout << h["entries"].size() << " entr" << (h["entries"].size() == 1 ? "y" : "ies") << "\n";
        } else if (command == "shutdown") {
            client->request({{"type", "shutdown"}});
            std::cout << "worker shutting down\n";
        }
        return 0;
    } catch (const protocol::ConnectionError& e) {
        std::cerr << "error: " << e.what() << " (start one with ditstudio-worker)\n";
        return 2;
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}

// generate through the worker: submits, follows the job's events on the terminal until it ends (or returns at
// once with `detach`), and prints the output path. The job keeps running if this command is interrupted.
static int runGenerateThroughWorker(const nlohmann::json& settings, const std::string& model,
                                                     int64_t priority, bool detach) {
    try {
        auto client = connectWorker(true);
        const std::string modelPath = std::filesystem::absolute(model).string();
        const auto submitted = client->request(
            {{"type", "submit"}, {"settings", settings}, {"model", modelPath}, {"priority", priority}});
        const int64_t job = submitted.header["job"].get<int64_t>();
        std::cout << "job " << job << " queued at position " << submitted.header["position"] << "\n";
        if (detach) {
            return 0;
        }
        client->request({{"type", "subscribe"}, {"job", job}, {"previews", false}, {"frames", false}});
        for (;;) {
            auto event = client->waitEvent(std::chrono::seconds(1));
            if (!event) {
                continue;
            }
            const auto& e = event->header;
            const std::string type = event->type();
            if (type == "started") {
                std::cout << "job " << job << " started\n";
            } else if (type == "stage") {
                std::cout << "stage " << e["stage"].get<std::string>() << "\n";
            } else if (type == "step") {
                std::cout << fmt::format("step {}/{}  {:.2f} it/s  ETA {:.0f} s\n", e["step"].get<int64_t>(),
                                         e["total"].get<int64_t>(), e["it_per_s"].get<double>(), e["eta_s"].get<double>());
            } else if (type == "finished") {
                std::cout << "finished: " << e["outputs"].value("video", std::string()) << " (seed " << e["seed"] << ")\n";
                return 0;
            } else if (type == "failed") {
                std::cerr << "error: job " << job << " failed: " << e["reason"].get<std::string>() << "\n";
                return 1;
            } else if (type == "cancelled") {
                std::cerr << "job " << job << " was cancelled\n";
                return 1;
            }
        }
    } catch (const protocol::ConnectionError& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    } catch (const Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}

// ---- generate: settings from a preset, the prompt and --set overrides; in process (--inline) or through the worker.
struct GenerateArgs {
    std::string model, prompt, negative, preset = "", out, device = "auto";
    std::vector<std::string> sets;
    CompileFlags compile;
    std::function<void(CompileSettings&)> applyCompileFlags; // the --compile* options given, over the preset's
    int64_t seed = -1;
    bool inlineRun = false, detach = false;
    int64_t priority = 0;
};

static int runGenerate(const GenerateArgs& a) {
    try {
        PresetStore store(PresetStore::defaultBuiltinDir(), PresetStore::defaultUserDir());
        GenerationSettings settings;
        std::string model = a.model;
        if (model.empty()) {
            model = defaultModelDir().string();
            if (model.empty()) {
                std::cerr << "error: no --model given and no demo model found (resources/demo-model)\n";
                return 2;
            }
        }
        std::string presetName = a.preset;
        if (presetName.empty()) {
            presetName = defaultPresetOf(model);
        }
        settings = store.load(presetName);
        if (!a.prompt.empty()) {
            settings.prompt = a.prompt;
        }
        if (!a.negative.empty()) {
            settings.negativePrompt = a.negative;
        }
        if (a.seed >= 0) {
            settings.seed = a.seed;
        } else if (settings.seedMode == SeedMode::Random) {
            settings.seed = static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
        }
        for (const auto& assignment : a.sets) {
            settings.applyOverride(assignment);
        }
        if (a.applyCompileFlags) {
            a.applyCompileFlags(settings.compile);
            kernels::validateCompileSettings(settings.compile);
        }
        if (!a.out.empty()) { // -o clip.gif writes a GIF whatever the preset's export.format says
            const bool formatSet = std::any_of(a.sets.begin(), a.sets.end(), [](const std::string& assignment) {
                return assignment.rfind("export.format=", 0) == 0;
            });
            settings.exportSettings.format = exportFormatForOutput(a.out, settings.exportSettings.format, formatSet);
        }
        settings.validate();
        if (!a.inlineRun) {
            return runGenerateThroughWorker(settings.toJson(), model, a.priority, a.detach);
        }
        InlineJobOptions options;
        options.modelDir = model;
        options.output = a.out.empty() ? std::filesystem::path("out") / ("ditstudio_" + std::to_string(settings.seed) +
                                                                         defaultExtension(settings.exportSettings.format))
                                       : std::filesystem::path(a.out);
        options.device = a.device;
        options.compiler = [](WanDiT& dit, const CompileSettings& compile) {
            return kernels::compileDiT(dit, compile).summary;
        };
        options.vaeNormOp = kernels::vaeRmsNormSilu;
        const auto r = runInlineJob(settings, options);
        std::cout << "wrote " << r.output.string() << " (" << r.frameCount << " frames, " << r.width << "x" << r.height
                  << ", " << r.codec << ", seed " << r.generation.seed << ")\n";
        for (const auto& [stage, secs] : r.generation.stageSeconds) {
            std::cout << fmt::format("  {:<8} {:8.2f} s\n", stage, secs);
        }
        std::cout << "settings: " << r.sidecar.string() << "\n";
        return 0;
    } catch (const CancelledError&) {
        std::cerr << "cancelled\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
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
    parallel::ParallelDegrees verifyDegrees;
    bool cfgParallel = false;
    auto* ulyssesOption = verify->add_option("--ulysses", verifyDegrees.ulysses, "Ulysses degree: DiT cases on ranks")
                              ->check(CLI::PositiveNumber);
    auto* ringOption = verify->add_option("--ring", verifyDegrees.ring, "Ring-attention degree: DiT cases on ranks")
                           ->check(CLI::PositiveNumber);
    verify->add_flag("--cfg-parallel", cfgParallel, "Conditional/unconditional passes on two halves of the ranks");

    auto* generate = app.add_subcommand("generate", "Generate a video from a prompt (through the worker, or --inline)");
    GenerateArgs gen;
    generate->add_option("--model", gen.model, "Model folder (default: the embedded demo model)");
    generate->add_option("--prompt,-p", gen.prompt, "The prompt");
    generate->add_option("--negative-prompt", gen.negative, "The negative prompt");
    generate->add_option("--preset", gen.preset, "Preset name or YAML file (default: the model's default preset)");
    generate->add_option("--set", gen.sets, "Override a setting: key=value (e.g. steps=20, vae.tiled=false)");
    generate->add_option("--seed", gen.seed, "Seed (default: the preset's)");
    generate->add_option("--out,-o", gen.out, "Output file (.mp4, .webm, .gif) or folder (png)");
    generate->add_option("--device", gen.device, "auto, cpu, cuda or cuda:N (inline runs)");
    generate->add_flag("--inline", gen.inlineRun, "Run in this process instead of through the worker");
    generate->add_flag("--detach", gen.detach, "Queue the job on the worker and return at once");
    generate->add_option("--priority", gen.priority, "Queue priority (higher runs first)");
    gen.compile.addTo(generate); // each given --compile* option overrides the preset's compile settings
    gen.applyCompileFlags = [generate, &gen](CompileSettings& compile) {
        if (generate->get_option("--compile")->count() > 0) {
            compile.mode = kernels::compileModeFromName(gen.compile.mode);
        }
        if (generate->get_option("--compile-dynamic")->count() > 0) {
            compile.dynamic = gen.compile.dynamic;
        }
        if (generate->get_option("--compile-fullgraph")->count() > 0) {
            compile.fullgraph = gen.compile.fullgraph;
        }
        if (generate->get_option("--compile-models")->count() > 0) {
            compile.models = kernels::parseCompileModels(gen.compile.models);
        }
    };

    auto* bench = app.add_subcommand("bench", "Time a DiT forward or a VAE decode (random weights at a real config), or whole generations (--t2v)");
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
    bool vaeDecode = false, vaeTiled = false;
    bench->add_flag("--vae-decode", vaeDecode, "Instead: the Wan 2.1 VAE decode of one video (random weights)");
    bench->add_flag("--vae-tiled", vaeTiled, "With --vae-decode: the tiled decode (tiles 30x52 every 15x26 latents)");
    bool t2v = false;
    T2VBenchArgs t2vArgs;
    bench->add_flag("--t2v", t2v, "Instead: whole generations (encode, denoise, decode) with a model folder and preset")
        ->excludes("--vae-decode")
        ->excludes("--check-kernels");
    bench->add_option("--model", t2vArgs.model, "With --t2v: the model folder (default: the embedded demo model)");
    bench->add_option("--preset", t2vArgs.preset, "With --t2v: preset name or YAML file (default: the model's)");
    bench->add_option("--steps", t2vArgs.steps, "With --t2v: denoising steps (default: the preset's)")
        ->check(CLI::PositiveNumber);
    ProfileFlags benchProfile;
    auto* profileOption = bench->add_option("--profile", benchProfile.path,
                                            "After the timing, profile the forward per kernel: JSON to this file, "
                                            "markdown tables to stdout");
    profileOption->excludes("--check-kernels");
    bench->add_option("--profile-iters", benchProfile.iterations, "Forwards under the profiler (default 1)")
        ->needs(profileOption);
    CompileFlags benchCompile;
    benchCompile.addTo(bench);

    auto* benchUsp = app.add_subcommand("bench-usp", "Time one CFG denoising step on U × R (× 2) ranks, random weights");
    parallel::UspBenchOptions uspOptions;
    std::string uspJson;
    bool uspCfgParallel = false;
    double uspTimeout = 1800;
    CompileFlags uspCompile;
    uspCompile.addTo(benchUsp);
    benchUsp->add_option("--model-config", uspOptions.settings.modelConfig, "1.3B or 14B")
        ->check(CLI::IsMember({"1.3B", "14B"}));
    benchUsp->add_option("--frames", uspOptions.settings.frames, "Video frames (4k+1)");
    benchUsp->add_option("--height", uspOptions.settings.height, "Pixels (multiple of 16)");
    benchUsp->add_option("--width", uspOptions.settings.width, "Pixels (multiple of 16)");
    benchUsp->add_option("--text-len", uspOptions.settings.textLength, "Text tokens")->check(CLI::PositiveNumber);
    benchUsp->add_option("--layers", uspOptions.settings.layers, "Override the layer count (quick runs)");
    benchUsp->add_option("--iters", uspOptions.settings.iterations, "Timed steps (median)")->check(CLI::PositiveNumber);
    benchUsp->add_option("--warmup", uspOptions.settings.warmup, "Untimed steps first")->check(CLI::NonNegativeNumber);
    benchUsp->add_option("--dtype", uspOptions.settings.dtype, "bfloat16 or float32")
        ->check(CLI::IsMember({"float32", "bfloat16"}));
    benchUsp->add_option("--ulysses", uspOptions.degrees.ulysses, "Ulysses degree (must divide the heads)")
        ->check(CLI::PositiveNumber);
    benchUsp->add_option("--ring", uspOptions.degrees.ring, "Ring-attention degree")->check(CLI::PositiveNumber);
    benchUsp->add_flag("--cfg-parallel", uspCfgParallel, "Conditional/unconditional passes on two halves of the ranks");
    benchUsp->add_option("--device", uspOptions.device, "cuda (rank r on cuda:r, NCCL) or cpu (CPU transport)")
        ->check(CLI::IsMember({"cpu", "cuda"}));
    benchUsp->add_option("--timeout", uspTimeout, "Seconds before the rank group is stopped")
        ->check(CLI::PositiveNumber);
    benchUsp->add_option("--json", uspJson, "Write rank 0's result (one JSON line) here instead of printing it");

    auto* tokenize = app.add_subcommand("tokenize", "Print the umt5 token ids of a prompt (padding not shown)");
    std::string tokenizerPath, prompt;
    int64_t seqLen = 512;
    tokenize->add_option("--tokenizer", tokenizerPath, "spiece.model, tokenizer.json or the google/umt5-xxl folder")->required();
    tokenize->add_option("prompt", prompt, "The prompt")->required();
    tokenize->add_option("--seq-len", seqLen, "Padded length (EOS included)")->check(CLI::PositiveNumber);

    auto* probe = app.add_subcommand("probe", "Read a video back (frames, size, fps, codec) or describe a model folder");
    std::string probePath;
    probe->add_option("file", probePath, "Video file, PNG-sequence folder or model folder")->required();

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

    // The worker's queue and history from a terminal.
    std::string workerCommand, historySearch;
    int64_t cancelJob = 0, historyLimit = 20;
    bool workerJson = false;
    for (auto [name, help] : {std::pair{"status", "Worker, queue, rank group and GPU status"},
                              std::pair{"queue", "The running and pending jobs of the worker"},
                              std::pair{"cancel", "Cancel a queued or running job of the worker"},
                              std::pair{"history", "Past outputs with their settings (newest first)"},
                              std::pair{"shutdown", "Stop the worker (the queue is kept for its next start)"}}) {
        auto* sub = app.add_subcommand(name, help);
        sub->callback([&workerCommand, name = std::string(name)] { workerCommand = name; });
        if (std::string(name) != "cancel" && std::string(name) != "shutdown") {
            sub->add_flag("--json", workerJson, "Print the worker's JSON reply");
        }
        if (std::string(name) == "cancel") {
            sub->add_option("job", cancelJob, "Job id")->required();
        }
        if (std::string(name) == "history") {
            sub->add_option("--search", historySearch, "Only entries whose prompt contains TEXT (case-insensitive)");
            sub->add_option("--limit", historyLimit, "At most this many entries")->check(CLI::Range(1, 1000));
        }
    }

    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::from_str(logLevel));
    if (*verify && (ulyssesOption->count() > 0 || ringOption->count() > 0 || cfgParallel)) {
        verifyDegrees.cfg = cfgParallel ? 2 : 1;
        return runVerifyOnRanks(dir, cases, device, dtype, verifyDegrees, logLevel, [&](std::vector<std::string> rest) {
            return runVerify(dir, rest, device, dtype, compileFlags);
        });
    }
    if (*verify) {
        return runVerify(dir, cases, device, dtype, compileFlags);
    }
    if (*generate) {
        return runGenerate(gen);
    }
    if (*bench) {
        benchProfile.isRequested = profileOption->count() > 0;
        if (t2v) {
            if (profileOption->count() > 0) {
                std::cerr << "error: bench --t2v does not take --profile (profile a --model-config forward or "
                             "--vae-decode)\n";
                return 2;
            }
            t2vArgs.shapeGiven = bench->get_option("--frames")->count() + bench->get_option("--height")->count() +
                                     bench->get_option("--width")->count() > 0;
            t2vArgs.compileGiven = bench->get_option("--compile")->count() + bench->get_option("--compile-models")->count() +
                                       bench->get_option("--compile-fullgraph")->count() > 0;
            if (t2vArgs.shapeGiven && (bench->get_option("--frames")->count() == 0 ||
                                       bench->get_option("--height")->count() == 0 ||
                                       bench->get_option("--width")->count() == 0)) {
                std::cerr << "error: bench --t2v: give --frames, --height and --width together (or none: the preset's)\n";
                return 2;
            }
            return runT2VBench(t2vArgs, benchOptions, benchDevice, benchDtype, benchCompile, benchJson);
        }
        if (vaeDecode) {
            return runVaeBench(benchOptions, vaeTiled, benchDevice, benchDtype, benchCompile, benchJson, benchProfile);
        }
        return runBench(benchOptions, benchDevice, benchDtype, benchCompile, benchJson, checkKernels, benchProfile);
    }
    if (*benchUsp) {
        uspOptions.degrees.cfg = uspCfgParallel ? 2 : 1;
        try {
            uspOptions.settings.compile = uspCompile.settings();
        } catch (const Error& e) {
            std::cerr << "error: " << e.what() << "\n";
            return 2;
        }
        uspOptions.logLevel = logLevel;
        uspOptions.timeout = std::chrono::milliseconds(static_cast<int64_t>(uspTimeout * 1000));
        return runBenchUsp(uspOptions, uspJson);
    }
    if (*tokenize) {
        return runTokenize(tokenizerPath, prompt, seqLen);
    }
    if (*probe) {
        return runProbe(probePath);
    }
    if (*presets) {
        const auto chosen = presets->get_subcommands();
        return runPresets(chosen.empty() ? "list" : chosen.front()->get_name(), presetTarget, presetBuiltinDir,
                          presetUserDir);
    }
    if (!workerCommand.empty()) {
        return runWorkerCommand(workerCommand, cancelJob, historySearch, historyLimit, workerJson);
    }
    return 0;
}
