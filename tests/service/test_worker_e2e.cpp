// The worker end to end with the real engine on the CPU: a model folder made from the golden tiny models (dit_a,
// vae_tiny, t5_tiny + a SentencePiece tokenizer trained here), a real rank group, real sockets.
//   submit → events in order → outputs on disk; the streamed frames equal an in-process Generator run bit for bit
//   cancel mid-denoise → cancelled within a step
//   SIGKILL the rank → the job fails naming the rank; the next job succeeds on a fresh group
//   a client that leaves mid-job finds the result later (subscribe replays, history has it)
//   SIGKILL the worker mid-job → on restart the job is interrupted and the queue intact
#include "core/io/model_folder.h"
#include "core/presets/generation_settings.h"
#include "core/runtime/generation.h"
#include "worker_process.h"
#include "tiny_model.h"


#include <csignal>
#include <fstream>

using namespace ditstudio;
using namespace ditstudio::testing;
using protocol::Message;

namespace {

// `side` > 0: a square video of that size, so that one step takes long enough (tens of ms on a CPU) for a test to
// act between steps.
nlohmann::json jobSettings(int64_t steps, const std::string& outDir, int64_t seed = 7, int64_t side = 0) {
    nlohmann::json settings = {{"prompt", "a red fox running through snow"},
            {"negative_prompt", "blurry"},
            {"seed", seed},
            {"steps", steps},
            {"width", 48},
            {"height", 32},
            {"num_frames", 9},
            {"cfg_scale", 5.0},
            {"dtype", "float32"},
            {"vae", {{"tiled", false}}},
            {"parallel", {{"device", "cpu"}}},
            {"export", {{"format", "png"}, {"directory", outDir}, {"filename", "job{job}_{seed}"}}}};
    if (side > 0) {
        settings["width"] = side;
        settings["height"] = side;
    }
    return settings;
}

// Events of one job until it ends (finished / failed / cancelled) or the timeout passes.
std::vector<Message> collectUntilEnd(protocol::WorkerClient& client, int64_t job, int timeoutS,
                                     const std::function<void(const Message&)>& onEvent = {}) {
    std::vector<Message> events;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutS);
    while (std::chrono::steady_clock::now() < deadline) {
        auto event = client.waitEvent(std::chrono::milliseconds(200));
        if (!event || !event->header.contains("job") || event->header["job"].get<int64_t>() != job) {
            continue;
        }
        events.push_back(*event);
        if (onEvent) {
            onEvent(*event);
        }
        const std::string type = event->type();
        if (type == "finished" || type == "failed" || type == "cancelled") {
            break;
        }
    }
    return events;
}

std::string describe(const std::vector<Message>& events) {
    std::string out;
    for (const auto& e : events) {
        out += e.type() + (e.type() == "stage" ? "(" + e.header["stage"].get<std::string>() + ")" : "") + " ";
        if (e.type() == "failed") {
            out += "[" + e.header["reason"].get<std::string>() + "] ";
        }
    }
    return out;
}

int64_t submit(protocol::WorkerClient& client, const nlohmann::json& settings, const std::string& model) {
    return client.request({{"type", "submit"}, {"settings", settings}, {"model", model}}).header["job"].get<int64_t>();
}

} // namespace

