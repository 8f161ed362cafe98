// ditstudio-rank: one process of a rank group (one per GPU, or several CPU processes). Started by the launcher
// (parallel/launcher.h), which sets DITSTUDIO_RANK, DITSTUDIO_WORLD_SIZE, DITSTUDIO_STORE_ADDR/PORT,
// DITSTUDIO_DEVICE and the degrees; without them it is a world of 1. Joins the group, then runs its mode:
//   --selftest-collectives [--loop-seconds S]   closed-form checks of every collective (repeated for S seconds)
//   --verify-dit DIR CASE [--result FILE]       a golden DiT (or pipeline) case sharded; rank 0 checks, prints,
//                                               writes FILE
//   --bench-usp SETTINGS [--result FILE]        one CFG denoising step timed with random weights
//                                               (parallel/usp_bench.h; SETTINGS is its JSON); rank 0 writes FILE
// Exit codes: parallel/rank_session.h (0 ok, 1 error, 2 usage, 3 communication failure, 4 launcher gone).
#include "core/util/error.h"
#include "core/verify/golden.h"
#include "kernels/compile.h"
#include "kernels/dit_bench.h"
#include "kernels/fused_ops.h"
#include "parallel/rank_session.h"
#include "parallel/selftest.h"
#include "parallel/usp_bench.h"
#include "parallel/verify_parallel.h"
#include "service/rank_control.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

using namespace ditstudio;
using namespace ditstudio::parallel;

static int selftest(RankSession& session, double loopSeconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(loopSeconds);
    int rounds = 0;
    do {
        const auto failures = runCollectiveSelfTest(session.world());
        for (const auto& f : failures) {
            spdlog::error("selftest: {}", f);
        }
        if (!failures.empty()) {
            return kRankExitError;
        }
        ++rounds;
    } while (std::chrono::steady_clock::now() < until);
    spdlog::info("selftest: every collective correct on rank {} of {} ({} round(s), {})", session.world().rank(),
                 session.world().size(), rounds, session.world().backend());
    return kRankExitOk;
}

static int verifyDit(RankSession& session, const std::string& dir, const std::string& caseName,
                     const std::string& resultPath, const std::string& dtype) {
    verify::Options options;
    options.device = session.environment().device;
    options.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
    if (options.device.is_cuda()) {
        at::globalContext().setAllowTF32CuBLAS(false);
        at::globalContext().setAllowTF32CuDNN(false);
    }
    const auto result = verifyDitOnRanks(session.world(), session.environment().degrees, dir, caseName, options);
    if (session.isLeader()) {
        std::cout << verify::formatResult(result) << std::endl;
        if (!resultPath.empty()) { // written atomically: the launcher side reads it after the group exits
            const std::string temporary = resultPath + ".part";
            {
                std::ofstream out(temporary);
                out << caseResultToJson(result).dump(2) << "\n";
                if (!out) {
                    throw Error(fmt::format("cannot write the result file {}", temporary));
                }
            }
            std::filesystem::rename(temporary, resultPath);
        }
    }
    return kRankExitOk;
}

// Rank 0's result, written atomically: the launcher side reads it after the group exits.
static void writeResultFile(const std::string& path, const nlohmann::json& json) {
    const std::string temporary = path + ".part";
    {
        std::ofstream out(temporary);
        out << json.dump(2) << "\n";
        if (!out) {
            throw Error(fmt::format("cannot write the result file {}", temporary));
        }
    }
    std::filesystem::rename(temporary, path);
}

// The compiler installed wherever this program builds a DiT (Generator::DiTCompiler).
static std::string compileDiTSummary(WanDiT& dit, const CompileSettings& settings) {
    return kernels::compileDiT(dit, settings).summary;
}

static int benchUsp(RankSession& session, const std::string& settingsJson, const std::string& resultPath) {
    const auto settings = UspBenchSettings::fromJson(nlohmann::json::parse(settingsJson));
    const auto result = runUspStepBench(
        session.world(), session.environment().degrees, session.environment().device, settings,
        [](const WanDiTConfig& cfg, at::ScalarType dtype, at::Device device) {
            return kernels::randomDiTWeights(cfg, dtype, device);
        },
        compileDiTSummary);
    if (session.isLeader()) {
        spdlog::info("{}", formatUspBench(result));
        if (!resultPath.empty()) {
            writeResultFile(resultPath, result);
        }
    }
    session.world().barrier(); // nobody leaves while rank 0 still writes
    return kRankExitOk;
}

int main(int argc, char** argv) {
    CLI::App app{"DiT Studio rank process (started by the launcher)"};
    bool selftestMode = false;
    double loopSeconds = 0;
    std::vector<std::string> verifyArgs;
    std::string resultPath, dtype = "float32";
    app.add_flag("--selftest-collectives", selftestMode, "Check every collective against closed forms");
    app.add_option("--loop-seconds", loopSeconds, "Repeat the self-test for this long");
    app.add_option("--verify-dit", verifyArgs, "DIR CASE: run a golden DiT or pipeline case sharded")->expected(2);
    std::string benchSettings;
    app.add_option("--bench-usp", benchSettings, "SETTINGS (JSON): time one CFG step with random weights");
    app.add_option("--result", resultPath, "Rank 0 writes the case or bench result (JSON) here");
    app.add_option("--dtype", dtype, "float32 or bfloat16")->check(CLI::IsMember({"float32", "bfloat16"}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : kRankExitUsage;
    }
    const int modes = int(selftestMode) + int(!verifyArgs.empty()) + int(!benchSettings.empty());
    if (!service::isServingWorker() && modes != 1) {
        std::cerr << "ditstudio-rank: give exactly one of --selftest-collectives, --verify-dit DIR CASE, "
                     "--bench-usp SETTINGS\n";
        return kRankExitUsage;
    }
    // The launcher prefixes every line with the rank and its own timestamp.
    spdlog::set_pattern(std::getenv(env::kRank) ? "[%l] %v" : "[%H:%M:%S.%e] [%l] %v");
    spdlog::set_level(spdlog::level::from_str(std::getenv(env::kLogLevel) ? std::getenv(env::kLogLevel) : "info"));

    try {
        RankSession session(RankEnvironment::fromEnvironment());
        if (service::isServingWorker()) { // launched by ditstudio-worker: serve its jobs (service/rank_control.h)
            return service::serveWorker(session, compileDiTSummary, kernels::vaeRmsNormSilu);
        }
        if (selftestMode) {
            return selftest(session, loopSeconds);
        }
        if (!benchSettings.empty()) {
            return benchUsp(session, benchSettings, resultPath);
        }
        return verifyDit(session, verifyArgs[0], verifyArgs[1], resultPath, dtype);
    } catch (const CommError& e) {
        spdlog::error("{}", e.what());
        return kRankExitPeerLost;
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return kRankExitError;
    }
}
