// Golden noise cases: tensors named "seed<S>.shape_<AxBx…>" are compared bitwise; "….first256"/"….last256"
// pairs check a large shape by its ends, plus the manifest's float64 sums.
#include "core/runtime/noise.h"
#include "core/util/error.h"
#include "core/verify/checkers.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <regex>
#include <set>

namespace ditstudio::verify {

void checkNoise(const CaseContext& ctx, CaseResult& result) {
    const auto file = ctx.file("case");
    const std::regex pattern(R"(seed(\d+)\.shape_([0-9x]+)(\.(first|last)(\d+))?)");
    std::set<std::string> bigDone;
    for (const auto& info : file.tensors()) {
        std::smatch m;
        if (!std::regex_match(info.name, m, pattern)) {
            continue;
        }
        const uint64_t seed = std::stoull(m[1].str());
        std::vector<int64_t> shape;
        std::string dims = m[2].str();
        for (size_t pos = 0; pos <= dims.size();) {
            const size_t next = dims.find('x', pos);
            shape.push_back(std::stoll(dims.substr(pos, next - pos)));
            if (next == std::string::npos) {
                break;
            }
            pos = next + 1;
        }
        if (!m[3].matched) {
            checkBitwise(result, info.name, seededNoise(shape, seed), file.tensor(info.name));
            continue;
        }
        const std::string base = fmt::format("seed{}.shape_{}", m[1].str(), dims);
        if (!bigDone.insert(base).second) {
            continue;
        }
        at::Tensor noise = seededNoise(shape, seed).reshape({-1});
        for (const char* end : {"first", "last"}) {
            for (const auto& other : file.tensors()) {
                const std::string prefix = base + "." + end;
                if (other.name.rfind(prefix, 0) == 0) {
                    const int64_t n = std::stoll(other.name.substr(prefix.size()));
                    at::Tensor part = std::string(end) == "first" ? noise.slice(0, 0, n) : noise.slice(0, -n);
                    checkBitwise(result, other.name, part.contiguous(), file.tensor(other.name));
                }
            }
        }
        const auto& manifestEntry = ctx.entry;
        if (manifestEntry.contains("big_sum")) {
            const double sum = noise.to(at::kDouble).sum().item<double>();
            const double want = manifestEntry["big_sum"].get<double>();
            result.checks.push_back(Check{base + ".sum", "abs", std::abs(sum - want), 1e-6, std::abs(sum - want) <= 1e-6});
            if (!result.checks.back().passed) {
                result.status = Status::Fail;
            }
        }
        if (manifestEntry.contains("big_abs_sum")) {
            const double sum = noise.to(at::kDouble).abs().sum().item<double>();
            const double want = manifestEntry["big_abs_sum"].get<double>();
            result.checks.push_back(
                Check{base + ".abs_sum", "abs", std::abs(sum - want), 1e-6, std::abs(sum - want) <= 1e-6});
            if (!result.checks.back().passed) {
                result.status = Status::Fail;
            }
        }
    }
    if (result.checks.empty()) {
        throw FormatError(fmt::format("case '{}' holds no seed<S>.shape_<dims> tensors", ctx.name));
    }
}

} // namespace ditstudio::verify
