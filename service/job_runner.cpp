#include "service/job_runner.h"

#include "core/export/sidecar.h"
#include "core/export/video_exporter.h"
#include "core/io/model_folder.h"
#include "core/io/safetensors.h"
#include "core/presets/generation_settings.h"
#include "service/thumbnail.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

namespace ditstudio::service {

namespace fs = std::filesystem;

namespace {

thread_local int64_t tlsLogJob = 0;

struct LogJobScope {
    explicit LogJobScope(int64_t job) { tlsLogJob = job; }
    ~LogJobScope() { tlsLogJob = 0; }
};

protocol::Message event(const std::string& type, int64_t job, nlohmann::json fields = nlohmann::json::object()) {
    fields["type"] = type;
    fields["job"] = job;
    return protocol::Message(std::move(fields));
}

// Model files recorded (and hashed) in the sidecar, by role; none (with a warning) when the folder does not open.
std::vector<SidecarModelFile> modelFiles(const fs::path& modelDir) {
    std::vector<SidecarModelFile> files;
    try {
        for (const auto& [role, path] : io::ModelFolder::open(modelDir).modelFiles()) {
            files.push_back({role, path});
        }
    } catch (const Error& e) {
        spdlog::warn("the sidecar lists no model files: {}", e.what());
    }
    return files;
}

} // namespace

int64_t currentLogJob() { return tlsLogJob; }

std::string expandFilename(const std::string& pattern, int64_t job, int64_t seed, int64_t width, int64_t height,
                           int64_t frames) {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char date[16], time[16];
    std::strftime(date, sizeof date, "%Y%m%d", &local);
    std::strftime(time, sizeof time, "%H%M%S", &local);
    const std::map<std::string, std::string> values{
        {"date", date},   {"time", time}, {"seed", std::to_string(seed)}, {"job", std::to_string(job)},
        {"width", std::to_string(width)}, {"height", std::to_string(height)}, {"frames", std::to_string(frames)}};
    std::string out;
    for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '{') {
            const size_t close = pattern.find('}', i);
            if (close != std::string::npos) {
                auto it = values.find(pattern.substr(i + 1, close - i - 1));
                if (it != values.end()) {
                    out += it->second;
                    i = close;
                    continue;
                }
            }
        }
        const char c = pattern[i];
        out += (c == '/' || c == '\\' || c == '\0' || c == ':') ? '_' : c;
    }
    if (out.empty() || out == "." || out == "..") {
        out = fmt::format("job{}_{}", job, seed);
    }
    return out;
}

fs::path defaultVideosDir() {
    if (const char* xdg = std::getenv("XDG_VIDEOS_DIR"); xdg && *xdg) {
        return fs::path(xdg) / "DiT Studio";
    }
    const char* home = std::getenv("HOME");
    return fs::path(home && *home ? home : "/tmp") / "Videos" / "DiT Studio";
}

JobRunner::JobRunner(JobStore& store, JobExecutor& executor, Publisher publish, RunnerOptions options)
    : store_(store), executor_(executor), publish_(std::move(publish)), options_(std::move(options)) {}

JobRunner::~JobRunner() { stop(); }

void JobRunner::start(bool paused) {
    assert(!thread_.joinable());
    isPaused_ = paused;
    isStopping_ = false;
    thread_ = std::thread([this] { loop(); });
}

void JobRunner::stop() {
    if (!thread_.joinable()) {
        return;
    }
    isStopping_ = true;
    cancelFlag_ = true;
    wake();
    thread_.join();
}

void JobRunner::wake() {
    std::lock_guard lock(mutex_);
    ++wakeups_;
    wakeup_.notify_all();
}

bool JobRunner::cancel(int64_t jobId) {
    {
        std::lock_guard lock(mutex_);
        if (!running_ || *running_ != jobId) {
            return false;
        }
        cancelFlag_ = true;
    }
    executor_.cancelRunning(jobId); // at once, not at the executor's next poll
    return true;
}

void JobRunner::setPaused(bool paused) {
    isPaused_ = paused;
    wake();
}

