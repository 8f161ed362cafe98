#include "kernels/compile.h"

#include "kernels/attention.h"
#include "kernels/autotune_cache.h"
#include "kernels/compile_settings.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_graphs.h"
#include "kernels/fused_ops.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <tuple>

namespace ditstudio::kernels {

namespace {

// Rotary tables per (head dim, grid, device): built once, the same tensors every step, so the fp32 copies of the
// fused kernel and the CUDA-graph keys stay valid. At most 4 grids kept.
class RopeCache {
public:
    RopeTable get(int64_t headDim, int64_t f, int64_t h, int64_t w, at::Device device) {
        const auto key = std::make_tuple(headDim, f, h, w, device.str());
        std::lock_guard lock(mutex_);
        for (const auto& [k, table] : tables_) {
            if (k == key) {
                return table;
            }
        }
        if (tables_.size() == 4) {
            tables_.erase(tables_.begin());
        }
        tables_.emplace_back(key, RopeTable::build(headDim, f, h, w, device));
        return tables_.back().second;
    }

private:
    using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, std::string>;
    std::mutex mutex_;
    std::vector<std::pair<Key, RopeTable>> tables_; // guarded by mutex_
};

} // namespace

CompileReport compileDiT(WanDiT& dit, const CompileSettings& settings, AutotuneCache* cache) {
    validateCompileSettings(settings);
    CompileReport report;
    if (!compilesModel(settings, "dit")) {
        dit.setOps(DiTBlockOps::eager());
        report.summary = fmt::format("DiT eager ({})", describe(settings));
        return report;
    }
    DiTBlockOps ops;
    ops.layerNormModulate = layerNormModulate;
    ops.qkNormRope = qkNormRope;
    ops.gatedResidual = gatedResidual;
    ops.ffnGeluTanh = ffnGeluTanh;
    ops.qkvProjection = fuseQkvWeights(dit);
    for (const auto& block : dit.blocks()) {
        report.fusedQkvBlocks += block.selfAttn.q.weight.storage().is_alias_of(block.selfAttn.v.weight.storage());
    }
    auto ropeCache = std::make_shared<RopeCache>();
    ops.ropeTable = [ropeCache](int64_t headDim, int64_t f, int64_t h, int64_t w, at::Device device) {
        return ropeCache->get(headDim, f, h, w, device);
    };
    report.fused = true;
    report.autotune = usesAutotune(settings.mode);
    auto selector = std::make_shared<AttentionSelector>(
        report.autotune, report.autotune ? (cache ? cache : &processAutotuneCache()) : nullptr);
    ops.attention = [selector](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
        return (*selector)(q, k, v);
    };
    if (usesCudaGraphs(settings.mode)) {
        report.cudaGraphs = true;
        auto runner = std::make_shared<BlockGraphRunner>(settings.fullgraph, settings.dynamic);
        ops.runBlocks = [runner](const WanDiT& model, const at::Tensor& tokens, const at::Tensor& ctx,
                                 const at::Tensor& tmod, const RopeTable& rope) {
            return runner->run(model, tokens, ctx, tmod, rope);
        };
    }
    dit.setOps(std::move(ops));
    report.summary = fmt::format("DiT compiled: {}; fused kernels {}, fused QKV in {}/{} blocks, CUDA graphs {}, "
                                 "autotune {}",
                                 describe(settings), isFusionEnabled() ? "on" : "off (DITSTUDIO_DISABLE_FUSION)",
                                 report.fusedQkvBlocks, dit.blocks().size(),
                                 report.cudaGraphs ? (settings.fullgraph ? "whole block stack" : "per block") : "off",
                                 report.autotune ? "on" : "off");
    if (compilesModel(settings, "text_encoder")) {
        spdlog::warn("compile.models: the text encoder has no compiled path yet and runs eagerly");
    }
    spdlog::info("{}", report.summary);
    return report;
}

} // namespace ditstudio::kernels
