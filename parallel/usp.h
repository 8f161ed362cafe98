// Unified Sequence Parallel for the Wan DiT: Ulysses (all-to-all from sequence shards to head shards around
// self-attention), ring attention (K/V blocks passed around a ring, merged by log-sum-exp), both at once, and CFG
// parallel (the conditional and unconditional passes on two halves of the world, exchanged once per step).
//
// Rank layout, world = cfg × ring × ulysses:
//   world rank   = (cfgIndex · ring + ringIndex) · ulysses + ulyssesIndex
//   shard index  = ringIndex · ulysses + ulyssesIndex  (a Ulysses group holds consecutive shards: after its
//                  all-to-all it holds ring block `ringIndex` = shards ringIndex·U .. ringIndex·U + U − 1 whole,
//                  for heads ulyssesIndex·H/U .. (ulyssesIndex+1)·H/U − 1)
//   groups       ulysses (same cfg and ring index), ring (same cfg and Ulysses index), cfg (same shard index),
//                sequence (same cfg index, ranked by shard index: the final gather).
// Everything outside self-attention is per token and needs no communication; cross-attention included, because
// every rank holds the whole (replicated) text context.
#pragma once
#include "core/models/wan_dit.h"
#include "core/runtime/pipeline.h"
#include "parallel/communicator.h"
#include "parallel/degrees.h"
#include "parallel/sequence_shard.h"

namespace ditstudio::parallel {

struct UspGroups {
    ParallelDegrees degrees;
    Communicator* world = nullptr; // not owned
    std::unique_ptr<Communicator> ulysses, ring, cfg, sequence;
    int64_t ulyssesIndex = 0, ringIndex = 0, cfgIndex = 0;

    int64_t shardIndex() const { return ringIndex * degrees.ulysses + ulyssesIndex; }
    // Collective over `world`: validates the degrees (heads % ulysses, world size; ConfigError naming the numbers,
    // `usesCfg` false refuses cfg-parallel) and splits the four groups.
    static UspGroups create(Communicator& world, const ParallelDegrees& degrees, int64_t numHeads,
                            bool usesCfg = true);
};

// q [B, Lq, H, d], k/v [B, Lk, H, d] → out [B, Lq, H, d] in float32 and lse [B, Lq, H] (natural log-sum-exp of the
// scaled scores, float32). CPU: the flash kernel for CPU; CUDA half/bf16: the flash kernel; otherwise the math path.
std::pair<at::Tensor, at::Tensor> attentionWithLse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Ring attention over `ring`: q, k, v [B, Lb, H, d] are this rank's block (`ring.rank()`); the K/V blocks travel
// once around the ring (the next transfer overlaps the current block's attention) and the partial results merge by
// log-sum-exp. validKeys(block) is how many leading keys of a block are real (the rest is padding, never attended).
at::Tensor ringAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Communicator& ring,
                         const std::function<int64_t(int64_t block)>& validKeys);

// Self-attention of the local shard q, k, v [B, c, H, d] → [B, c, H, d] across the Ulysses and ring groups, for a
// sequence of `fullLength` real tokens.
at::Tensor uspAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, UspGroups& groups,
                        int64_t fullLength);

// The hooks for WanDiT::forward: shard the tokens (and RoPE rows) by shard index, USP self-attention, gather the
// head output over the sequence group. `groups` must outlive the hooks. With a world of 1 the forward equals the
// plain one.
SequenceParallelHooks makeUspHooks(UspGroups& groups);

// The pipeline's velocity: each CFG half runs its context through the USP forward; with cfg degree 2 the halves
// exchange their velocities once (all-gather over the cfg group) and every rank returns
// v = v⁻ + cfgScale·(v⁺ − v⁻), the association of `localGuidedVelocity`. With cfg degree 1 both passes run on
// the same ranks one after the other (one pass when cfgScale == 1). `dit` and `groups` must outlive the function.
VelocityFn makeParallelVelocity(const WanDiT& dit, UspGroups& groups, at::Tensor contextPositive,
                                at::Tensor contextNegative, double cfgScale);

} // namespace ditstudio::parallel
