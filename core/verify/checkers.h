// The checkers of each golden case kind (one file each: verify_<kind>.cpp). A checker throws on malformed
// case files (the runner reports FAIL with the message) and appends its comparisons to the result.
#pragma once
#include "core/verify/golden.h"

namespace ditstudio::verify {

void checkDit(const CaseContext& ctx, CaseResult& result);
void checkScheduler(const CaseContext& ctx, CaseResult& result);
void checkNoise(const CaseContext& ctx, CaseResult& result);
void checkVae(const CaseContext& ctx, CaseResult& result);
void checkPipeline(const CaseContext& ctx, CaseResult& result);
void checkT5(const CaseContext& ctx, CaseResult& result);

} // namespace ditstudio::verify
