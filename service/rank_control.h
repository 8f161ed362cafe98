// The rank side of the worker's control channel (docs/protocol.md, "Control channel"). When a rank process is
// launched by the worker, DITSTUDIO_CONTROL_SOCKET is set for every rank; the rank main then calls serveWorker():
// rank 0 connects to that socket, says rank_hello, and runs each run_job it receives, streaming stage, step,
// preview, latents (before the decode), frames and the result back; ranks 1..N−1 receive every command from
// rank 0 through the world communicator (a JSON broadcast) and run the same job with it. The Generator (and so
// the loaded model) is kept between jobs of the same model and dtype.
#pragma once
#include "core/runtime/generation.h"

namespace ditstudio::parallel {
class RankSession;
}

namespace ditstudio::service {

inline constexpr const char* kControlSocketEnv = "DITSTUDIO_CONTROL_SOCKET";

// True when DITSTUDIO_CONTROL_SOCKET is set: this rank serves the worker.
bool isServingWorker();

// Serves jobs until the worker sends shutdown or closes the channel. Returns the process exit code
// (parallel::kRankExitOk, or kRankExitError after a failure that leaves a multi-rank group out of step).
// Exceptions stay inside: a job's error becomes a "failed" message.
// `compiler` applies each job's compile settings to the DiT (Generator::setDiTCompiler); `vaeNormOp` is the fused VAE
// norm of jobs that compile the VAE (Generator::setVaeNormOp).
int serveWorker(parallel::RankSession& session, Generator::DiTCompiler compiler, VaeNormOp vaeNormOp);

} // namespace ditstudio::service
