// Faults and load against a real ditstudio-worker with real ranks on the CPU (the golden tiny model folder):
//   two clients subscribed to one job see the same events in the same order and the same output
//   a client that subscribes to frames and previews and then stops reading (its socket buffer full) does not stall
//     the worker: another client's job still finishes, and closing the stalled client changes nothing
//   TCP without a token is refused like a wrong one
//   load: small jobs from 4 clients at once (queued while paused, random priorities) all finish, start in
//     priority order (then submission order), and the worker has the same file descriptors, threads and child
//     processes afterwards as before; so has this client process. 200 jobs (DITSTUDIO_LOAD_JOBS to change it):
//     the whole suite took 151 s on the shared 2-core build machine.
// (The worker's own suites already cover SIGKILL of the worker and of a rank, a client leaving mid-job, the
// socket's permissions and a wrong TCP token; these tests do not repeat them.)
#include "core/io/model_folder.h"
#include "worker_process.h"
#include "tiny_model.h"
#include "tests/process_children.h"


#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

using namespace ditstudio;
using namespace ditstudio::testing;
using protocol::Message;

namespace {

nlohmann::json smallJob(int64_t steps, const std::string& outDir, int64_t seed) {
    return {{"prompt", "a red fox running through snow"},
            {"negative_prompt", "blurry"},
            {"seed", seed},
            {"steps", steps},
            {"width", 32},
            {"height", 32},
            {"num_frames", 5},
            {"cfg_scale", 5.0},
            {"dtype", "float32"},
            {"vae", {{"tiled", false}}},
            {"parallel", {{"device", "cpu"}}},
            {"export", {{"format", "png"}, {"directory", outDir}, {"filename", "job{job}_{seed}"}}}};
}

int64_t submit(protocol::WorkerClient& client, const nlohmann::json& settings, const std::string& model,
               int64_t priority = 0) {
    return client
        .request({{"type", "submit"}, {"settings", settings}, {"model", model}, {"priority", priority}})
        .header["job"]
        .get<int64_t>();
}

// The job's events until it ends, as "type" or "type:step" strings, plus the finished event's header.
std::vector<std::string> eventsUntilEnd(protocol::WorkerClient& client, int64_t job, int timeoutS,
                                        nlohmann::json* finished = nullptr) {
    std::vector<std::string> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutS);
    while (std::chrono::steady_clock::now() < deadline) {
        auto e = client.waitEvent(std::chrono::milliseconds(200));
        if (!e || !e->header.contains("job") || e->header["job"].get<int64_t>() != job) {
            continue;
        }
        const std::string type = e->type();
        if (type == "preview" || type == "frames") {
            continue; // delivery of these may be thinned for a slow reader; the order of the rest may not
        }
        out.push_back(type == "step" ? "step:" + std::to_string(e->header["step"].get<int64_t>())
                      : type == "stage" ? "stage:" + e->header["stage"].get<std::string>()
                                        : type);
        if (type == "finished" || type == "failed" || type == "cancelled") {
            if (finished) {
                *finished = e->header;
            }
            break;
        }
    }
    return out;
}

int countEntries(const std::string& dir) { return static_cast<int>(entriesOf(dir).size()); }

int countChildren(qint64 pid) { return static_cast<int>(ditstudio::testing::childProcesses(pid).size()); }

struct Resources {
    int fds = 0, threads = 0, children = 0;
    std::string describe() const {
        return "fds " + std::to_string(fds) + ", threads " + std::to_string(threads) + ", children " +
               std::to_string(children);
    }
};

Resources resourcesOf(qint64 pid) {
    const std::string proc = "/proc/" + std::to_string(pid);
    return {countEntries(proc + "/fd"), countEntries(proc + "/task"), countChildren(pid)};
}

} // namespace

