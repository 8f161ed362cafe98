// Recovery of a real ditstudio-worker with real ranks on the CPU (the golden tiny model folder), through the
// test-only fault points of core/util/fault_points.h:
//   SIGKILL mid-export (DITSTUDIO_FAULT_PAUSE_AT=export holds the worker after the first frame reached the exporter's
//     temporary): after a restart on the same state folder the job is interrupted, the queue intact, nothing is under
//     the output's name, the temporary is gone (the worker removes stale ones at start), and the next job finishes
//   out of GPU memory (DITSTUDIO_FAULT_OOM_AT=<stage>:<frames> throws a real c10::OutOfMemoryError in the rank for
//     requests of that many frames): the job fails with a message naming the request and what to change; the worker
//     stays up and the next, smaller job finishes, on the same warm rank with one rank, on a rebuilt group with two
#include "core/export/video_exporter.h"
#include "worker_process.h"
#include "tiny_model.h"

#include <dirent.h>

#include <csignal>

using namespace ditstudio;
using namespace ditstudio::testing;
using protocol::Message;

namespace {

nlohmann::json jobSettings(int64_t frames, const std::string& outDir, int64_t seed, const std::string& format) {
    return {{"prompt", "a red fox running through snow"},
            {"negative_prompt", "blurry"},
            {"seed", seed},
            {"steps", 2},
            {"width", 32},
            {"height", 32},
            {"num_frames", frames},
            {"cfg_scale", 5.0},
            {"dtype", "float32"},
            {"vae", {{"tiled", false}}},
            {"parallel", {{"device", "cpu"}}},
            {"export", {{"format", format}, {"directory", outDir}, {"filename", "job{job}_{seed}"}}}};
}

int64_t submit(protocol::WorkerClient& client, const nlohmann::json& settings, const std::string& model) {
    return client.request({{"type", "submit"}, {"settings", settings}, {"model", model}}).header["job"].get<int64_t>();
}

// The job's last event (finished / failed / cancelled), or an empty message after `timeoutS`.
Message lastEvent(protocol::WorkerClient& client, int64_t job, int timeoutS, std::string* seen = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutS);
    while (std::chrono::steady_clock::now() < deadline) {
        auto e = client.waitEvent(std::chrono::milliseconds(200));
        if (!e || !e->header.contains("job") || e->header["job"].get<int64_t>() != job) {
            continue;
        }
        if (seen) {
            *seen += e->type() + (e->type() == "stage" ? "(" + e->header["stage"].get<std::string>() + ")" : "") + " ";
        }
        if (e->type() == "finished" || e->type() == "failed" || e->type() == "cancelled") {
            return *e;
        }
    }
    return Message(nlohmann::json{{"type", "timeout"}});
}

bool hasPartial(const std::string& dir) {
    for (const auto& name : entriesOf(dir)) {
        if (name.find(".partial-") != std::string::npos) {
            return true;
        }
    }
    return false;
}

std::string readFile(const QString& path) {
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll().toStdString() : std::string();
}

// Sets an environment variable for the processes started while it lives (the worker, and through it the ranks).
struct ScopedEnv {
    ScopedEnv(const char* name, const char* value) : name_(name) { qputenv(name, value); }
    ~ScopedEnv() { qunsetenv(name_); }
    const char* name_;
};

const QStringList kRankArgs{"--rank-exe", DITSTUDIO_BINARY_DIR "/app/rank/ditstudio-rank", "--preview-interval-s",
                            "0", "--idle-release-s", "600"};

} // namespace

