// The worker's persistent job queue and history, one SQLite database (<state dir>/worker.sqlite3, WAL mode).
// A job is a settings JSON + a model path + a priority. Pending jobs run in the order (priority desc, queue
// position asc). When the store opens, jobs left "running" by a worker that died are marked "interrupted".
// History keeps one row per output: full settings, seed, model, timings, output paths and a PNG thumbnail,
// searchable by prompt text ("use these settings again").
//
// Thread contract: every method may be called from any thread; one internal mutex serialises them (the database
// connection is not shared with anyone else). Methods block on disk I/O for a few milliseconds.
#pragma once
#include "core/util/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace ditstudio::service {

// A database call failed: the message names the statement's purpose and SQLite's own error text.
class StoreError : public Error {
public:
    using Error::Error;
};

enum class JobState { Pending, Running, Finished, Failed, Cancelled, Interrupted };
std::string toString(JobState state);
JobState jobStateFromString(const std::string& text); // throws StoreError
inline bool isDone(JobState s) { return s != JobState::Pending && s != JobState::Running; }

struct JobRecord {
    int64_t id = 0;
    JobState state = JobState::Pending;
    int64_t priority = 0;      // higher runs first
    int64_t position = 0;      // queue order within equal priority (lower first)
    std::string model;         // model folder path
    nlohmann::json settings;   // GenerationSettings::toJson()
    std::string prompt;        // settings.prompt, kept as a column for listing
    double createdAt = 0;      // seconds since the epoch
    double startedAt = 0;      // 0 = not started
    double finishedAt = 0;     // 0 = not finished
    std::string error;         // failed / interrupted: why

    nlohmann::json toJson() const; // protocol form (docs/protocol.md, "queue")
};

struct HistoryEntry {
    int64_t id = 0;
    int64_t jobId = 0;
    double createdAt = 0;
    std::string prompt;
    std::string negativePrompt;
    std::string model;
    int64_t seed = 0;
    nlohmann::json settings;  // the full settings, seed resolved
    nlohmann::json timings;   // stage → seconds
    nlohmann::json outputs;   // {"video": path, "sidecar": path, "latents": path}
    std::string thumbnailPng; // PNG bytes (may be empty)

    nlohmann::json toJson() const; // without the thumbnail bytes
};

struct HistoryQuery {
    std::string search;         // case-insensitive substring of the prompt or negative prompt; empty = all
    std::optional<int64_t> jobId;
    int64_t limit = 50;
    int64_t offset = 0;
    bool withThumbnails = false;
};

class JobStore {
public:
    // Opens (creating) the database and its schema; marks jobs left running as interrupted. Throws StoreError.
    explicit JobStore(const std::filesystem::path& path);
    ~JobStore();
    JobStore(const JobStore&) = delete;
    JobStore& operator=(const JobStore&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // How many running jobs were marked interrupted when this store opened.
    int interruptedAtOpen() const { return interruptedAtOpen_; }

    int64_t addJob(const std::string& model, const nlohmann::json& settings, int64_t priority);
    std::optional<JobRecord> job(int64_t id) const;
    std::vector<JobRecord> pendingJobs() const;                       // in run order
    std::vector<JobRecord> recentJobs(int64_t limit) const;           // every state, newest first
    std::optional<int64_t> positionOf(int64_t id) const;              // 0-based among pending jobs
    // The next pending job, marked running (startedAt = now); nullopt when none is pending.
    std::optional<JobRecord> takeNext();
    // running → a final state. Throws StoreError when the job is not running.
    void finishJob(int64_t id, JobState state, const std::string& error = {});
    // Cancels a pending job (true); false when it is not pending.
    bool cancelPending(int64_t id);
    // Throws StoreError("not pending") when the job is not pending.
    void setPriority(int64_t id, int64_t priority);
    // Moves a pending job to `position` (0-based, clamped) in the run order: it takes the priority of the job it
    // lands in front of (or behind, at the end), and positions are renumbered.
    void reorder(int64_t id, int64_t position);

    int64_t addHistory(const HistoryEntry& entry);
    std::vector<HistoryEntry> queryHistory(const HistoryQuery& query) const;
    // Forgets the history entries of a job (the job's own record stays); returns how many were removed.
    int removeHistory(int64_t jobId);

private:
    void exec(const char* sql, const char* purpose) const;
    std::vector<JobRecord> selectJobs(const std::string& whereOrder, int64_t limit) const;

    std::filesystem::path path_;
    sqlite3* db_ = nullptr;   // guarded by mutex_
    int interruptedAtOpen_ = 0;
    mutable std::mutex mutex_;
};

double nowSeconds();

} // namespace ditstudio::service
