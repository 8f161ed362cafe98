#include "parallel/degrees.h"

#include "core/presets/parallel_choice.h"
#include "core/util/error.h"

#include <fmt/format.h>

namespace ditstudio::parallel {

void ParallelDegrees::validate(int64_t numHeads, int64_t worldSize, bool usesCfg) const {
    if (ulysses < 1 || ring < 1 || cfg < 1) {
        throw ConfigError(fmt::format("parallel degrees must be at least 1 (ulysses {}, ring {}, cfg {})", ulysses,
                                      ring, cfg));
    }
    if (cfg > 2) {
        throw ConfigError(fmt::format("cfg-parallel degree must be 1 or 2, got {}", cfg));
    }
    if (cfg == 2 && !usesCfg) {
        throw ConfigError("cfg-parallel degree 2 needs classifier-free guidance (cfg scale ≠ 1)");
    }
    if (std::string problem = ulyssesHeadsProblem(ulysses, numHeads); !problem.empty()) {
        throw ConfigError(problem);
    }
    if (worldSize > 0 && world() != worldSize) {
        throw ConfigError(fmt::format("{} does not match the {} rank(s) available", describe(), worldSize));
    }
}

std::string ParallelDegrees::describe() const {
    return fmt::format("ulysses {} × ring {} × cfg {} = {}", ulysses, ring, cfg, world());
}

} // namespace ditstudio::parallel