class TestWorkerRecovery : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_ = dir_.filePath("tiny-model").toStdString();
        const std::string built = makeTinyGoldenModel(model_, DITSTUDIO_GOLDEN_DIR);
        QVERIFY2(built.empty(), built.c_str());
    }

    void workerKilledMidExportRestartsCleanAndRunsTheNextJob() {
        const std::string format = hasEncoderFor(ExportFormat::Mp4) ? "mp4" : "png";
        const std::string out = dir_.filePath("export-out").toStdString();
        WorkerProcess worker(dir_.filePath("export-worker"));
        int64_t killed = 0, waiting = 0;
        std::string killedVideo;
        {
            ScopedEnv pause("DITSTUDIO_FAULT_PAUSE_AT", "export");
            QVERIFY2(worker.start(kRankArgs), qPrintable(worker.output()));
        }
        {
            protocol::WorkerClient client;
            client.connect(worker.endpoint(), "recovery");
            client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
            killed = submit(client, jobSettings(5, out, 41, format), model_);
            waiting = submit(client, jobSettings(5, out, 42, format), model_);
            killedVideo = out + "/job" + std::to_string(killed) + "_41" + (format == "mp4" ? ".mp4" : "");
            bool isExporting = false;
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
            while (!isExporting && std::chrono::steady_clock::now() < deadline) {
                auto e = client.waitEvent(std::chrono::milliseconds(200));
                QVERIFY2(!e || (e->type() != "failed" && e->type() != "finished"), e ? e->header.dump().c_str() : "");
                isExporting = e && e->type() == "stage" && e->header["stage"] == "export";
            }
            QVERIFY2(isExporting, qPrintable(worker.output()));
        }
        // Held at the fault point, the first frame in the temporary: kill it there.
        QTRY_VERIFY2_WITH_TIMEOUT(readFile(worker.consolePath()).find("fault point: paused at export") !=
                                      std::string::npos,
                                  qPrintable(worker.output()), 60000);
        QVERIFY2(hasPartial(out), joined(entriesOf(out)).c_str());
        worker.kill();
        QVERIFY(!worker.isRunning());
        QVERIFY2(!std::filesystem::exists(killedVideo), killedVideo.c_str());
        QVERIFY2(hasPartial(out), joined(entriesOf(out)).c_str()); // what the killed export left

        QVERIFY2(worker.start(QStringList{"--paused"} + kRankArgs), qPrintable(worker.output()));
        protocol::WorkerClient client;
        client.connect(worker.endpoint(), "recovery");
        const Message queue = client.request({{"type", "list_queue"}, {"include_done", true}});
        std::map<int64_t, nlohmann::json> jobs;
        for (const auto& j : queue.header["jobs"]) {
            jobs[j["job"].get<int64_t>()] = j;
        }
        QVERIFY2(jobs.count(killed) && jobs.count(waiting), queue.header.dump().c_str());
        QCOMPARE(jobs[killed]["state"].get<std::string>(), std::string("interrupted"));
        QCOMPARE(jobs[waiting]["state"].get<std::string>(), std::string("pending"));
        // Nothing under the output's name, no temporary left: the worker removed it at start and said so.
        QVERIFY2(!std::filesystem::exists(killedVideo), killedVideo.c_str());
        QVERIFY2(!hasPartial(out), joined(entriesOf(out)).c_str());
        QVERIFY2(worker.output().contains("a partial output of a worker or CLI that was killed mid-export"),
                 qPrintable(worker.output()));
        // The final latents were saved before the decode, under their own complete name.
        QVERIFY2(std::filesystem::exists(out + "/job" + std::to_string(killed) + "_41.latents.safetensors"),
                 joined(entriesOf(out)).c_str());

        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
        client.request({{"type", "pause_queue"}, {"paused", false}});
        const Message end = lastEvent(client, waiting, 300);
        QVERIFY2(end.type() == "finished", end.header.dump().c_str());
        const std::string video = end.header["outputs"]["video"].get<std::string>();
        QVERIFY2(std::filesystem::exists(video), video.c_str());
        QVERIFY2(!hasPartial(out), joined(entriesOf(out)).c_str());
        QVERIFY2(!std::filesystem::exists(killedVideo), killedVideo.c_str());
    }

    void outOfMemoryFailsTheJobNamingTheRequestAndTheNextJobRuns() {
        const std::string out = dir_.filePath("oom-out").toStdString();
        WorkerProcess worker(dir_.filePath("oom-worker"));
        {
            ScopedEnv oom("DITSTUDIO_FAULT_OOM_AT", "denoise:9"); // requests of 9 frames or more "do not fit"
            QVERIFY2(worker.start(kRankArgs), qPrintable(worker.output()));
        }
        protocol::WorkerClient client;
        client.connect(worker.endpoint(), "oom");
        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});

        const int64_t tooLarge = submit(client, jobSettings(9, out, 51, "png"), model_);
        const Message failed = lastEvent(client, tooLarge, 300);
        QVERIFY2(failed.type() == "failed", failed.header.dump().c_str());
        const std::string reason = failed.header["reason"].get<std::string>();
        qInfo("out-of-memory failure: %s", reason.c_str());
        QCOMPARE(failed.header["stage"].get<std::string>(), std::string("denoise"));
        for (const char* expected : {"rank 0: out of device memory during denoise on cpu", "9 frames of 32x32",
                                     "with model 'tiny-model'", "world of 1: ulysses 1 × ring 1 × cfg 1",
                                     "fewer frames (num_frames)", "smaller size (width, height)",
                                     "more GPUs sharing the sequence (parallel.ulysses or parallel.ring",
                                     "VAE tiles (vae.tiled=true)", "CUDA out of memory. Tried to allocate"}) {
            QVERIFY2(reason.find(expected) != std::string::npos, qPrintable(QString("no \"%1\" in: %2")
                                                                               .arg(expected, reason.c_str())));
        }
        QVERIFY2(reason.find("PYTORCH_CUDA_ALLOC_CONF") == std::string::npos, reason.c_str());
        const auto groupAfterFailure = client.request({{"type", "get_status"}}).header["group"];
        QCOMPARE(groupAfterFailure["state"].get<std::string>(), std::string("ready"));

        // One rank: the same warm rank runs the next, smaller job.
        const int64_t next = submit(client, jobSettings(5, out, 52, "png"), model_);
        const Message finished = lastEvent(client, next, 300);
        QVERIFY2(finished.type() == "finished", finished.header.dump().c_str());
        const auto group = client.request({{"type", "get_status"}}).header["group"];
        QVERIFY2(group["pids"] == groupAfterFailure["pids"], (group.dump() + " vs " + groupAfterFailure.dump()).c_str());

        // Two ranks: a peer may be waiting in a collective, so the group is torn down and the next job gets a new one.
        nlohmann::json sharded = jobSettings(9, out, 53, "png");
        sharded["parallel"]["ulysses"] = 2; // dit_a has 2 heads
        const int64_t tooLargeSharded = submit(client, sharded, model_);
        const Message failedSharded = lastEvent(client, tooLargeSharded, 300);
        QVERIFY2(failedSharded.type() == "failed", failedSharded.header.dump().c_str());
        const std::string shardedReason = failedSharded.header["reason"].get<std::string>();
        QVERIFY2(shardedReason.find("world of 2: ulysses 2 × ring 1") != std::string::npos, shardedReason.c_str());
        QVERIFY2(shardedReason.find("out of device memory during denoise") != std::string::npos, shardedReason.c_str());
        const auto shardedGroup = client.request({{"type", "get_status"}}).header["group"];
        QVERIFY2(!shardedGroup.contains("pids") || shardedGroup["pids"].size() == 2, shardedGroup.dump().c_str());
        sharded["num_frames"] = 5;
        sharded["seed"] = 54;
        const int64_t nextSharded = submit(client, sharded, model_);
        const Message finishedSharded = lastEvent(client, nextSharded, 300);
        QVERIFY2(finishedSharded.type() == "finished", finishedSharded.header.dump().c_str());
        const auto rebuilt = client.request({{"type", "get_status"}}).header["group"];
        QCOMPARE(rebuilt["world"].get<int>(), 2);
        if (shardedGroup.contains("pids")) {
            QVERIFY2(rebuilt["pids"] != shardedGroup["pids"], rebuilt.dump().c_str());
        }
        QVERIFY(worker.isRunning());
    }

    void outOfMemoryInTheDecodeSuggestsVaeTiles() {
        const std::string out = dir_.filePath("oom-decode-out").toStdString();
        WorkerProcess worker(dir_.filePath("oom-decode-worker"));
        {
            ScopedEnv oom("DITSTUDIO_FAULT_OOM_AT", "decode:9");
            QVERIFY2(worker.start(kRankArgs), qPrintable(worker.output()));
        }
        protocol::WorkerClient client;
        client.connect(worker.endpoint(), "oom");
        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
        const int64_t tooLarge = submit(client, jobSettings(9, out, 61, "png"), model_);
        const Message failed = lastEvent(client, tooLarge, 300);
        QVERIFY2(failed.type() == "failed", failed.header.dump().c_str());
        const std::string reason = failed.header["reason"].get<std::string>();
        qInfo("out-of-memory failure: %s", reason.c_str());
        QCOMPARE(failed.header["stage"].get<std::string>(), std::string("decode"));
        for (const char* expected : {"out of device memory during decode", "9 frames of 32x32", "Try VAE tiles (vae.tiled=true)",
                                     "fewer frames (num_frames)", "the final latents were saved to"}) {
            QVERIFY2(reason.find(expected) != std::string::npos, qPrintable(QString("no \"%1\" in: %2")
                                                                               .arg(expected, reason.c_str())));
        }
        const int64_t next = submit(client, jobSettings(5, out, 62, "png"), model_);
        const Message finished = lastEvent(client, next, 300);
        QVERIFY2(finished.type() == "finished", finished.header.dump().c_str());
        QVERIFY(worker.isRunning());
    }

private:
    QTemporaryDir dir_;
    std::string model_;
};

QTEST_GUILESS_MAIN(TestWorkerRecovery)
#include "test_worker_recovery.moc"
