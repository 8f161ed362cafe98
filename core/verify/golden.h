// Golden-vector verification: `ditstudio-cli verify DIR [CASE...]` reads DIR/manifest.json and runs every case
// through the checker of its `kind`. To add a kind: write `void checkKind(const CaseContext&, CaseResult&)` in its own
// core/verify/verify_<kind>.cpp, declare it in core/verify/checkers.h and add it to the table in golden.cpp.
#pragma once
#include "core/io/safetensors.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ditstudio {
class WanDiT;
}

namespace ditstudio::verify {

struct Options {
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;
    // Called on every DiT a checker builds, before its forward (the CLI's --compile: kernels::compileDiT).
    std::function<void(WanDiT&)> prepareDiT;
};

enum class Status { Pass, Fail, Skip };

// One comparison inside a case ("output", "inter.block1_out", "decode.frames_uint8_THWC").
struct Check {
    std::string name;
    std::string metric; // "rel_l2", "abs", "bitwise", "max_abs_u8"
    double value = 0;
    double tolerance = 0;
    bool passed = false;
};

struct CaseResult {
    std::string name;
    std::string kind;
    Status status = Status::Pass;
    std::vector<Check> checks;
    std::string reason; // for Skip, or an error
    double seconds = 0;
};

// What a checker gets: the case's manifest entry, its directory, and the options.
struct CaseContext {
    std::string name;
    nlohmann::json entry;
    std::filesystem::path dir;
    Options options;
    nlohmann::json manifest; // the whole manifest, for cases that refer to other cases (pipeline → dit, vae)

    io::SafetensorsFile file(const std::string& key) const; // entry[key] resolved in dir, validated
};

using CaseChecker = std::function<void(const CaseContext&, CaseResult&)>;

const CaseChecker* findChecker(const std::string& kind); // nullptr for an unknown kind

// Comparison helpers that append a Check to the result.
double relativeL2(const at::Tensor& out, const at::Tensor& ref);
void checkRelL2(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref, double tol);
void checkAbs(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref, double tol);
void checkBitwise(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref);
void checkMaxAbsU8(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref, int tol);

// Float32 CPU tolerances from the golden README.
constexpr double kRelL2Tolerance = 1e-4;
// The reduced-precision bound of a DiT's output (a DiT case, or the DiT a pipeline case runs): 1.25 × the reference's
// own drift when it runs that DiT in bfloat16 (the manifest entry's bf16_cuda_rel_l2_vs_fp32) + 0.01.
double reducedPrecisionTolerance(const nlohmann::json& ditEntry);

// Runs the named cases (all when empty). Throws FormatError for a missing/malformed directory or manifest,
// ConfigError for an unknown case name.
std::vector<CaseResult> runCases(const std::filesystem::path& dir, const std::vector<std::string>& cases,
                                 const Options& options);

// "PASS dit_a dit rel_l2 3.2e-07 ≤ 1e-04 (…)"
std::string formatResult(const CaseResult& r);

} // namespace ditstudio::verify

