// CUDA graphs for the DiT's repeated blocks (compile modes reduce-overhead and max-autotune).
//
// Per block (default): one graph per block, all sharing one memory pool, chained through two static token buffers
// (block i reads one and writes the other), so memory stays at one block's activations. With fullgraph: one graph
// for the whole block stack. Inputs (tokens, context, time modulation) are copied into static buffers before each
// replay; the rotary table is held by the capture (its identity is part of the key). A first call per shape runs the
// blocks eagerly once on a side stream (cuDNN plans, cuBLAS workspaces, autotune, fp32 rope tables), then captures.
// dynamic: captures of several shapes are kept (at most 4); not dynamic: a new shape drops the old capture and
// re-captures. An op that cannot be captured ends the capture and throws KernelError saying which block and how to
// run without graphs. On a CPU tensor, or in a build without CUDA, the blocks run eagerly. Thread-safe (one run at a
// time). The returned tokens live in a static buffer: valid until the next run.
#pragma once
#include "core/models/wan_dit.h"

#include <memory>
#include <mutex>
#include <vector>

namespace ditstudio::kernels {

class BlockGraphRunner {
public:
    BlockGraphRunner(bool fullgraph, bool dynamic);
    ~BlockGraphRunner();
    BlockGraphRunner(const BlockGraphRunner&) = delete;
    BlockGraphRunner& operator=(const BlockGraphRunner&) = delete;

    // tokens [B, L, D], ctx [B, Lc, D], tmod [B, 6, D] → [B, L, D]; traces block{i}_out when tracing is on.
    at::Tensor run(const WanDiT& dit, const at::Tensor& tokens, const at::Tensor& ctx, const at::Tensor& tmod,
                   const RopeTable& rope);
    int captureCount() const; // how many captures were made (re-captures included)

private:
    struct Captured;
    Captured& capture(const WanDiT& dit, const std::string& key, const at::Tensor& tokens, const at::Tensor& ctx,
                      const at::Tensor& tmod, const RopeTable& rope, bool traced);
    bool fullgraph_, dynamic_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Captured>> captured_; // guarded by mutex_; least recently used first
    int captureCount_ = 0;                            // guarded by mutex_
};

} // namespace ditstudio::kernels
