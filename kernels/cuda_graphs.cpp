#include "kernels/cuda_graphs.h"

#include "core/runtime/trace.h"
#include "kernels/cuda_check.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#if DITSTUDIO_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace ditstudio::kernels {

struct BlockGraphRunner::Captured {
    std::string key;
    RopeTable rope;                      // held: its identity is part of the key
    at::Tensor tokensIn, ctxIn, tmodIn;  // static inputs
    at::Tensor tokensAlt;                // per block: the second token buffer of the chain
    std::vector<at::Tensor> blockOutputs; // fullgraph + traced: every block's output
    at::Tensor output;                    // the stack's output (a static buffer)
#if DITSTUDIO_HAVE_CUDA
    std::vector<std::unique_ptr<at::cuda::CUDAGraph>> graphs;
#endif
};

BlockGraphRunner::BlockGraphRunner(bool fullgraph, bool dynamic) : fullgraph_(fullgraph), dynamic_(dynamic) {}
BlockGraphRunner::~BlockGraphRunner() = default;

int BlockGraphRunner::captureCount() const {
    std::lock_guard lock(mutex_);
    return captureCount_;
}

static at::Tensor runEagerly(const WanDiT& dit, at::Tensor x, const at::Tensor& ctx, const at::Tensor& tmod,
                             const RopeTable& rope) {
    for (size_t i = 0; i < dit.blocks().size(); ++i) {
        x = dit.runBlock(i, x, ctx, tmod, rope);
        if (isTracing()) {
            trace(fmt::format("block{}_out", i), x);
        }
    }
    return x;
}

at::Tensor BlockGraphRunner::run(const WanDiT& dit, const at::Tensor& tokens, const at::Tensor& ctx,
                                 const at::Tensor& tmod, const RopeTable& rope) {
#if DITSTUDIO_HAVE_CUDA
    if (!tokens.is_cuda()) {
        return runEagerly(dit, tokens, ctx, tmod, rope);
    }
    std::lock_guard lock(mutex_);
    const bool traced = isTracing();
    const std::string key =
        fmt::format("x{} ctx{} tmod{} {} rope@{} traced={}", c10::str(tokens.sizes()), c10::str(ctx.sizes()),
                    c10::str(tmod.sizes()), c10::toString(tokens.scalar_type()),
                    static_cast<const void*>(rope.cos.unsafeGetTensorImpl()), traced);
    auto it = std::find_if(captured_.begin(), captured_.end(), [&](const auto& c) { return c->key == key; });
    Captured* c = nullptr;
    if (it != captured_.end()) {
        std::rotate(it, it + 1, captured_.end()); // most recently used last
        c = captured_.back().get();
        c->tokensIn.copy_(tokens);
        c->ctxIn.copy_(ctx);
        c->tmodIn.copy_(tmod);
    } else {
        c = &capture(dit, key, tokens, ctx, tmod, rope, traced);
    }
    const c10::cuda::CUDAGuard guard(tokens.device());
    if (fullgraph_) {
        c->graphs.front()->replay();
        for (size_t i = 0; traced && i < c->blockOutputs.size(); ++i) {
            trace(fmt::format("block{}_out", i), c->blockOutputs[i]);
        }
    } else {
        for (size_t i = 0; i < c->graphs.size(); ++i) {
            c->graphs[i]->replay();
            if (traced) {
                trace(fmt::format("block{}_out", i), i % 2 == 0 ? c->tokensAlt : c->tokensIn);
            }
        }
    }
    return c->output;
#else
    return runEagerly(dit, tokens, ctx, tmod, rope);
#endif
}

BlockGraphRunner::Captured& BlockGraphRunner::capture(const WanDiT& dit, const std::string& key,
                                                      const at::Tensor& tokens, const at::Tensor& ctx,
                                                      const at::Tensor& tmod, const RopeTable& rope, bool traced) {
#if DITSTUDIO_HAVE_CUDA
    if (!dynamic_ && !captured_.empty()) {
        spdlog::info("CUDA graphs: new input shape ({}), re-capturing (compile.dynamic is false)", key);
        captured_.clear();
    } else if (captured_.size() >= 4) {
        captured_.erase(captured_.begin());
    }
    auto c = std::make_unique<Captured>();
    c->key = key;
    c->rope = rope;
    c->tokensIn = tokens.clone();
    c->ctxIn = ctx.clone();
    c->tmodIn = tmod.clone();
    const size_t blocks = dit.blocks().size();
    const c10::cuda::CUDAGuard guard(tokens.device());
    const auto current = at::cuda::getCurrentCUDAStream();
    const auto side = at::cuda::getStreamFromPool(false, tokens.device().index());
    at::cuda::CUDAEvent ready;
    ready.record(current);
    ready.block(side);
    std::string what = "the warm-up";
    try {
        const c10::cuda::CUDAStreamGuard streamGuard(side);
        {
            at::Tensor x = c->tokensIn.clone(); // eager pass: plans, workspaces, autotune, rope tables
            for (size_t i = 0; i < blocks; ++i) {
                x = dit.runBlock(i, x, c->ctxIn, c->tmodIn, rope);
            }
        }
        side.synchronize();
        if (fullgraph_) {
            what = "the block stack (fullgraph)";
            auto graph = std::make_unique<at::cuda::CUDAGraph>();
            graph->capture_begin();
            at::Tensor x = c->tokensIn;
            for (size_t i = 0; i < blocks; ++i) {
                x = dit.runBlock(i, x, c->ctxIn, c->tmodIn, rope);
                if (traced) {
                    c->blockOutputs.push_back(x);
                }
            }
            graph->capture_end();
            c->output = x;
            c->graphs.push_back(std::move(graph));
        } else {
            c->tokensAlt = at::empty_like(c->tokensIn);
            for (size_t i = 0; i < blocks; ++i) {
                what = fmt::format("block {}", i);
                const at::Tensor& in = i % 2 == 0 ? c->tokensIn : c->tokensAlt;
                const at::Tensor& out = i % 2 == 0 ? c->tokensAlt : c->tokensIn;
                auto graph = std::make_unique<at::cuda::CUDAGraph>();
                graph->capture_begin(i == 0 ? c10::MempoolId_t{0, 0} : c->graphs.front()->pool());
                out.copy_(dit.runBlock(i, in, c->ctxIn, c->tmodIn, rope));
                graph->capture_end();
                c->graphs.push_back(std::move(graph));
            }
            c->output = blocks % 2 == 0 ? c->tokensIn : c->tokensAlt;
        }
    } catch (const std::exception& e) {
        cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
        if (cudaStreamIsCapturing(side.stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
            cudaGraph_t broken = nullptr;
            cudaStreamEndCapture(side.stream(), &broken);
            if (broken) {
                cudaGraphDestroy(broken);
            }
        }
        (void)cudaGetLastError();
        throw KernelError(fmt::format("CUDA graph capture of {} failed for input {}: {}. Compile modes "
                                      "reduce-overhead and max-autotune need every op of a block to be capturable "
                                      "(no host synchronisation, no CPU tensors); run with --compile default or "
                                      "max-autotune-no-cudagraphs instead",
                                      what, c10::str(tokens.sizes()), e.what()));
    }
    at::cuda::CUDAEvent done;
    done.record(side);
    done.block(current);
    ++captureCount_;
    spdlog::info("CUDA graphs: captured {} graph(s) for {}", c->graphs.size(), key);
    captured_.push_back(std::move(c));
    return *captured_.back();
#else
    throw KernelError("CUDA graphs need a build with DITSTUDIO_CUDA=ON");
#endif
}

} // namespace ditstudio::kernels
