#include "service/job_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <chrono>

namespace ditstudio::service {

namespace {

// One prepared statement: bind by 1-based index, step, read columns; finalised on destruction.
class Statement {
public:
    Statement(sqlite3* db, const char* sql, const char* purpose) : db_(db), purpose_(purpose) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
            throw StoreError(fmt::format("job store: preparing '{}' failed: {}", purpose, sqlite3_errmsg(db)));
        }
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
    Statement& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
    Statement& bind(int i, const std::string& v) {
        return check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    Statement& bindBlob(int i, const std::string& v) {
        return check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    // true while a row is available
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) {
            return true;
        }
        if (rc == SQLITE_DONE) {
            return false;
        }
        throw StoreError(fmt::format("job store: '{}' failed: {}", purpose_, sqlite3_errmsg(db_)));
    }
    int64_t integer(int c) const { return sqlite3_column_int64(stmt_, c); }
    double real(int c) const { return sqlite3_column_double(stmt_, c); }
    std::string text(int c) const {
        const auto* p = sqlite3_column_text(stmt_, c);
        return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, c)) : std::string();
    }
    std::string blob(int c) const {
        const void* p = sqlite3_column_blob(stmt_, c);
        return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, c)) : std::string();
    }

private:
    Statement& check(int rc) {
        if (rc != SQLITE_OK) {
            throw StoreError(fmt::format("job store: binding for '{}' failed: {}", purpose_, sqlite3_errmsg(db_)));
        }
        return *this;
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    const char* purpose_;
};

nlohmann::json parseStoredJson(const std::string& text) {
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    return value.is_discarded() ? nlohmann::json() : value;
}

constexpr const char* kJobColumns =
    "id, state, priority, position, model, settings, prompt, created_at, started_at, finished_at, error";

JobRecord readJob(const Statement& s) {
    JobRecord job;
    job.id = s.integer(0);
    job.state = jobStateFromString(s.text(1));
    job.priority = s.integer(2);
    job.position = s.integer(3);
    job.model = s.text(4);
    job.settings = parseStoredJson(s.text(5));
    job.prompt = s.text(6);
    job.createdAt = s.real(7);
    job.startedAt = s.real(8);
    job.finishedAt = s.real(9);
    job.error = s.text(10);
    return job;
}

// LIKE pattern for a literal substring ('\' escapes % and _).
std::string likePattern(const std::string& text) {
    std::string pattern = "%";
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') {
            pattern += '\\';
        }
        pattern += c;
    }
    return pattern + "%";
}

} // namespace

double nowSeconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string toString(JobState state) {
    switch (state) {
    case JobState::Pending: return "pending";
    case JobState::Running: return "running";
    case JobState::Finished: return "finished";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
    case JobState::Interrupted: return "interrupted";
    }
    return "?";
}

JobState jobStateFromString(const std::string& text) {
    for (JobState s : {JobState::Pending, JobState::Running, JobState::Finished, JobState::Failed, JobState::Cancelled,
                       JobState::Interrupted}) {
        if (toString(s) == text) {
            return s;
        }
    }
    throw StoreError(fmt::format("job store: unknown job state '{}'", text));
}

nlohmann::json JobRecord::toJson() const {
    nlohmann::json j{{"job", id},           {"state", toString(state)}, {"priority", priority},
                     {"model", model},      {"prompt", prompt},         {"created_at", createdAt},
                     {"settings", settings}};
    if (startedAt > 0) {
        j["started_at"] = startedAt;
    }
    if (finishedAt > 0) {
        j["finished_at"] = finishedAt;
    }
    if (!error.empty()) {
        j["error"] = error;
    }
    return j;
}

nlohmann::json HistoryEntry::toJson() const {
    return {{"id", id},           {"job", jobId},         {"created_at", createdAt}, {"prompt", prompt},
            {"negative_prompt", negativePrompt},          {"model", model},          {"seed", seed},
            {"settings", settings}, {"timings", timings}, {"outputs", outputs}};
}

