#include "core/verify/golden.h"

#include "core/util/json_file.h"

#include "core/util/error.h"
#include "core/verify/checkers.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>

namespace ditstudio::verify {

namespace fs = std::filesystem;

const CaseChecker* findChecker(const std::string& kind) {
    static const std::map<std::string, CaseChecker> kCheckers = {
        {"dit", checkDit},     {"scheduler", checkScheduler}, {"noise", checkNoise},
        {"vae", checkVae},     {"pipeline", checkPipeline},   {"t5", checkT5},
    };
    auto it = kCheckers.find(kind);
    return it == kCheckers.end() ? nullptr : &it->second;
}

io::SafetensorsFile CaseContext::file(const std::string& key) const {
    if (!entry.contains(key) || !entry[key].is_string()) {
        throw FormatError(fmt::format("manifest case '{}' has no \"{}\" file name", name, key));
    }
    return io::SafetensorsFile::open(dir / entry[key].get<std::string>());
}

double reducedPrecisionTolerance(const nlohmann::json& ditEntry) {
    return 1.25 * ditEntry.value("bf16_cuda_rel_l2_vs_fp32", 0.0) + 0.01;
}

double relativeL2(const at::Tensor& out, const at::Tensor& ref) {
    at::Tensor o = out.detach().to(at::kCPU, at::kDouble);
    at::Tensor r = ref.detach().to(at::kCPU, at::kDouble);
    if (o.sizes() != r.sizes()) {
        throw FormatError(fmt::format("shape mismatch: got {}, reference {}", c10::str(o.sizes()),
                                      c10::str(r.sizes())));
    }
    const double denom = r.norm().item<double>();
    const double num = (o - r).norm().item<double>();
    return denom > 0 ? num / denom : num;
}

static void add(CaseResult& r, Check c) {
    if (!c.passed) {
        r.status = Status::Fail;
    }
    r.checks.push_back(std::move(c));
}

void checkRelL2(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref, double tol) {
    const double v = relativeL2(out, ref);
    add(r, Check{name, "rel_l2", v, tol, v <= tol});
}

void checkAbs(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref, double tol) {
    const double v = (out.to(at::kCPU, at::kDouble) - ref.to(at::kCPU, at::kDouble)).abs().max().item<double>();
    add(r, Check{name, "max_abs", v, tol, v <= tol});
}

void checkBitwise(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref) {
    at::Tensor o = out.to(at::kCPU).contiguous(), f = ref.to(at::kCPU).contiguous();
    const bool same = o.sizes() == f.sizes() && o.scalar_type() == f.scalar_type() &&
                      std::memcmp(o.data_ptr(), f.data_ptr(), o.numel() * o.element_size()) == 0;
    double mismatches = 0;
    if (!same && o.sizes() == f.sizes()) {
        mismatches = o.ne(f).sum().item<double>();
    }
    add(r, Check{name, "bitwise_mismatches", same ? 0.0 : std::max(mismatches, 1.0), 0.0, same});
}

void checkMaxAbsU8(CaseResult& r, const std::string& name, const at::Tensor& out, const at::Tensor& ref, int tol) {
    const double v = (out.to(at::kCPU, at::kInt) - ref.to(at::kCPU, at::kInt)).abs().max().item<double>();
    add(r, Check{name, "max_abs_u8", v, static_cast<double>(tol), v <= tol});
}

std::vector<CaseResult> runCases(const fs::path& dir, const std::vector<std::string>& cases, const Options& options) {
    const fs::path manifestPath = dir / "manifest.json";
    const nlohmann::json manifest = readGoldenManifest(dir);
    const auto& all = manifest["cases"];
    std::vector<std::string> names = cases;
    if (names.empty()) {
        for (auto it = all.begin(); it != all.end(); ++it) {
            names.push_back(it.key());
        }
    }
    std::vector<CaseResult> results;
    for (const auto& name : names) {
        if (!all.contains(name)) {
            throw ConfigError(fmt::format("{}: no case '{}'", manifestPath.string(), name));
        }
        const auto& entry = all[name];
        CaseResult result;
        result.name = name;
        result.kind = entry.value("kind", "");
        const CaseChecker* checker = findChecker(result.kind);
        const auto start = std::chrono::steady_clock::now();
        if (!entry.is_object() || result.kind.empty()) {
            result.status = Status::Fail;
            result.reason = "case has no \"kind\"";
        } else if (!checker) {
            result.status = Status::Skip;
            result.reason = fmt::format("no checker for kind '{}'", result.kind);
        } else {
            CaseContext ctx{name, entry, dir, options, manifest};
            try {
                (*checker)(ctx, result);
            } catch (const std::exception& e) {
                result.status = Status::Fail;
                result.reason = e.what();
            }
        }
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        results.push_back(std::move(result));
    }
    return results;
}

std::string formatResult(const CaseResult& r) {
    if (r.status == Status::Skip) {
        return fmt::format("SKIP {}: {}", r.name, r.reason);
    }
    const Check* worst = nullptr;
    const Check* firstFail = nullptr;
    for (const auto& c : r.checks) {
        const double ratio = c.tolerance > 0 ? c.value / c.tolerance : (c.value > 0 ? 1e30 : 0);
        if (!worst || ratio > (worst->tolerance > 0 ? worst->value / worst->tolerance : (worst->value > 0 ? 1e30 : 0))) {
            worst = &c;
        }
        if (!c.passed && !firstFail) {
            firstFail = &c;
        }
    }
    if (r.status == Status::Pass) {
        if (!worst) {
            return fmt::format("PASS {} {} (no checks) {:.2f}s", r.name, r.kind, r.seconds);
        }
        return fmt::format("PASS {} {} {} {:.3g} tolerance {:.3g} (worst of {} checks: {}) {:.2f}s", r.name, r.kind,
                           worst->metric, worst->value, worst->tolerance, r.checks.size(), worst->name, r.seconds);
    }
    if (firstFail) {
        return fmt::format("FAIL {} {} {} {:.3g} tolerance {:.3g} first diverges at {}{}", r.name, r.kind,
                           firstFail->metric, firstFail->value, firstFail->tolerance, firstFail->name,
                           r.reason.empty() ? "" : " (" + r.reason + ")");
    }
    return fmt::format("FAIL {} {}: {}", r.name, r.kind, r.reason);
}

} // namespace ditstudio::verify