class TestWorkerE2E : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_ = dir_.filePath("tiny-model").toStdString();
        const std::string built = makeTinyGoldenModel(model_, DITSTUDIO_GOLDEN_DIR);
        QVERIFY2(built.empty(), built.c_str());
        try {
            io::ModelFolder::open(model_);
        } catch (const Error& e) {
            QFAIL(qPrintable(QString("the tiny model folder does not open: ") + e.what()));
        }
        out_ = dir_.filePath("out").toStdString();
        worker_ = std::make_unique<WorkerProcess>(dir_.filePath("worker"));
        QVERIFY2(worker_->start({"--rank-exe", DITSTUDIO_BINARY_DIR "/app/rank/ditstudio-rank", "--preview-interval-s",
                                 "0", "--idle-release-s", "120"}),
                 qPrintable(worker_->output()));
    }
    void cleanupTestCase() {
        if (worker_ && QTest::currentTestFailed()) {
            qWarning().noquote() << worker_->output();
        }
    }

    void submitStreamsEventsInOrderAndWritesOutputs() {
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "e2e");
        client.request({{"type", "subscribe"}, {"previews", true}, {"frames", true}});
        const nlohmann::json settings = jobSettings(4, out_);
        const int64_t job = submit(client, settings, model_);
        const auto events = collectUntilEnd(client, job, 300);
        QVERIFY2(!events.empty() && events.back().type() == "finished", describe(events).c_str());

        // queued, started, stage load, encode, denoise, (step, preview)×4, decode, frames+, export, finished
        std::vector<std::string> stages;
        int64_t lastStep = 0, previews = 0, framesSeen = 0;
        std::string streamed;
        for (const auto& e : events) {
            if (e.type() == "stage") {
                stages.push_back(e.header["stage"].get<std::string>());
            } else if (e.type() == "step") {
                QCOMPARE(e.header["step"].get<int64_t>(), lastStep + 1);
                QCOMPARE(e.header["total"].get<int64_t>(), int64_t(4));
                QVERIFY(e.header["it_per_s"].get<double>() > 0);
                QCOMPARE(stages.back(), std::string("denoise"));
                lastStep = e.header["step"].get<int64_t>();
            } else if (e.type() == "preview") {
                ++previews;
                QCOMPARE(e.header["frames"].get<int64_t>(), int64_t(3)); // latent frames of 9 video frames
                QCOMPARE(e.payload.size(), size_t(3 * 4 * 6 * 3));
            } else if (e.type() == "frames") {
                QCOMPARE(e.header["first_frame"].get<int64_t>(), framesSeen);
                QCOMPARE(e.header["height"].get<int64_t>(), int64_t(32));
                framesSeen += e.header["count"].get<int64_t>();
                streamed += e.payload;
                QCOMPARE(stages.back(), std::string("decode"));
            }
        }
        QCOMPARE(events[0].type(), std::string("queued"));
        QCOMPARE(events[1].type(), std::string("started"));
        QCOMPARE(stages, (std::vector<std::string>{"load", "encode", "denoise", "decode", "export"}));
        QCOMPARE(lastStep, int64_t(4));
        QCOMPARE(previews, int64_t(4)); // --preview-interval-s 0: every step
        QCOMPARE(framesSeen, int64_t(9));

        const auto& finished = events.back().header;
        QCOMPARE(finished["seed"].get<int64_t>(), int64_t(7));
        for (const char* key : {"video", "sidecar", "latents"}) {
            QVERIFY2(std::filesystem::exists(finished["outputs"][key].get<std::string>()), key);
        }
        QVERIFY(std::filesystem::exists(finished["outputs"]["video"].get<std::string>() + "/frame_00008.png"));
        for (const char* stage : {"encode", "denoise", "decode", "export"}) {
            QVERIFY2(finished["timings"].contains(stage), stage);
        }

        // The same settings in this process give the same frames, bit for bit.
        Generator generator(model_, at::kCPU, at::kFloat);
        const auto local = generator.generate(GenerationSettings::fromJson(settings));
        QCOMPARE(local.frames.sizes().vec(), (std::vector<int64_t>{9, 32, 48, 3}));
        QCOMPARE(streamed.size(), size_t(local.frames.nbytes()));
        QVERIFY(std::memcmp(streamed.data(), local.frames.contiguous().data_ptr(), streamed.size()) == 0);

        // History has it, with its settings and a PNG thumbnail.
        Message history = client.request({{"type", "query_history"}, {"job", job}, {"thumbnails", true}});
        QCOMPARE(history.header["entries"].size(), size_t(1));
        QCOMPARE(history.header["entries"][0]["settings"]["prompt"].get<std::string>(),
                 std::string("a red fox running through snow"));
        QCOMPARE(history.payload.substr(1, 3), std::string("PNG"));
        QVERIFY(!client.request({{"type", "query_history"}, {"search", "RED FOX"}}).header["entries"].empty());
    }

    void cancelStopsTheJobWithinAStep() {
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "e2e");
        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
        const int64_t job = submit(client, jobSettings(1000, out_, 7, 256), model_);
        int64_t stepAtCancel = 0, lastStep = 0;
        const auto events = collectUntilEnd(client, job, 300, [&](const Message& e) {
            if (e.type() == "step") {
                lastStep = e.header["step"].get<int64_t>();
                if (lastStep == 3 && stepAtCancel == 0) {
                    stepAtCancel = lastStep;
                    std::thread([&] {
                        protocol::WorkerClient canceller;
                        canceller.connect(worker_->endpoint(), "canceller");
                        canceller.request({{"type", "cancel"}, {"job", job}});
                    }).join();
                }
            }
        });
        QVERIFY2(!events.empty() && events.back().type() == "cancelled", describe(events).c_str());
        qInfo("cancel requested after step %lld; last step reported %lld", static_cast<long long>(stepAtCancel),
              static_cast<long long>(lastStep));
        QVERIFY2(lastStep <= stepAtCancel + 2, qPrintable(QString("steps after cancel: %1").arg(lastStep - stepAtCancel)));
        Message queue = client.request({{"type", "list_queue"}, {"include_done", true}});
        bool found = false;
        for (const auto& j : queue.header["jobs"]) {
            if (j["job"].get<int64_t>() == job) {
                QCOMPARE(j["state"].get<std::string>(), std::string("cancelled"));
                found = true;
            }
        }
        QVERIFY(found);
    }

    void killedRankFailsTheJobNamingItAndTheNextJobRuns() {
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "e2e");
        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
        const int64_t doomed = submit(client, jobSettings(1000, out_, 7, 256), model_);
        const auto events = collectUntilEnd(client, doomed, 300, [&](const Message& e) {
            if (e.type() == "step" && e.header["step"].get<int64_t>() == 2) {
                const auto group = client.request({{"type", "get_status"}}).header["group"];
                QVERIFY(!group["pids"].empty());
                ::kill(group["pids"][0].get<pid_t>(), SIGKILL);
            }
        });
        QVERIFY2(!events.empty() && events.back().type() == "failed", describe(events).c_str());
        const std::string reason = events.back().header["reason"].get<std::string>();
        qInfo("failure reason: %s", reason.c_str());
        QVERIFY2(reason.find("rank 0") != std::string::npos, reason.c_str());
        const int64_t next = submit(client, jobSettings(2, out_, 8), model_);
        const auto nextEvents = collectUntilEnd(client, next, 300);
        QVERIFY2(!nextEvents.empty() && nextEvents.back().type() == "finished", describe(nextEvents).c_str());
    }

    // A rank that stops answering (SIGSTOP: hung, or stopped by a debugger) mid-denoise: the launcher's heartbeat
    // watch fails the job naming the rank within its timeout, the stopped process is removed, the next job runs.
    void stoppedRankFailsTheJobAsHungAndTheNextJobRuns() {
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "e2e");
        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
        const int64_t doomed = submit(client, jobSettings(1000, out_, 9, 256), model_);
        pid_t stopped = 0;
        const auto events = collectUntilEnd(client, doomed, 300, [&](const Message& e) {
            if (e.type() == "step" && e.header["step"].get<int64_t>() == 2 && stopped == 0) {
                const auto group = client.request({{"type", "get_status"}}).header["group"];
                QVERIFY(!group["pids"].empty());
                stopped = group["pids"][0].get<pid_t>();
                ::kill(stopped, SIGSTOP);
            }
        });
        QVERIFY(stopped > 0);
        QVERIFY2(!events.empty() && events.back().type() == "failed", describe(events).c_str());
        const std::string reason = events.back().header["reason"].get<std::string>();
        qInfo("failure reason: %s", reason.c_str());
        QVERIFY2(reason.find("rank 0") != std::string::npos && reason.find("hung or stopped") != std::string::npos,
                 reason.c_str());
        QTRY_VERIFY_WITH_TIMEOUT(::kill(stopped, 0) != 0, 10000); // the stopped rank is gone, not left behind
        const int64_t next = submit(client, jobSettings(2, out_, 10), model_);
        const auto nextEvents = collectUntilEnd(client, next, 300);
        QVERIFY2(!nextEvents.empty() && nextEvents.back().type() == "finished", describe(nextEvents).c_str());
    }

    void twoRankGroupGivesTheSameVideo() {
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "e2e");
        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", true}});
        nlohmann::json settings = jobSettings(4, out_, 12);
        const int64_t single = submit(client, settings, model_);
        settings["parallel"]["ulysses"] = 2; // dit_a has 2 heads: one per rank
        const int64_t sharded = submit(client, settings, model_);
        settings["compile"]["mode"] = "default"; // the ranks apply it: fused kernels under the sequence-parallel DiT
        const int64_t compiled = submit(client, settings, model_);
        std::map<int64_t, std::string> frames;
        for (int64_t job : {single, sharded, compiled}) {
            const auto events = collectUntilEnd(client, job, 300);
            QVERIFY2(!events.empty() && events.back().type() == "finished", describe(events).c_str());
            for (const auto& e : events) {
                if (e.type() == "frames") {
                    frames[job] += e.payload;
                }
            }
        }
        QCOMPARE(client.request({{"type", "get_status"}}).header["group"]["world"].get<int>(), 2);
        QVERIFY2(worker_->output().contains("DiT compiled: default"), "the ranks did not compile the DiT");
        QCOMPARE(frames[single].size(), size_t(9 * 32 * 48 * 3));
        for (int64_t job : {sharded, compiled}) {
            QCOMPARE(frames[job].size(), frames[single].size());
            int maxDifference = 0;
            for (size_t i = 0; i < frames[single].size(); ++i) {
                maxDifference = std::max(maxDifference, std::abs(static_cast<int>(static_cast<uint8_t>(frames[single][i])) -
                                                                 static_cast<int>(static_cast<uint8_t>(frames[job][i]))));
            }
            qInfo("world 2 (ulysses 2%s) vs world 1: max |Δ| of uint8 frames = %d",
                  job == compiled ? ", compile default" : "", maxDifference);
            QVERIFY2(maxDifference <= 1, qPrintable(QString("max difference %1").arg(maxDifference)));
        }
    }

    void groupStaysWarmBetweenJobsAndIsFreedWhenIdle() {
        WorkerProcess worker(dir_.filePath("idle"));
        QVERIFY2(worker.start({"--rank-exe", DITSTUDIO_BINARY_DIR "/app/rank/ditstudio-rank", "--idle-release-s", "2"}),
                 qPrintable(worker.output()));
        protocol::WorkerClient client;
        client.connect(worker.endpoint(), "e2e");
        client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
        std::vector<int> pids;
        for (int64_t seed : {20, 21}) {
            const int64_t job = submit(client, jobSettings(2, out_, seed), model_);
            const auto events = collectUntilEnd(client, job, 300);
            QVERIFY2(!events.empty() && events.back().type() == "finished", describe(events).c_str());
            const auto group = client.request({{"type", "get_status"}}).header["group"];
            QCOMPARE(group["state"].get<std::string>(), std::string("ready"));
            pids.push_back(group["pids"][0].get<int>());
        }
        QCOMPARE(pids[0], pids[1]); // the same rank process (and loaded model) ran both jobs
        QTRY_COMPARE_WITH_TIMEOUT(
            client.request({{"type", "get_status"}}).header["group"]["state"].get<std::string>(), std::string("none"),
            15000);
        QTRY_VERIFY_WITH_TIMEOUT(::kill(pids[0], 0) != 0, 10000); // the rank process is gone
    }

    void clientThatLeftMidJobFindsTheResultLater() {
        int64_t job = 0;
        {
            protocol::WorkerClient client;
            client.connect(worker_->endpoint(), "leaver");
            client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
            job = submit(client, jobSettings(40, out_, 9), model_);
            for (int i = 0; i < 100; ++i) { // leave at the first step
                auto e = client.waitEvent(std::chrono::milliseconds(200));
                if (e && e->type() == "step") {
                    break;
                }
            }
        } // disconnected mid-job
        protocol::WorkerClient later;
        later.connect(worker_->endpoint(), "later");
        later.request({{"type", "subscribe"}, {"job", job}, {"previews", false}, {"frames", false}});
        const auto events = collectUntilEnd(later, job, 300);
        QVERIFY2(!events.empty() && events.back().type() == "finished", describe(events).c_str());
        Message history = later.request({{"type", "query_history"}, {"job", job}});
        QCOMPARE(history.header["entries"].size(), size_t(1));
        QVERIFY(std::filesystem::exists(history.header["entries"][0]["outputs"]["video"].get<std::string>()));
    }

    void killedWorkerLeavesTheRunningJobInterruptedAndTheQueueIntact() {
        int64_t running = 0, waiting = 0;
        {
            protocol::WorkerClient client;
            client.connect(worker_->endpoint(), "e2e");
            client.request({{"type", "subscribe"}, {"previews", false}, {"frames", false}});
            running = submit(client, jobSettings(1000, out_, 10, 256), model_);
            waiting = submit(client, jobSettings(2, out_, 11), model_);
            for (int i = 0; i < 600; ++i) {
                auto e = client.waitEvent(std::chrono::milliseconds(200));
                if (e && e->type() == "step") {
                    break;
                }
            }
        }
        worker_->kill();
        QVERIFY(worker_->start({"--paused", "--rank-exe", DITSTUDIO_BINARY_DIR "/app/rank/ditstudio-rank"}));
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "e2e");
        Message queue = client.request({{"type", "list_queue"}, {"include_done", true}});
        std::map<int64_t, std::string> states;
        for (const auto& j : queue.header["jobs"]) {
            states[j["job"].get<int64_t>()] = j["state"].get<std::string>();
        }
        QCOMPARE(states[running], std::string("interrupted"));
        QCOMPARE(states[waiting], std::string("pending"));
    }

private:
    QTemporaryDir dir_;
    std::string model_, out_;
    std::unique_ptr<WorkerProcess> worker_;
};

QTEST_GUILESS_MAIN(TestWorkerE2E)
#include "test_worker_e2e.moc"
