// The degrees of Unified Sequence Parallel: world = cfg × ring × ulysses. Validated up front against the model's
// head count and the world size, with the reason in the message.
#pragma once
#include <cstdint>
#include <string>

namespace ditstudio::parallel {

struct ParallelDegrees {
    int64_t ulysses = 1;
    int64_t ring = 1;
    int64_t cfg = 1; // 1 or 2: the conditional and unconditional passes on two halves of the world

    int64_t world() const { return ulysses * ring * cfg; }
    int64_t sequenceParallel() const { return ulysses * ring; }
    // Throws ConfigError: degrees < 1, cfg ∉ {1, 2}, heads % ulysses ≠ 0, or world ≠ worldSize (when > 0).
    void validate(int64_t numHeads, int64_t worldSize = 0, bool usesCfg = true) const;
    std::string describe() const; // "ulysses 2 × ring 2 × cfg 2 = 8"
};

} // namespace ditstudio::parallel
