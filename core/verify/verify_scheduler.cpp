// Golden scheduler cases: sigmas/timesteps for each (steps, shift, strength), one Euler step and the last step.
#include "core/runtime/scheduler.h"
#include "core/util/error.h"
#include "core/verify/checkers.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace ditstudio::verify {

void checkScheduler(const CaseContext& ctx, CaseResult& result) {
    const auto file = ctx.file("case");
    const auto& settings = ctx.entry.at("settings");
    if (!settings.is_array()) {
        throw FormatError(fmt::format("case '{}': \"settings\" must be a list of [steps, shift, strength]", ctx.name));
    }
    for (size_t i = 0; i < settings.size(); ++i) {
        const auto& s = settings[i];
        const std::string p = fmt::format("s{}.", i);
        FlowMatchScheduler scheduler(s.at(0).get<int64_t>(), s.at(1).get<double>(), s.at(2).get<double>());
        checkAbs(result, p + "sigmas", scheduler.sigmas(), file.tensor(p + "sigmas"), 1e-6);
        checkAbs(result, p + "timesteps", scheduler.timesteps(), file.tensor(p + "timesteps"), 1e-6 * 1000);
        if (file.contains(p + "step.sample")) {
            const at::Tensor sample = file.tensor(p + "step.sample");
            const at::Tensor v = file.tensor(p + "step.model_output");
            const int64_t k = file.tensor(p + "step.timestep_index").item<int64_t>();
            checkRelL2(result, p + "step.prev_sample", scheduler.stepAt(v, scheduler.timestep(k), sample),
                       file.tensor(p + "step.prev_sample"), kRelL2Tolerance);
            checkRelL2(result, p + "last_step.prev_sample",
                       scheduler.stepAt(v, scheduler.timestep(scheduler.steps() - 1), sample),
                       file.tensor(p + "last_step.prev_sample"), kRelL2Tolerance);
        }
    }
}

} // namespace ditstudio::verify
