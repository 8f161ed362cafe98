#include "kernels/t2v_bench.h"

#include "core/runtime/generation.h"
#include "core/util/error.h"
#include "kernels/bench_timing.h"
#include "kernels/compile.h"
#include "kernels/fused_ops.h"

#include <ATen/ATen.h>
#include <fmt/format.h>


namespace ditstudio::kernels {

nlohmann::json runT2VBench(const T2VBenchOptions& o) {
    if (o.iterations < 1 || o.warmup < 0) {
        throw ConfigError("bench: --iters must be ≥ 1 and --warmup ≥ 0");
    }
    const GenerationSettings& s = o.settings;
    nlohmann::json result;
    result["bench"] = "t2v";
    result["model"] = o.modelDir.string();
    result["video"] = {s.numFrames, s.height, s.width};
    result["steps"] = s.steps;
    result["cfg_scale"] = s.cfgScale;
    result["dtype"] = c10::toString(o.dtype);
    result["device"] = deviceName(o.device);
    result["compile"] = s.toJson()["compile"];

    double t0 = nowSeconds();
    Generator generator(o.modelDir, o.device, o.dtype);
    generator.setDiTCompiler([](WanDiT& dit, const CompileSettings& compile) { return compileDiT(dit, compile).summary; });
    generator.setVaeNormOp(vaeRmsNormSilu);
    synchronizeDevice(o.device);
    result["load_s"] = nowSeconds() - t0;

    std::vector<std::map<std::string, double>> stages; // of every call, the first included
    GenerationResult last;
    const RepeatedTiming timing = timeRepeated(o.device, o.warmup, o.iterations, [&] {
        last = generator.generate(s);
        stages.push_back(last.stageSeconds);
    });
    result["output_frames"] = last.frames.sizes().vec();
    result["first_call_s"] = timing.firstCallSeconds;
    result["median_s"] = timing.median;
    result["all_s"] = timing.seconds;
    result["first_call_stages_s"] = stages.front();
    nlohmann::json stageMedians = nlohmann::json::object();
    for (const auto& [name, seconds] : stages.front()) {
        std::vector<double> timed;
        for (size_t i = stages.size() - static_cast<size_t>(o.iterations); i < stages.size(); ++i) {
            timed.push_back(stages[i].count(name) ? stages[i].at(name) : 0.0);
        }
        stageMedians[name] = medianOf(timed);
    }
    result["stage_median_s"] = stageMedians;
    if (s.steps > 0) {
        result["denoise_step_median_s"] = stageMedians.value("denoise", 0.0) / static_cast<double>(s.steps);
    }
    if (const auto peak = peakMemoryGiB(o.device)) {
        result["peak_mem_GiB"] = *peak;
    }
    return result;
}

} // namespace ditstudio::kernels