JobStore::JobStore(const std::filesystem::path& path) : path_(path) {
    std::error_code ec;
    if (path.has_parent_path()) {
        std::filesystem::create_directories(path.parent_path(), ec);
    }
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
        const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw StoreError(fmt::format("cannot open the job database {}: {}", path.string(), why));
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL", "enable write-ahead logging");
    exec("PRAGMA synchronous=NORMAL", "set synchronous mode");
    exec("CREATE TABLE IF NOT EXISTS jobs ("
         " id INTEGER PRIMARY KEY AUTOINCREMENT, state TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,"
         " position INTEGER NOT NULL, model TEXT NOT NULL, settings TEXT NOT NULL, prompt TEXT NOT NULL,"
         " created_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, finished_at REAL NOT NULL DEFAULT 0,"
         " error TEXT NOT NULL DEFAULT '')",
         "create the jobs table");
    exec("CREATE TABLE IF NOT EXISTS history ("
         " id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, created_at REAL NOT NULL,"
         " prompt TEXT NOT NULL, negative_prompt TEXT NOT NULL, model TEXT NOT NULL, seed INTEGER NOT NULL,"
         " settings TEXT NOT NULL, timings TEXT NOT NULL, outputs TEXT NOT NULL, thumbnail BLOB)",
         "create the history table");
    exec("CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, priority, position)", "create the job index");
    Statement mark(db_,
                   "UPDATE jobs SET state='interrupted', finished_at=?1,"
                   " error='the worker stopped while this job was running' WHERE state='running'",
                   "mark running jobs interrupted");
    mark.bind(1, nowSeconds()).step();
    interruptedAtOpen_ = sqlite3_changes(db_);
}

JobStore::~JobStore() { sqlite3_close(db_); }

void JobStore::exec(const char* sql, const char* purpose) const {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        const std::string why = message ? message : "unknown error";
        sqlite3_free(message);
        throw StoreError(fmt::format("job store {}: cannot {}: {}", path_.string(), purpose, why));
    }
}

int64_t JobStore::addJob(const std::string& model, const nlohmann::json& settings, int64_t priority) {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "INSERT INTO jobs(state, priority, position, model, settings, prompt, created_at)"
                " VALUES('pending', ?1, (SELECT COALESCE(MAX(position), 0) + 1 FROM jobs), ?2, ?3, ?4, ?5)",
                "add a job");
    s.bind(1, priority).bind(2, model).bind(3, settings.dump()).bind(4, settings.value("prompt", std::string()));
    s.bind(5, nowSeconds());
    s.step();
    return sqlite3_last_insert_rowid(db_);
}

std::vector<JobRecord> JobStore::selectJobs(const std::string& whereOrder, int64_t limit) const {
    const std::string sql = fmt::format("SELECT {} FROM jobs {} LIMIT ?1", kJobColumns, whereOrder);
    Statement s(db_, sql.c_str(), "list jobs");
    s.bind(1, limit);
    std::vector<JobRecord> jobs;
    while (s.step()) {
        jobs.push_back(readJob(s));
    }
    return jobs;
}

std::optional<JobRecord> JobStore::job(int64_t id) const {
    std::lock_guard lock(mutex_);
    auto jobs = selectJobs(fmt::format("WHERE id = {}", id), 1);
    return jobs.empty() ? std::nullopt : std::optional<JobRecord>(std::move(jobs.front()));
}

std::vector<JobRecord> JobStore::pendingJobs() const {
    std::lock_guard lock(mutex_);
    return selectJobs("WHERE state = 'pending' ORDER BY priority DESC, position ASC", -1);
}

std::vector<JobRecord> JobStore::recentJobs(int64_t limit) const {
    std::lock_guard lock(mutex_);
    return selectJobs("ORDER BY id DESC", limit);
}

std::optional<int64_t> JobStore::positionOf(int64_t id) const {
    const auto pending = pendingJobs();
    for (size_t i = 0; i < pending.size(); ++i) {
        if (pending[i].id == id) {
            return static_cast<int64_t>(i);
        }
    }
    return std::nullopt;
}

std::optional<JobRecord> JobStore::takeNext() {
    std::lock_guard lock(mutex_);
    auto next = selectJobs("WHERE state = 'pending' ORDER BY priority DESC, position ASC", 1);
    if (next.empty()) {
        return std::nullopt;
    }
    JobRecord job = std::move(next.front());
    job.state = JobState::Running;
    job.startedAt = nowSeconds();
    Statement s(db_, "UPDATE jobs SET state='running', started_at=?1 WHERE id=?2", "start a job");
    s.bind(1, job.startedAt).bind(2, job.id).step();
    return job;
}

void JobStore::finishJob(int64_t id, JobState state, const std::string& error) {
    std::lock_guard lock(mutex_);
    Statement s(db_, "UPDATE jobs SET state=?1, finished_at=?2, error=?3 WHERE id=?4 AND state='running'",
                "finish a job");
    s.bind(1, toString(state)).bind(2, nowSeconds()).bind(3, error).bind(4, id).step();
    if (sqlite3_changes(db_) != 1) {
        throw StoreError(fmt::format("job store: job {} is not running; cannot mark it {}", id, toString(state)));
    }
}

bool JobStore::cancelPending(int64_t id) {
    std::lock_guard lock(mutex_);
    Statement s(db_, "UPDATE jobs SET state='cancelled', finished_at=?1 WHERE id=?2 AND state='pending'",
                "cancel a job");
    s.bind(1, nowSeconds()).bind(2, id).step();
    return sqlite3_changes(db_) == 1;
}

