// Sequence sharding for Unified Sequence Parallel (spec §9): L tokens split into P equal shards of c = ⌈L/P⌉, the
// tail padded with zero tokens to c·P; shard s holds tokens [s·c, (s+1)·c). Unlike the reference, padded tokens
// never change the result: attention narrows every key block to its valid (non-padding) tokens (`validKeys`),
// padded queries only produce rows that `gatherTokens` drops. Any L ≥ 1 and any P ≥ 1 work, even when whole
// shards are padding (L ≤ c·(P−1)).
#pragma once
#include "core/models/wan_dit.h"

#include <ATen/core/Tensor.h>

namespace ditstudio::parallel {

class Communicator;

struct ShardLayout {
    int64_t length = 0; // L: real tokens
    int64_t parts = 1;  // P: shards
    int64_t index = 0;  // s: this shard

    int64_t shardLength() const { return (length + parts - 1) / parts; } // c
    int64_t paddedLength() const { return shardLength() * parts; }       // c·P
    int64_t begin() const { return index * shardLength(); }
    // Real tokens in shard s (0 ≤ · ≤ c).
    int64_t validIn(int64_t shard) const;
    // Real keys in a block of `blockShards` consecutive shards starting at shard blockShards·block.
    int64_t validKeysInBlock(int64_t block, int64_t blockShards) const;
};

// x [B, L, D] → [B, c, D] (sequence shard; rows past L are zeros).
at::Tensor shardTokens(const at::Tensor& x, const ShardLayout& layout);
// The rotary rows of the shard: identity rotation for padding rows ([c, d/2] each).
RopeTable shardRope(const RopeTable& rope, const ShardLayout& layout);
// local [B, c, X] on every member of `sequence` (ranked by shard index) → [B, L, X] on every member.
at::Tensor gatherTokens(const at::Tensor& local, int64_t fullLength, Communicator& sequence);

} // namespace ditstudio::parallel
