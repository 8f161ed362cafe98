#include "core/verify/checkers.h"

namespace ditstudio::verify {

void checkVae(const CaseContext& ctx, CaseResult& result) {
    result.status = Status::Skip;
    result.reason = "the vae engine is not built yet";
}

} // namespace ditstudio::verify
