#include "parallel/usp.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

namespace ditstudio::parallel {

// ---------------------------------------------------------------------------------------------- groups

UspGroups UspGroups::create(Communicator& world, const ParallelDegrees& degrees, int64_t numHeads, bool usesCfg) {
    degrees.validate(numHeads, world.size(), usesCfg);
    UspGroups g;
    g.degrees = degrees;
    g.world = &world;
    const int64_t U = degrees.ulysses, R = degrees.ring;
    const int64_t r = world.rank();
    g.ulyssesIndex = r % U;
    g.ringIndex = (r / U) % R;
    g.cfgIndex = r / (U * R);
    // Same order on every rank: these are collectives over the world.
    g.ulysses = world.split(static_cast<int>(g.cfgIndex * R + g.ringIndex), static_cast<int>(g.ulyssesIndex));
    g.ring = world.split(static_cast<int>(g.cfgIndex * U + g.ulyssesIndex), static_cast<int>(g.ringIndex));
    g.cfg = world.split(static_cast<int>(g.shardIndex()), static_cast<int>(g.cfgIndex));
    g.sequence = world.split(static_cast<int>(g.cfgIndex), static_cast<int>(g.shardIndex()));
    return g;
}

// ---------------------------------------------------------------------------------------------- attention

std::pair<at::Tensor, at::Tensor> attentionWithLse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    // Kernels take [B, H, L, d].
    at::Tensor qt = q.transpose(1, 2), kt = k.transpose(1, 2), vt = v.transpose(1, 2);
    const int64_t d = q.size(3);
    at::Tensor out, lse; // [B, H, Lq, d], [B, H, Lq]
    if (q.device().is_cpu()) {
        std::tie(out, lse) = at::_scaled_dot_product_flash_attention_for_cpu(qt, kt, vt);
    } else if (q.device().is_cuda() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf) &&
               d % 8 == 0 && d <= 256) {
        auto result = at::_scaled_dot_product_flash_attention(qt.contiguous(), kt.contiguous(), vt.contiguous());
        out = std::get<0>(result);
        lse = std::get<1>(result);
    } else { // math path with an explicit log-sum-exp, float32
        at::Tensor scores = at::matmul(qt.to(at::kFloat), kt.to(at::kFloat).transpose(-2, -1)) /
                            std::sqrt(static_cast<double>(d)); // [B, H, Lq, Lk]
        lse = at::logsumexp(scores, -1);                       // [B, H, Lq]
        out = at::matmul(at::exp(scores - lse.unsqueeze(-1)), vt.to(at::kFloat));
    }
    return {out.transpose(1, 2).to(at::kFloat), lse.transpose(1, 2).to(at::kFloat)}; // [B, Lq, H, d], [B, Lq, H]
}

at::Tensor ringAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Communicator& ring,
                         const std::function<int64_t(int64_t block)>& validKeys) {
    const int R = ring.size(), r = ring.rank();
    at::Tensor kv = at::stack({k, v}).contiguous(); // [2, B, Lb, H, d]: one message per step
    at::Tensor out, lse;                            // running result [B, Lq, H, d] and [B, Lq, H], float32
    for (int step = 0; step < R; ++step) {
        const int64_t block = (r - step + R) % R; // where the K/V block in hand started
        WorkPtr pending;
        at::Tensor next;
        if (step + 1 < R) { // pass the block on while attending to it
            next = at::empty_like(kv);
            pending = ring.isendRecv(kv, (r + 1) % R, next, (r - 1 + R) % R);
        }
        const int64_t n = validKeys(block);
        if (n > 0) {
            auto [o, l] = attentionWithLse(q, kv[0].narrow(1, 0, n), kv[1].narrow(1, 0, n));
            if (!out.defined()) {
                out = o;
                lse = l;
            } else { // online softmax: out = Σ exp(lse_j − lse)·out_j
                at::Tensor merged = at::logaddexp(lse, l);
                out = out * at::exp(lse - merged).unsqueeze(-1) + o * at::exp(l - merged).unsqueeze(-1);
                lse = merged;
            }
        }
        if (pending) {
            pending->wait();
            kv = next;
        }
    }
    if (!out.defined()) {
        throw CommError(fmt::format("ring attention on '{}': no block holds a real key", ring.name()));
    }
    return out.to(q.scalar_type()); // [B, Lq, H, d]
}

