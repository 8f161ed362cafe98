// ditstudio-cli: the engine from a terminal. `verify` proves parity against golden vectors.
#include "core/util/error.h"
#include "core/verify/golden.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <CLI/CLI.hpp>
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

    CLI11_PARSE(app, argc, argv);
    spdlog::set_level(spdlog::level::from_str(logLevel));
    if (*verify) {
        return runVerify(dir, cases, device, dtype);
    }
    return 0;
}