class TestWorkerFaults : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        model_ = dir_.filePath("tiny-model").toStdString();
        const std::string built = makeTinyGoldenModel(model_, DITSTUDIO_GOLDEN_DIR);
        QVERIFY2(built.empty(), built.c_str());
        out_ = dir_.filePath("out").toStdString();
        worker_ = std::make_unique<WorkerProcess>(dir_.filePath("worker"));
        QVERIFY2(worker_->start({"--rank-exe", DITSTUDIO_BINARY_DIR "/app/rank/ditstudio-rank", "--preview-interval-s",
                                 "0", "--idle-release-s", "600"}),
                 qPrintable(worker_->output()));
    }
    void cleanupTestCase() {
        if (worker_ && QTest::currentTestFailed()) {
            qWarning().noquote() << worker_->output();
        }
    }

    void twoClientsOnOneJobSeeTheSameEvents() {
        protocol::WorkerClient a, b;
        a.connect(worker_->endpoint(), "client-a");
        b.connect(worker_->endpoint(), "client-b");
        a.request({{"type", "subscribe"}, {"previews", true}, {"frames", true}});
        b.request({{"type", "subscribe"}, {"previews", true}, {"frames", true}});
        const int64_t job = submit(a, smallJob(4, out_, 21), model_);
        nlohmann::json finishedA, finishedB;
        const auto eventsA = eventsUntilEnd(a, job, 300, &finishedA);
        const auto eventsB = eventsUntilEnd(b, job, 60, &finishedB);
        QVERIFY2(!eventsA.empty() && eventsA.back() == "finished", joined(eventsA).c_str());
        QCOMPARE(joined(eventsB), joined(eventsA));
        QCOMPARE(finishedB.dump(), finishedA.dump());
    }

    void stalledStreamingClientDoesNotStallTheWorker() {
        RawConnection stalled(worker_->endpoint());
        const int small = 4096;
        ::setsockopt(stalled.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        stalled.sendMessage({{"type", "hello"}, {"id", 1}, {"protocol", 1}, {"client", "stalled"}});
        QVERIFY(stalled.read());
        stalled.sendMessage({{"type", "subscribe"}, {"id", 2}, {"previews", true}, {"frames", true}, {"logs", true}});
        // From here on the stalled client reads nothing.

        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "active");
        client.request({{"type", "subscribe"}, {"previews", true}, {"frames", true}});
        for (int64_t seed : {31, 32}) {
            const int64_t job = submit(client, smallJob(3, out_, seed), model_);
            const auto events = eventsUntilEnd(client, job, 300);
            QVERIFY2(!events.empty() && events.back() == "finished", joined(events).c_str());
        }
        QCOMPARE(client.request({{"type", "get_status"}}).type(), std::string("status"));
        QVERIFY(worker_->isRunning());
    }

    void tcpWithoutATokenIsRefused() {
        // The worker's own suite tries a wrong token; here none is sent at all.
        const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        QCOMPARE(::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
        const int port = ntohs(addr.sin_port);
        ::close(probe);
        WorkerProcess tcpWorker(dir_.filePath("tcp-worker"));
        QVERIFY2(tcpWorker.start({"--paused", "--tcp", QString::number(port)}), qPrintable(tcpWorker.output()));
        protocol::Endpoint tcp = protocol::Endpoint::parse("tcp://127.0.0.1:" + std::to_string(port));
        tcp.token.clear();
        protocol::WorkerClient client;
        bool isRefused = false;
        std::string message;
        try {
            client.connect(tcp, "no-token");
            client.request({{"type", "get_status"}});
        } catch (const Error& e) {
            isRefused = true;
            message = e.what();
        }
        QVERIFY2(isRefused, "a TCP client without a token was served");
        QVERIFY2(message.find("unauthorized") != std::string::npos || message.find("token") != std::string::npos,
                 message.c_str());
    }

    void jobsFromFourClientsRunInPriorityOrderAndLeakNothing() {
        // Warm up: the rank group is started by the first job and kept (--idle-release-s 600).
        protocol::WorkerClient warm;
        warm.connect(worker_->endpoint(), "warm-up");
        warm.request({{"type", "subscribe"}});
        const int64_t first = submit(warm, smallJob(1, out_, 1), model_);
        QCOMPARE(eventsUntilEnd(warm, first, 300).back(), std::string("finished"));
        warm.close();
        QTest::qWait(500);
        const Resources workerBefore = resourcesOf(worker_->pid());
        const int selfFdsBefore = countEntries("/proc/self/fd");

        protocol::WorkerClient control;
        control.connect(worker_->endpoint(), "control");
        control.request({{"type", "pause_queue"}, {"paused", true}});
        constexpr int kClients = 4;
        const char* requested = std::getenv("DITSTUDIO_LOAD_JOBS");
        const int kJobsEach = std::max(1, (requested ? std::atoi(requested) : 200) / kClients);
        std::vector<std::vector<std::pair<int64_t, int64_t>>> submitted(kClients); // (job, priority)
        std::vector<std::string> errors(kClients);
        std::vector<std::thread> threads;
        for (int c = 0; c < kClients; ++c) {
            threads.emplace_back([&, c] {
                try {
                    protocol::WorkerClient client;
                    client.connect(worker_->endpoint(), "load-" + std::to_string(c));
                    std::mt19937 random(static_cast<unsigned>(c + 1));
                    for (int i = 0; i < kJobsEach; ++i) {
                        const int64_t priority = int64_t(random() % 5);
                        const int64_t job = submit(client, smallJob(1, out_, 1000 + c * kJobsEach + i), model_, priority);
                        submitted[c].emplace_back(job, priority);
                    }
                } catch (const std::exception& e) {
                    errors[c] = e.what();
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        for (const auto& e : errors) {
            QVERIFY2(e.empty(), e.c_str());
        }
        std::map<int64_t, int64_t> priorityOf;
        for (const auto& list : submitted) {
            for (const auto& [job, priority] : list) {
                priorityOf[job] = priority;
            }
        }
        QCOMPARE(priorityOf.size(), size_t(kClients * kJobsEach));

        control.request({{"type", "subscribe"}});
        control.request({{"type", "pause_queue"}, {"paused", false}});
        std::vector<int64_t> startOrder;
        std::set<int64_t> finished;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1200);
        while (finished.size() < priorityOf.size() && std::chrono::steady_clock::now() < deadline) {
            auto e = control.waitEvent(std::chrono::milliseconds(500));
            if (!e || !e->header.contains("job")) {
                continue;
            }
            const int64_t job = e->header["job"].get<int64_t>();
            if (!priorityOf.count(job)) {
                continue;
            }
            const std::string type = e->type();
            if (type == "started") {
                startOrder.push_back(job);
            } else if (type == "failed" || type == "cancelled") {
                QFAIL(qPrintable(QString::fromStdString("job " + std::to_string(job) + " " + type + ": " +
                                                        e->header.dump())));
            } else if (type == "finished") {
                finished.insert(job);
            }
        }
        QCOMPARE(finished.size(), priorityOf.size());
        QCOMPARE(startOrder.size(), priorityOf.size());
        // Priority descending, then submission (job id) ascending.
        for (size_t i = 1; i < startOrder.size(); ++i) {
            const int64_t a = startOrder[i - 1], b = startOrder[i];
            const bool isOrdered = priorityOf[a] > priorityOf[b] || (priorityOf[a] == priorityOf[b] && a < b);
            QVERIFY2(isOrdered, qPrintable(QString("job %1 (priority %2) started before job %3 (priority %4)")
                                               .arg(a).arg(priorityOf[a]).arg(b).arg(priorityOf[b])));
        }
        control.close();
        QTest::qWait(1000); // the worker notices the closed connections
        const Resources workerAfter = resourcesOf(worker_->pid());
        qInfo("worker before: %s; after %d jobs: %s", workerBefore.describe().c_str(), kClients * kJobsEach,
              workerAfter.describe().c_str());
        QCOMPARE(workerAfter.fds, workerBefore.fds);
        QCOMPARE(workerAfter.children, workerBefore.children);
        QVERIFY2(workerAfter.threads <= workerBefore.threads, workerAfter.describe().c_str());
        QCOMPARE(countEntries("/proc/self/fd"), selfFdsBefore);
    }

private:
    QTemporaryDir dir_;
    std::string model_, out_;
    std::unique_ptr<WorkerProcess> worker_;
};

QTEST_GUILESS_MAIN(TestWorkerFaults)
#include "test_worker_faults.moc"