at::Tensor uspAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, UspGroups& groups,
                        int64_t fullLength) {
    const int64_t U = groups.degrees.ulysses, P = groups.degrees.sequenceParallel();
    const int64_t B = q.size(0), c = q.size(1), H = q.size(2), d = q.size(3);
    const ShardLayout layout{fullLength, P, groups.shardIndex()};
    if (layout.shardLength() != c) {
        throw CommError(fmt::format("USP attention: shard of {} tokens, expected {} for {} tokens over {} shards", c,
                                    layout.shardLength(), fullLength, P));
    }
    at::Tensor qb = q, kb = k, vb = v; // [B, U·c, H/U, d] after Ulysses: ring block `ringIndex`, a head slice
    if (U > 1) {
        at::Tensor qkv = at::stack({q, k, v})                          // [3, B, c, H, d]
                             .view({3, B, c, U, H / U, d})
                             .permute({3, 0, 1, 2, 4, 5})
                             .contiguous();                            // [U, 3, B, c, H/U, d]: chunk j to rank j
        at::Tensor got = groups.ulysses->allToAll(qkv);                // [U(source shard), 3, B, c, H/U, d]
        got = got.permute({1, 2, 0, 3, 4, 5}).reshape({3, B, U * c, H / U, d}); // [3, B, U·c, H/U, d]
        qb = got[0];
        kb = got[1];
        vb = got[2];
    }
    at::Tensor o; // [B, U·c, H/U, d]
    if (groups.degrees.ring > 1) {
        o = ringAttention(qb, kb, vb, *groups.ring,
                          [&](int64_t block) { return layout.validKeysInBlock(block, U); });
    } else { // one block: the whole (padded) sequence; only the padding keys are cut
        const int64_t n = layout.validKeysInBlock(0, U);
        o = denseAttention(qb, kb.narrow(1, 0, n), vb.narrow(1, 0, n));
    }
    if (U > 1) {
        at::Tensor back = o.reshape({B, U, c, H / U, d}).permute({1, 0, 2, 3, 4}).contiguous(); // [U, B, c, H/U, d]
        back = groups.ulysses->allToAll(back);                         // [U(head group), B, c, H/U, d]
        o = back.permute({1, 2, 0, 3, 4}).reshape({B, c, H, d});       // [B, c, H, d]
    }
    return o;
}

// ---------------------------------------------------------------------------------------------- hooks

SequenceParallelHooks makeUspHooks(UspGroups& groups) {
    // The sequence length of the current forward, set by `shard` before the blocks run.
    auto fullLength = std::make_shared<int64_t>(0);
    SequenceParallelHooks hooks;
    hooks.shard = [&groups, fullLength](const at::Tensor& x, const RopeTable& rope) {
        *fullLength = x.size(1);
        const ShardLayout layout{x.size(1), groups.degrees.sequenceParallel(), groups.shardIndex()};
        return std::make_pair(shardTokens(x, layout), shardRope(rope, layout)); // [B, c, D] (sequence shard)
    };
    hooks.attention = [&groups, fullLength](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
        return uspAttention(q, k, v, groups, *fullLength);
    };
    hooks.gather = [&groups](const at::Tensor& local, int64_t length) {
        return gatherTokens(local, length, *groups.sequence); // [B, L, P·out]
    };
    return hooks;
}

VelocityFn makeParallelVelocity(const WanDiT& dit, UspGroups& groups, at::Tensor contextPositive,
                                at::Tensor contextNegative, double cfgScale) {
    const bool guided = cfgScale != 1.0;
    if (guided && !contextNegative.defined()) {
        throw ConfigError("classifier-free guidance (cfg scale ≠ 1) needs a negative context");
    }
    if (groups.degrees.cfg == 2 && !guided) {
        throw ConfigError("cfg-parallel degree 2 needs classifier-free guidance (cfg scale ≠ 1)");
    }
    auto hooks = std::make_shared<SequenceParallelHooks>(makeUspHooks(groups));
    return [&dit, &groups, hooks, posi = std::move(contextPositive), nega = std::move(contextNegative), cfgScale,
            guided](const at::Tensor& latents, const at::Tensor& t) -> at::Tensor {
        if (groups.degrees.cfg == 2) {
            // Half 0 runs the positive context, half 1 the negative; one exchange per step.
            at::Tensor own = dit.forward(latents, t, groups.cfgIndex == 0 ? posi : nega, hooks.get());
            at::Tensor both = groups.cfg->allGather(own.unsqueeze(0).contiguous()); // [2, B, C, F, H, W]
            at::Tensor vPos = both[0], vNeg = both[1];
            return vNeg + cfgScale * (vPos - vNeg);
        }
        at::Tensor vPos = dit.forward(latents, t, posi, hooks.get()); // [B, C, F, H, W]
        if (!guided) {
            return vPos;
        }
        at::Tensor vNeg = dit.forward(latents, t, nega, hooks.get());
        return vNeg + cfgScale * (vPos - vNeg);
    };
}

} // namespace ditstudio::parallel