std::optional<int64_t> JobRunner::runningJob() const {
    std::lock_guard lock(mutex_);
    return running_;
}

void JobRunner::loop() {
    uint64_t seen = 0;
    while (!isStopping_) {
        std::optional<JobRecord> job;
        if (!isPaused_) {
            try {
                job = store_.takeNext();
            } catch (const Error& e) {
                spdlog::error("job queue: {}", e.what());
            }
        }
        if (job) {
            runOne(std::move(*job));
            continue;
        }
        executor_.releaseIfIdle();
        std::unique_lock lock(mutex_);
        wakeup_.wait_for(lock, std::chrono::duration<double>(options_.idleCheckSeconds),
                         [&] { return wakeups_ != seen || isStopping_; });
        seen = wakeups_;
    }
}

void JobRunner::runOne(JobRecord job) {
    LogJobScope logScope(job.id);
    {
        std::lock_guard lock(mutex_);
        running_ = job.id;
        cancelFlag_ = false;
    }
    publish_(job.id, event("started", job.id));
    spdlog::info("job {} started: \"{}\" on {}", job.id, job.prompt.substr(0, 80), job.model);

    JobState finalState = JobState::Failed;
    std::string error;
    nlohmann::json finishedEvent;
    try {
        const GenerationSettings settings = GenerationSettings::fromJson(job.settings);
        const fs::path dir = settings.exportSettings.directory.empty() ? options_.defaultOutputDir
                                                                       : fs::path(settings.exportSettings.directory);
        fs::create_directories(dir);
        std::string stem = expandFilename(settings.exportSettings.filenameTemplate, job.id, settings.seed,
                                          settings.width, settings.height, settings.numFrames);
        // Never replace an earlier output (two jobs with one seed in the same second): add the job id.
        if (fs::exists(dir / (stem + defaultExtension(settings.exportSettings.format))) ||
            fs::exists(dir / (stem + ".latents.safetensors"))) {
            stem += fmt::format("_job{}", job.id);
        }
        const fs::path videoPath = dir / (stem + defaultExtension(settings.exportSettings.format));
        const fs::path latentsPath = dir / (stem + ".latents.safetensors");
        bool latentsSaved = false;

        ExecutionCallbacks callbacks;
        callbacks.onEvent = [&](protocol::Message m) { publish_(job.id, std::move(m)); };
        callbacks.onLatents = [&](const std::vector<int64_t>& shape, const std::string& bytes) {
            int64_t count = 1;
            for (int64_t d : shape) {
                count *= d;
            }
            if (count * 4 != static_cast<int64_t>(bytes.size())) {
                spdlog::error("job {}: latents of {} bytes do not match their shape", job.id, bytes.size());
                return;
            }
            at::Tensor latents = at::empty(shape, at::kFloat);
            std::memcpy(latents.data_ptr(), bytes.data(), bytes.size());
            io::saveSafetensors(latentsPath, {{"latents", latents}},
                                {{"settings", job.settings.dump()}, {"model", job.model}, {"job", std::to_string(job.id)}});
            latentsSaved = true;
            spdlog::info("job {}: final latents saved to {}", job.id, latentsPath.string());
        };
        JobOutcome outcome = executor_.run(job, callbacks, cancelFlag_);

        if (outcome.kind == JobOutcome::Kind::Cancelled) {
            finalState = isStopping_ ? JobState::Interrupted : JobState::Cancelled;
            error = isStopping_ ? "the worker shut down while this job was running" : "";
        } else if (outcome.kind == JobOutcome::Kind::Failed) {
            finalState = isStopping_ ? JobState::Interrupted : JobState::Failed;
            error = outcome.reason;
            if (latentsSaved) {
                error += fmt::format(" (the final latents were saved to {})", latentsPath.string());
            }
            finishedEvent = {{"stage", outcome.stage}};
        } else {
            using Clock = std::chrono::steady_clock;
            const auto exportStart = Clock::now();
            publish_(job.id, event("stage", job.id, {{"stage", "export"}, {"elapsed_s", 0.0}}));
            at::Tensor frames = at::empty({outcome.frames, outcome.height, outcome.width, 3}, at::kByte);
            if (static_cast<int64_t>(outcome.framesRgb.size()) != frames.numel()) {
                throw Error(fmt::format("the rank group returned {} bytes of frames for {} frames of {}x{}",
                                        outcome.framesRgb.size(), outcome.frames, outcome.width, outcome.height));
            }
            std::memcpy(frames.data_ptr(), outcome.framesRgb.data(), outcome.framesRgb.size());
            VideoExportOptions exportOptions;
            exportOptions.format = settings.exportSettings.format;
            exportOptions.fps = static_cast<double>(settings.fps);
            exportOptions.quality = settings.exportSettings.quality;
            VideoExportResult written = exportVideo(frames, videoPath, exportOptions);
            outcome.stageSeconds["export"] = std::chrono::duration<double>(Clock::now() - exportStart).count();

            nlohmann::json usedSettings = job.settings;
            usedSettings["seed"] = outcome.seed;
            usedSettings["seed_mode"] = "fixed";
            SidecarInfo sidecar;
            sidecar.settings = usedSettings;
            sidecar.seed = outcome.seed;
            sidecar.modelFiles = modelFiles(job.model);
            sidecar.stageSeconds = outcome.stageSeconds;
            sidecar.output = {{"format", formatName(exportOptions.format)}, {"fps", exportOptions.fps},
                              {"quality", exportOptions.quality},       {"frames", written.frameCount},
                              {"width", written.width},                 {"height", written.height},
                              {"codec", written.codec},                 {"bytes", written.bytesWritten}};
            const fs::path sidecarFile = writeSidecar(written.path, sidecar);

            nlohmann::json outputs{{"video", written.path.string()}, {"sidecar", sidecarFile.string()}};
            if (latentsSaved) {
                outputs["latents"] = latentsPath.string();
            }
            nlohmann::json timings(outcome.stageSeconds);
            HistoryEntry entry;
            entry.jobId = job.id;
            entry.prompt = settings.prompt;
            entry.negativePrompt = settings.negativePrompt;
            entry.model = job.model;
            entry.seed = outcome.seed;
            entry.settings = usedSettings;
            entry.timings = timings;
            entry.outputs = outputs;
            try {
                entry.thumbnailPng = makeThumbnail(outcome.framesRgb, outcome.frames, outcome.height, outcome.width);
            } catch (const Error& e) {
                spdlog::warn("job {}: no thumbnail: {}", job.id, e.what());
            }
            store_.addHistory(entry);
            finalState = JobState::Finished;
            finishedEvent = {{"outputs", outputs}, {"timings", timings}, {"seed", outcome.seed}};
            spdlog::info("job {} finished: {}", job.id, written.path.string());
        }
    } catch (const std::exception& e) {
        finalState = isStopping_ ? JobState::Interrupted : JobState::Failed;
        error = e.what();
        finishedEvent = {{"stage", "export"}};
    }

    try {
        store_.finishJob(job.id, finalState, error);
    } catch (const Error& e) {
        spdlog::error("job {}: {}", job.id, e.what());
    }
    {
        std::lock_guard lock(mutex_);
        running_.reset();
    }
    switch (finalState) {
    case JobState::Finished: publish_(job.id, event("finished", job.id, finishedEvent)); break;
    case JobState::Cancelled:
        spdlog::info("job {} cancelled", job.id);
        publish_(job.id, event("cancelled", job.id));
        break;
    default: {
        nlohmann::json fields{{"reason", finalState == JobState::Interrupted && error.empty() ? "interrupted" : error}};
        if (finishedEvent.is_object() && finishedEvent.contains("stage") && !finishedEvent["stage"].get<std::string>().empty()) {
            fields["stage"] = finishedEvent["stage"];
        }
        spdlog::error("job {} failed: {}", job.id, fields["reason"].get<std::string>());
        publish_(job.id, event("failed", job.id, fields));
    }
    }
}

} // namespace ditstudio::service
