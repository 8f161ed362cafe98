// The production JobExecutor: runs each job on a rank group (parallel/launcher.h) and talks to its rank 0 over
// the control channel (docs/protocol.md, "Control channel"): a private Unix socket whose path rank 0 gets in
// DITSTUDIO_CONTROL_SOCKET. The group stays warm between jobs with the same model, dtype, device and parallel
// degrees; it is restarted when a rank dies (that job fails naming the rank) or when the next job needs other
// settings, and stopped after `idleReleaseSeconds` without a job.
//
// Thread contract (JobExecutor): run(), releaseIfIdle() and shutdown() from the runner thread only; status() and
// cancelRunning() from any thread (statusMutex_, controlMutex_). Every write on the control connection holds
// controlMutex_.
#pragma once
#include "service/job_executor.h"

#include <filesystem>
#include <memory>
#include <mutex>

namespace ditstudio::parallel {
class RankGroup;
}

namespace ditstudio::service {

struct RankExecutorOptions {
    std::filesystem::path rankExecutable;    // ditstudio-rank
    std::filesystem::path controlDir;        // where control sockets go; empty = the runtime dir
    double idleReleaseSeconds = 300;
    double previewIntervalSeconds = 0.25;
    double startTimeoutSeconds = 120;        // launch → rank_hello
};

// What makes a group reusable for a job.
struct GroupKey {
    std::string model, dtype, device; // device: "cpu" or "cuda"
    std::vector<std::string> devices; // per rank
    int64_t ulysses = 1, ring = 1, cfg = 1;
    bool operator==(const GroupKey&) const = default;
    int64_t world() const { return ulysses * ring * cfg; }
    std::string describe() const;
};

class RankGroupExecutor final : public JobExecutor {
public:
    explicit RankGroupExecutor(RankExecutorOptions options);
    ~RankGroupExecutor() override;

    JobOutcome run(const JobRecord& job, const ExecutionCallbacks& callbacks, const std::atomic<bool>& cancel) override;
    void cancelRunning(int64_t jobId) override;
    void releaseIfIdle() override;
    void shutdown() override;
    nlohmann::json status() const override;

    // Pids of the current group by rank (tests SIGKILL one); empty when none.
    std::vector<int> rankPids() const;

private:
    struct Group;
    // Starts (or reuses) the group for `key`; throws Error with the reason, or returns nullptr when cancelled.
    Group* ensureGroup(const GroupKey& key, const std::atomic<bool>& cancel);
    void stopGroup(const std::string& why);
    void setState(const std::string& state);

    RankExecutorOptions options_;
    std::unique_ptr<Group> group_; // runner thread only
    uint64_t groupCounter_ = 0;

    mutable std::mutex statusMutex_; // guards status_
    nlohmann::json status_;

    std::mutex controlMutex_; // guards writes on the control connection and the two fields below
    int controlFd_ = -1;      // rank 0's connection while a job runs, else -1
    int64_t runningJob_ = 0;
};

// The group a job needs: device "auto" → cuda when an NVIDIA GPU is present, else cpu; world = ulysses × ring × cfg.
GroupKey groupKeyFor(const nlohmann::json& settingsJson, const std::string& model);

} // namespace ditstudio::service
