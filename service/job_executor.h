// What runs a job: the worker's JobRunner hands each job to a JobExecutor and gets back frames, timings and the
// seed (or a failure with its reason). The executor reports progress as protocol events (stage, step, preview,
// frames; "job" already set) and the final latents as soon as the denoising ends, before the decode, so the
// runner can save them first. The production executor is RankGroupExecutor (service/rank_executor.h).
#pragma once
#include "core/protocol/framing.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ditstudio::service {

struct JobRecord;

struct ExecutionCallbacks {
    std::function<void(protocol::Message event)> onEvent; // stage / step / preview / frames
    // float32 latents, C-contiguous, of `shape`
    std::function<void(const std::vector<int64_t>& shape, const std::string& float32Bytes)> onLatents;
};

struct JobOutcome {
    enum class Kind { Finished, Failed, Cancelled };
    Kind kind = Kind::Failed;
    std::string reason;                 // Failed: what went wrong, naming the rank / stage / file
    std::string stage;                  // Failed: the stage it failed in, when known
    std::string framesRgb;              // Finished: uint8 [frames, height, width, 3]
    int64_t frames = 0, height = 0, width = 0;
    std::map<std::string, double> stageSeconds;
    int64_t seed = 0;
};

// Thread contract: run() is called by one thread (the runner's) at a time; releaseIfIdle() and shutdown() from the
// same thread; status() and cancelRunning() from any thread.
class JobExecutor {
public:
    virtual ~JobExecutor() = default;
    // Blocks until the job ends. `cancel` is polled at least every 100 ms; a cancelled job ends within one step.
    virtual JobOutcome run(const JobRecord& job, const ExecutionCallbacks& callbacks, const std::atomic<bool>& cancel) = 0;
    // Any thread: tells the running job `jobId` to stop now, without waiting for run()'s next poll of `cancel`.
    virtual void cancelRunning(int64_t jobId) = 0;
    // Frees the warm group when it has been idle longer than its idle limit.
    virtual void releaseIfIdle() = 0;
    // Stops everything (worker shutdown).
    virtual void shutdown() = 0;
    // {"state": "none|starting|ready|busy", "model", "device", "world", "pids", "idle_s", ...}
    virtual nlohmann::json status() const = 0;
};

} // namespace ditstudio::service
