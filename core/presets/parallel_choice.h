// The live check of a parallel choice (Ulysses / ring / CFG-parallel degrees, device, GPUs) against a model's
// attention heads and the GPUs a machine has, before a job is submitted. The studio calls it on every edit of the
// parallel panel (the GUI links only core, not parallel/); the ranks still check their ParallelDegrees when a job
// starts. Settings-level rules (degree ranges, GPU list vs world size) come from GenerationSettings::validate().
#pragma once
#include "core/presets/generation_settings.h"

#include <cstdint>
#include <string>

namespace ditstudio {

struct ParallelChoiceCheck {
    bool isValid = true;
    std::string key;       // the offending setting ("parallel.ulysses"), empty when valid
    std::string reason;    // what is wrong and what would fit; empty when valid
    int64_t worldSize = 1; // ulysses × ring × (cfg_parallel ? 2 : 1)
};

// numHeads: the DiT's attention heads (12 for Wan 2.1 1.3B, 40 for 14B); gpusAvailable: GPUs the worker reported
// (0 when none or unknown).
ParallelChoiceCheck checkParallelChoice(const GenerationSettings& settings, int64_t numHeads, int64_t gpusAvailable);

// The one Ulysses rule, for the studio's live check and the ranks' own (parallel/degrees.cpp): "" when `ulysses`
// divides `numHeads`, else the refusal naming both numbers and the degrees that would fit.
std::string ulyssesHeadsProblem(int64_t ulysses, int64_t numHeads);

} // namespace ditstudio
