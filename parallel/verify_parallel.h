// Golden DiT (and pipeline) cases on a rank group: `ditstudio-cli verify DIR dit_b --ulysses 2 --ring 2` starts
// world = cfg × ring × ulysses `ditstudio-rank --verify-dit DIR CASE --result FILE` processes through the launcher;
// every rank runs the case sharded, rank 0 checks and writes the case result (JSON) that the CLI prints.
//
// Checks on rank 0 (float32, rel L2 ≤ 1e-4): `output` and the full intermediates (t_embedded, t_projected,
// context_embedded, head_out, gathered) against the golden vectors; rank 0's own shard of every block{i}_out;
// `output vs 1 rank` and `guided(cfg 5) vs 1 rank` — the sharded forward and the parallel guided velocity
// (makeParallelVelocity, with a second context derived from the case's) against the same model run in one
// process. With --cfg-parallel the guided velocity is computed by the two halves of the world.
#pragma once
#include "core/verify/golden.h"
#include "parallel/degrees.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ditstudio::parallel {

class Communicator;

// Kinds that run on a rank group: dit, and pipeline (spec §7.2 with the velocity of makeParallelVelocity; every
// step's latents, the final latents, video and frames checked on rank 0).
bool runsOnRanks(const std::string& kind);

// Rank side: runs the case (dit or pipeline) on `world` (collective); the result is meaningful on rank 0 only.
verify::CaseResult verifyDitOnRanks(Communicator& world, const ParallelDegrees& degrees,
                                    const std::filesystem::path& dir, const std::string& caseName,
                                    const verify::Options& options);

verify::CaseResult verifyPipelineOnRanks(Communicator& world, const ParallelDegrees& degrees,
                                         const std::filesystem::path& dir, const std::string& caseName,
                                         const verify::Options& options);

struct ParallelVerifyOptions {
    ParallelDegrees degrees;
    std::string device = "cpu"; // cpu: CPU ranks over the CPU transport; cuda: rank r on cuda:r over NCCL
    std::string dtype = "float32";
    std::filesystem::path rankExecutable; // empty: findRankExecutable()
    std::chrono::milliseconds timeout{600'000};
    std::chrono::milliseconds heartbeatTimeout{10'000};
    std::string logLevel = "info"; // the ranks' spdlog level
};

// The (name, kind) of the named cases (all when empty) of DIR/manifest.json, in order. FormatError/ConfigError
// as verify::runCases.
std::vector<std::pair<std::string, std::string>> listCases(const std::filesystem::path& dir,
                                                           const std::vector<std::string>& names);
// Refuses degrees that do not fit the case's model (heads % ulysses, cfg, GPUs for cuda) with a ConfigError
// naming the numbers; nothing is started.
void checkDegreesForCase(const std::filesystem::path& dir, const std::string& caseName,
                         const ParallelVerifyOptions& options);
// Launcher side: one rank group per case (dit or pipeline); the group's failure (which rank, why) becomes a failed case.
verify::CaseResult runDitCaseOnRanks(const std::filesystem::path& dir, const std::string& caseName,
                                     const ParallelVerifyOptions& options);

nlohmann::json caseResultToJson(const verify::CaseResult& result);
verify::CaseResult caseResultFromJson(const nlohmann::json& json);

} // namespace ditstudio::parallel
