#include "parallel/sequence_shard.h"

#include "parallel/communicator.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

namespace ditstudio::parallel {

int64_t ShardLayout::validIn(int64_t shard) const {
    return std::clamp<int64_t>(length - shard * shardLength(), 0, shardLength());
}

int64_t ShardLayout::validKeysInBlock(int64_t block, int64_t blockShards) const {
    const int64_t blockLength = blockShards * shardLength();
    return std::clamp<int64_t>(length - block * blockLength, 0, blockLength);
}

at::Tensor shardTokens(const at::Tensor& x, const ShardLayout& layout) {
    if (x.size(1) != layout.length) {
        throw CommError(fmt::format("shardTokens: {} tokens, layout expects {}", x.size(1), layout.length));
    }
    const int64_t c = layout.shardLength();
    const int64_t valid = layout.validIn(layout.index);
    at::Tensor shard = x.narrow(1, std::min(layout.begin(), layout.length), valid); // [B, valid, D]
    if (valid < c) { // zero tokens up to c
        shard = at::cat({shard, at::zeros({x.size(0), c - valid, x.size(2)}, x.options())}, 1);
    }
    return shard.contiguous(); // [B, c, D] (sequence shard)
}

RopeTable shardRope(const RopeTable& rope, const ShardLayout& layout) {
    return rope.slice(layout.begin(), layout.begin() + layout.shardLength());
}

at::Tensor gatherTokens(const at::Tensor& local, int64_t fullLength, Communicator& sequence) {
    const int64_t B = local.size(0), c = local.size(1), P = sequence.size();
    if (c * P < fullLength) {
        throw CommError(fmt::format("gatherTokens: {} shards of {} tokens cannot hold {} tokens", P, c, fullLength));
    }
    if (P == 1) {
        return local.narrow(1, 0, fullLength);
    }
    at::Tensor all = sequence.allGather(local.unsqueeze(0).contiguous()); // [P, B, c, X]
    return all.transpose(0, 1).reshape({B, P * c, local.size(2)}).narrow(1, 0, fullLength); // [B, L, X]
}

} // namespace ditstudio::parallel
