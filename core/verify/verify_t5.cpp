#include "core/verify/checkers.h"

namespace ditstudio::verify {

void checkT5(const CaseContext& ctx, CaseResult& result) {
    result.status = Status::Skip;
    result.reason = "the t5 engine is not built yet";
}

} // namespace ditstudio::verify
