// The worker's job loop: takes the next pending job from the JobStore, runs it on the JobExecutor, writes its
// outputs (final latents before the decode, then the video and its sidecar, atomically), records history, and
// publishes every event of the job. One job at a time; the queue order is the store's.
//
// Thread contract: start()/stop() from the owning thread; wake(), cancel(), setPaused(), runningJob() and
// isPaused() from any thread (they only touch state guarded by mutex_ or atomics). The runner never holds mutex_
// while publishing, so a publisher may call back into these methods.
#pragma once
#include "service/job_executor.h"
#include "service/job_store.h"

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

namespace ditstudio::service {

struct RunnerOptions {
    std::filesystem::path defaultOutputDir; // when a job's export.directory is empty
    double idleCheckSeconds = 1.0;          // how often the executor may free an idle group
};

class JobRunner {
public:
    using Publisher = std::function<void(int64_t job, protocol::Message event)>;

    JobRunner(JobStore& store, JobExecutor& executor, Publisher publish, RunnerOptions options);
    ~JobRunner();
    JobRunner(const JobRunner&) = delete;
    JobRunner& operator=(const JobRunner&) = delete;

    void start(bool paused);
    // Interrupts a running job (it is marked interrupted, not cancelled) and joins the thread.
    void stop();
    void wake();
    // true when `jobId` is the running job (its cancel flag is now set; the cancelled event follows).
    bool cancel(int64_t jobId);
    void setPaused(bool paused);
    bool isPaused() const { return isPaused_.load(); }
    std::optional<int64_t> runningJob() const;

private:
    void loop();
    void runOne(JobRecord job);

    JobStore& store_;
    JobExecutor& executor_;
    Publisher publish_;
    RunnerOptions options_;
    std::thread thread_;
    std::atomic<bool> isPaused_{false};
    std::atomic<bool> isStopping_{false};
    std::atomic<bool> cancelFlag_{false}; // the running job's; the executor polls it

    mutable std::mutex mutex_; // guards wakeups_, running_
    std::condition_variable wakeup_;
    uint64_t wakeups_ = 0;
    std::optional<int64_t> running_;
};

// "{date}_{time}_{seed}" → "20261127_154501_42"; also {job}, {width}, {height}, {frames}. Unsafe path characters
// become '_'.
std::string expandFilename(const std::string& pattern, int64_t job, int64_t seed, int64_t width, int64_t height,
                           int64_t frames);
// $XDG_VIDEOS_DIR/DiT Studio, else ~/Videos/DiT Studio.
std::filesystem::path defaultVideosDir();

// The job's id for log lines written on this thread (0 = none): the log sink attaches it to "log" events.
int64_t currentLogJob();

} // namespace ditstudio::service
