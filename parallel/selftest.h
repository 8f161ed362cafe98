// The collectives self-test of a rank group (`ditstudio-rank --selftest-collectives`): every rank fills tensors
// with rank-derived values and checks every element against a closed form (all-reduce → n(n−1)/2, all-gather →
// the sender's rank, all-to-all → 100·sender + receiver, broadcast from every root, a ring step, point-to-point,
// split into sub-groups, the refusal of an uneven all-to-all). Runs on any Communicator: the CPU transport in CI,
// NCCL on the GPU machine.
#pragma once
#include "parallel/communicator.h"

namespace ditstudio::parallel {

// Returns the failed checks as messages (empty: all passed). Collective: every rank must call it.
std::vector<std::string> runCollectiveSelfTest(Communicator& comm);

} // namespace ditstudio::parallel
