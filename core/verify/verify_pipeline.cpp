#include "core/verify/checkers.h"

namespace ditstudio::verify {

void checkPipeline(const CaseContext& ctx, CaseResult& result) {
    result.status = Status::Skip;
    result.reason = "the pipeline engine is not built yet";
}

} // namespace ditstudio::verify
