// Golden DiT cases: output and every stored intermediate (t_embedded … head_out) against the reference.
#include "core/models/wan_dit.h"
#include "core/runtime/trace.h"
#include "core/util/error.h"
#include "core/verify/checkers.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>

namespace ditstudio::verify {

void checkDit(const CaseContext& ctx, CaseResult& result) {
    const auto weights = io::WeightSource::open(ctx.dir / ctx.entry.at("weights").get<std::string>());
    const auto cfg = ctx.entry.contains("config") ? WanDiTConfig::fromJson(ctx.entry["config"])
                                                  : WanDiTConfig::fromWeights(weights);
    const auto caseFile = ctx.file("case");
    WanDiT dit(weights, cfg, ctx.options.dtype, ctx.options.device);
    if (ctx.options.prepareDiT) {
        ctx.options.prepareDiT(dit);
    }

    std::map<std::string, at::Tensor> inter;
    at::Tensor out;
    {
        ScopedTrace scope([&](const std::string& name, const at::Tensor& v) { inter[name] = v.to(at::kCPU); });
        out = dit.forward(caseFile.tensor("input.x"), caseFile.tensor("input.timestep"),
                          caseFile.tensor("input.context"));
    }
    const bool reduced = ctx.options.dtype != at::kFloat;
    if (!reduced) {
        for (const auto& info : caseFile.tensors()) {
            if (info.name.rfind("inter.", 0) == 0) {
                const std::string key = info.name.substr(6);
                if (!inter.count(key)) {
                    throw FormatError(fmt::format("case has {} but the model produced no such intermediate", info.name));
                }
                checkRelL2(result, info.name, inter[key], caseFile.tensor(info.name), kRelL2Tolerance);
            }
        }
        checkRelL2(result, "output", out, caseFile.tensor("output"), kRelL2Tolerance);
        return;
    }
    // Reduced precision: only the output, against the float32 reference, within the reference's own drift.
    checkRelL2(result, "output(vs fp32)", out, caseFile.tensor("output"), reducedPrecisionTolerance(ctx.entry));
}

} // namespace ditstudio::verify