void JobStore::setPriority(int64_t id, int64_t priority) {
    std::lock_guard lock(mutex_);
    Statement s(db_, "UPDATE jobs SET priority=?1 WHERE id=?2 AND state='pending'", "set a job's priority");
    s.bind(1, priority).bind(2, id).step();
    if (sqlite3_changes(db_) != 1) {
        throw StoreError(fmt::format("job {} is not pending: only queued jobs can change priority", id));
    }
}

void JobStore::reorder(int64_t id, int64_t position) {
    std::lock_guard lock(mutex_);
    auto pending = selectJobs("WHERE state = 'pending' ORDER BY priority DESC, position ASC", -1);
    auto it = std::find_if(pending.begin(), pending.end(), [&](const JobRecord& j) { return j.id == id; });
    if (it == pending.end()) {
        throw StoreError(fmt::format("job {} is not pending: only queued jobs can be reordered", id));
    }
    JobRecord moved = *it;
    pending.erase(it);
    const size_t at = static_cast<size_t>(std::clamp<int64_t>(position, 0, static_cast<int64_t>(pending.size())));
    // Take the priority of the neighbour so that (priority desc, position asc) keeps the requested order.
    if (at < pending.size()) {
        moved.priority = pending[at].priority;
    } else if (!pending.empty()) {
        moved.priority = pending.back().priority;
    }
    pending.insert(pending.begin() + static_cast<std::ptrdiff_t>(at), moved);
    exec("BEGIN IMMEDIATE", "begin a reorder");
    try {
        for (size_t i = 0; i < pending.size(); ++i) {
            Statement u(db_, "UPDATE jobs SET priority=?1, position=?2 WHERE id=?3", "reorder the queue");
            u.bind(1, pending[i].priority).bind(2, static_cast<int64_t>(i) + 1).bind(3, pending[i].id).step();
        }
        exec("COMMIT", "commit a reorder");
    } catch (...) {
        exec("ROLLBACK", "roll back a reorder");
        throw;
    }
}

int64_t JobStore::addHistory(const HistoryEntry& entry) {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "INSERT INTO history(job_id, created_at, prompt, negative_prompt, model, seed, settings, timings,"
                " outputs, thumbnail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                "add a history entry");
    s.bind(1, entry.jobId).bind(2, entry.createdAt > 0 ? entry.createdAt : nowSeconds()).bind(3, entry.prompt);
    s.bind(4, entry.negativePrompt).bind(5, entry.model).bind(6, entry.seed).bind(7, entry.settings.dump());
    s.bind(8, entry.timings.dump()).bind(9, entry.outputs.dump()).bindBlob(10, entry.thumbnailPng);
    s.step();
    return sqlite3_last_insert_rowid(db_);
}

int JobStore::removeHistory(int64_t jobId) {
    std::lock_guard lock(mutex_);
    Statement s(db_, "DELETE FROM history WHERE job_id=?1", "remove a job's history");
    s.bind(1, jobId).step();
    return sqlite3_changes(db_);
}

std::vector<HistoryEntry> JobStore::queryHistory(const HistoryQuery& query) const {
    std::lock_guard lock(mutex_);
    std::string sql = "SELECT id, job_id, created_at, prompt, negative_prompt, model, seed, settings, timings, outputs,"
                      " thumbnail FROM history WHERE 1=1";
    if (!query.search.empty()) {
        sql += " AND (prompt LIKE ?1 ESCAPE '\\' OR negative_prompt LIKE ?1 ESCAPE '\\')";
    }
    if (query.jobId) {
        sql += " AND job_id = ?2";
    }
    sql += " ORDER BY id DESC LIMIT ?3 OFFSET ?4";
    Statement s(db_, sql.c_str(), "query the history");
    if (!query.search.empty()) {
        s.bind(1, likePattern(query.search));
    }
    if (query.jobId) {
        s.bind(2, *query.jobId);
    }
    s.bind(3, query.limit).bind(4, query.offset);
    std::vector<HistoryEntry> entries;
    while (s.step()) {
        HistoryEntry e;
        e.id = s.integer(0);
        e.jobId = s.integer(1);
        e.createdAt = s.real(2);
        e.prompt = s.text(3);
        e.negativePrompt = s.text(4);
        e.model = s.text(5);
        e.seed = s.integer(6);
        e.settings = parseStoredJson(s.text(7));
        e.timings = parseStoredJson(s.text(8));
        e.outputs = parseStoredJson(s.text(9));
        if (query.withThumbnails) {
            e.thumbnailPng = s.blob(10);
        }
        entries.push_back(std::move(e));
    }
    return entries;
}

} // namespace ditstudio::service
