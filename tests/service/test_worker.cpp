// The worker as a process, over its real socket: handshake and version refusal, validation errors that keep the
// connection, a second worker refused, socket permissions, the queue surviving SIGKILL, priorities and reorder,
// history queries with thumbnails, subscriptions to finished jobs, and a bounded fuzz loop of malformed frames
// after which the worker still answers.
#include "service/job_store.h"
#include "worker_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <random>
#include <sys/stat.h>
#include <sys/wait.h>

using namespace ditstudio;
using namespace ditstudio::testing;
using protocol::Message;

namespace {

nlohmann::json tinySettings(const std::string& prompt, int64_t seed = 1) {
    return {{"prompt", prompt}, {"seed", seed}, {"steps", 2}, {"width", 64}, {"height", 64}, {"num_frames", 5},
            {"parallel", {{"device", "cpu"}}}, {"dtype", "float32"}};
}

std::vector<int64_t> queueIds(protocol::WorkerClient& client) {
    Message queue = client.request({{"type", "list_queue"}});
    std::vector<int64_t> ids;
    for (const auto& job : queue.header["jobs"]) {
        ids.push_back(job["job"].get<int64_t>());
    }
    return ids;
}

std::string errorCodeOf(const std::function<void()>& call) {
    try {
        call();
    } catch (const protocol::ProtocolError& e) {
        return e.code() + ": " + e.what();
    }
    return "";
}

} // namespace

class TestWorker : public QObject {
    Q_OBJECT
private slots:
    void init() {
        QVERIFY(dir_.isValid());
        worker_ = std::make_unique<WorkerProcess>(dir_.path() + "/" + QString::number(++testIndex_));
    }
    void cleanup() {
        if (worker_ && QTest::currentTestFailed()) {
            qWarning().noquote() << worker_->output();
        }
        worker_.reset();
    }

    void handshakeThenStatus() {
        QVERIFY(worker_->start({"--paused"}));
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "test");
        QCOMPARE(client.welcome()["protocol"].get<int>(), protocol::kProtocolVersion);
        QCOMPARE(client.welcome()["pid"].get<qint64>(), worker_->pid());
        Message status = client.request({{"type", "get_status"}});
        QCOMPARE(status.header["paused"].get<bool>(), true);
        QCOMPARE(status.header["queue_length"].get<int>(), 0);
        QCOMPARE(status.header["group"]["state"].get<std::string>(), std::string("none"));
        QCOMPARE(QString::fromStdString(status.header["database"].get<std::string>()), worker_->databasePath());
    }

    void incompatibleVersionIsRefusedClearly() {
        QVERIFY(worker_->start({"--paused"}));
        RawConnection raw(worker_->endpoint());
        raw.sendMessage({{"type", "hello"}, {"id", 0}, {"protocol", 99}, {"client", "future-gui 9.0"}});
        auto reply = raw.read();
        QVERIFY(reply);
        QCOMPARE(reply->type(), std::string("error"));
        QCOMPARE(reply->header["code"].get<std::string>(), std::string("incompatible_version"));
        const std::string text = reply->header["message"].get<std::string>();
        QVERIFY2(text.find("version 1") != std::string::npos && text.find("version 99") != std::string::npos,
                 text.c_str());
        QVERIFY(raw.isClosedByPeer());
        // Through the client library the same refusal is a ProtocolError with that code.
        // (A real client of another version cannot be built here; the library side is covered by the code path above.)
        QVERIFY(worker_->isRunning());
    }

    void requestsBeforeHelloAreOutOfOrderButTheConnectionStays() {
        QVERIFY(worker_->start({"--paused"}));
        RawConnection raw(worker_->endpoint());
        raw.sendMessage({{"type", "get_status"}, {"id", 5}});
        auto reply = raw.read();
        QVERIFY(reply);
        QCOMPARE(reply->header["code"].get<std::string>(), std::string("out_of_order"));
        QCOMPARE(reply->header["reply_to"].get<int>(), 5);
        raw.sendMessage({{"type", "hello"}, {"id", 6}, {"protocol", protocol::kProtocolVersion}, {"client", "raw"}});
        reply = raw.read();
        QVERIFY(reply);
        QCOMPARE(reply->type(), std::string("welcome"));
        raw.sendMessage({{"type", "hello"}, {"id", 7}, {"protocol", protocol::kProtocolVersion}, {"client", "raw"}});
        reply = raw.read();
        QCOMPARE(reply->header["code"].get<std::string>(), std::string("out_of_order"));
    }

    void invalidRequestsNameTheField() {
        QVERIFY(worker_->start({"--paused"}));
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "test");
        const std::string model = dir_.path().toStdString();
        nlohmann::json bad = tinySettings("x");
        bad["steps"] = "many";
        std::string error = errorCodeOf([&] { client.request({{"type", "submit"}, {"settings", bad}, {"model", model}}); });
        QVERIFY2(error.rfind("invalid_settings", 0) == 0 && error.find("steps") != std::string::npos, error.c_str());
        error = errorCodeOf([&] {
            client.request({{"type", "submit"}, {"settings", tinySettings("x")}, {"model", "/no/such/model"}});
        });
        QVERIFY2(error.rfind("invalid_model", 0) == 0 && error.find("/no/such/model") != std::string::npos, error.c_str());
        error = errorCodeOf([&] { client.request({{"type", "cancel"}, {"job", 12345}}); });
        QVERIFY2(error.rfind("not_found", 0) == 0, error.c_str());
        error = errorCodeOf([&] { client.request({{"type", "cancel"}, {"job", "12"}}); });
        QVERIFY2(error.rfind("bad_message", 0) == 0, error.c_str());
        // Still usable after every error.
        QCOMPARE(client.request({{"type", "get_status"}}).type(), std::string("status"));
    }

    void secondWorkerOnTheSameSocketIsRefused() {
        QVERIFY(worker_->start({"--paused"}));
        QProcess second;
        second.setProcessEnvironment(worker_->environment());
        second.setProcessChannelMode(QProcess::MergedChannels);
        second.start(WorkerProcess::executable(), worker_->arguments({"--paused"}));
        QVERIFY(second.waitForFinished(20000));
        QCOMPARE(second.exitCode(), 3);
        const QString output = QString::fromUtf8(second.readAll());
        QVERIFY2(output.contains("already serves") && output.contains(QString::number(worker_->pid())),
                 qPrintable(output));
        // The first one is untouched.
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "test");
    }

    void socketIsPrivateToItsUser() {
        QVERIFY(worker_->start({"--paused"}));
        struct stat st {};
        QCOMPARE(::stat(worker_->socketPath().toLocal8Bit().constData(), &st), 0);
        QVERIFY(S_ISSOCK(st.st_mode));
        QCOMPARE(st.st_mode & 0777, mode_t(0600));
        QCOMPARE(::stat(QFileInfo(worker_->socketPath()).absolutePath().toLocal8Bit().constData(), &st), 0);
        QCOMPARE(st.st_mode & 0777, mode_t(0700));
        QCOMPARE(st.st_uid, ::getuid());
        if (::getuid() != 0) {
            QSKIP("not root: cannot switch to another uid to try connecting (mode bits checked)");
        }
        // Another user (nobody) tries to connect.
        const protocol::Endpoint endpoint = worker_->endpoint();
        const pid_t child = ::fork();
        if (child == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
                ::_exit(2);
            }
            try {
                const int fd = protocol::connectEndpoint(endpoint, std::chrono::seconds(2));
                ::close(fd);
                ::_exit(1); // connected: permissions failed
            } catch (...) {
                ::_exit(0);
            }
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        QVERIFY(WIFEXITED(status));
        QCOMPARE(WEXITSTATUS(status), 0);
    }

    void queueAndPrioritiesSurviveSigkill() {
        QVERIFY(worker_->start({"--paused"}));
        const std::string model = dir_.path().toStdString();
        std::vector<int64_t> ids;
        {
            protocol::WorkerClient client;
            client.connect(worker_->endpoint(), "test");
            for (int i = 0; i < 4; ++i) {
                Message reply = client.request({{"type", "submit"},
                                                {"settings", tinySettings("job " + std::to_string(i), 100 + i)},
                                                {"model", model},
                                                {"priority", i == 2 ? 5 : 0}});
                ids.push_back(reply.header["job"].get<int64_t>());
            }
            QCOMPARE(queueIds(client), (std::vector<int64_t>{ids[2], ids[0], ids[1], ids[3]}));
            client.request({{"type", "reorder"}, {"job", ids[3]}, {"position", 0}});
            client.request({{"type", "set_priority"}, {"job", ids[1]}, {"priority", 1}});
            QCOMPARE(queueIds(client), (std::vector<int64_t>{ids[3], ids[2], ids[1], ids[0]}));
        }
        worker_->kill();
        QVERIFY(worker_->start({"--paused"}));
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "test");
        QCOMPARE(queueIds(client), (std::vector<int64_t>{ids[3], ids[2], ids[1], ids[0]}));
        Message queue = client.request({{"type", "list_queue"}});
        QCOMPARE(queue.header["jobs"][0]["settings"]["seed"].get<int>(), 103);
        QCOMPARE(queue.header["jobs"][0]["state"].get<std::string>(), std::string("pending"));
    }

    void cancellingAPendingJobTellsSubscribers() {
        QVERIFY(worker_->start({"--paused"}));
        protocol::WorkerClient submitter, watcher;
        submitter.connect(worker_->endpoint(), "submitter");
        watcher.connect(worker_->endpoint(), "watcher");
        const int64_t job = submitter.request({{"type", "submit"}, {"settings", tinySettings("c")},
                                               {"model", dir_.path().toStdString()}})
                                .header["job"]
                                .get<int64_t>();
        watcher.request({{"type", "subscribe"}, {"job", job}});
        auto state = watcher.waitEvent(std::chrono::seconds(5));
        QVERIFY(state);
        QCOMPARE(state->type(), std::string("queued"));
        submitter.request({{"type", "cancel"}, {"job", job}});
        auto cancelled = watcher.waitEvent(std::chrono::seconds(5));
        QVERIFY(cancelled);
        QCOMPARE(cancelled->type(), std::string("cancelled"));
        QCOMPARE(cancelled->header["job"].get<int64_t>(), job);
        QVERIFY(queueIds(submitter).empty());
        const std::string again = errorCodeOf([&] { submitter.request({{"type", "cancel"}, {"job", job}}); });
        QVERIFY2(again.rfind("not_cancellable", 0) == 0, again.c_str());
    }

    void historyQueriesAndLateSubscribersFindFinishedJobs() {
        // A database as a previous worker left it: one finished job with its history entry, one that was running.
        std::filesystem::create_directories(QFileInfo(worker_->databasePath()).absolutePath().toStdString());
        int64_t finished = 0, interrupted = 0;
        {
            service::JobStore store(worker_->databasePath().toStdString());
            finished = store.addJob("/models/tiny", tinySettings("A fox in the snow", 42), 0);
            store.takeNext();
            store.finishJob(finished, service::JobState::Finished);
            service::HistoryEntry entry;
            entry.jobId = finished;
            entry.prompt = "A fox in the snow";
            entry.model = "/models/tiny";
            entry.seed = 42;
            entry.settings = tinySettings("A fox in the snow", 42);
            entry.timings = {{"denoise", 2.5}};
            entry.outputs = {{"video", "/out/fox.mp4"}};
            entry.thumbnailPng = "PNGDATA1";
            store.addHistory(entry);
            entry.jobId = 999;
            entry.prompt = "a boat";
            entry.thumbnailPng = "PNG2";
            store.addHistory(entry);
            interrupted = store.addJob("/models/tiny", tinySettings("crashed"), 0);
            store.takeNext();
        }
        QVERIFY(worker_->start({"--paused"}));
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "test");
        Message history = client.request({{"type", "query_history"}, {"search", "FOX"}, {"thumbnails", true}});
        QCOMPARE(history.header["entries"].size(), size_t(1));
        const auto& entry = history.header["entries"][0];
        QCOMPARE(entry["seed"].get<int>(), 42);
        QCOMPARE(entry["settings"]["prompt"].get<std::string>(), std::string("A fox in the snow"));
        const auto offset = entry["thumbnail"]["offset"].get<size_t>(), size = entry["thumbnail"]["size"].get<size_t>();
        QCOMPARE(history.payload.substr(offset, size), std::string("PNGDATA1"));
        QCOMPARE(client.request({{"type", "query_history"}}).header["entries"].size(), size_t(2));
        // Deleting an output's entry: gone for every client, and a second delete is refused naming the job.
        QCOMPARE(client.request({{"type", "delete_history"}, {"job", 999}}).type(), std::string("ok"));
        QCOMPARE(client.request({{"type", "query_history"}}).header["entries"].size(), size_t(1));
        const std::string again = errorCodeOf([&] { client.request({{"type", "delete_history"}, {"job", 999}}); });
        QVERIFY2(again.find("not_found: job 999 has no history entry") == 0, again.c_str());

        client.request({{"type", "subscribe"}, {"job", finished}});
        auto event = client.waitEvent(std::chrono::seconds(5));
        QVERIFY(event);
        QCOMPARE(event->type(), std::string("finished"));
        QCOMPARE(event->header["outputs"]["video"].get<std::string>(), std::string("/out/fox.mp4"));
        client.request({{"type", "subscribe"}, {"job", interrupted}});
        event = client.waitEvent(std::chrono::seconds(5));
        QVERIFY(event);
        QCOMPARE(event->type(), std::string("failed"));
        QVERIFY2(event->header["reason"].get<std::string>().find("interrupted") == 0,
                 event->header["reason"].get<std::string>().c_str());
    }

    void malformedFramesNeverTakeTheWorkerDown() {
        QVERIFY(worker_->start({"--paused"}));
        std::mt19937 rng(1234);
        auto randomBytes = [&](size_t n) {
            std::string s(n, '\0');
            for (auto& c : s) {
                c = static_cast<char>(rng());
            }
            return s;
        };
        const auto& catalogue = protocol::messageCatalogue();
        const std::vector<nlohmann::json> values{nullptr, -1, 0, 1u << 31, 3.5, "x", std::string(70000, 'y'), true,
                                                 nlohmann::json::array({1, 2}), nlohmann::json::object({{"a", 1}})};
        const int rounds = 300;
        for (int round = 0; round < rounds; ++round) {
            RawConnection raw(worker_->endpoint());
            const int kind = round % 5;
            if (kind == 0) { // noise
                raw.sendBytes(randomBytes(1 + rng() % 4096));
            } else if (kind == 1) { // valid magic, random lengths and body
                std::string frame = "DSWP" + randomBytes(12) + randomBytes(rng() % 512);
                frame[4] = 1;
                frame[5] = 0;
                raw.sendBytes(frame);
            } else if (kind == 2) { // a valid frame whose JSON is cut or mangled
                std::string frame = protocol::encodeFrame(Message(tinySettings("fuzz")));
                frame[16 + rng() % (frame.size() - 16)] = static_cast<char>(rng());
                raw.sendBytes(frame.substr(0, 16 + rng() % (frame.size() - 15)));
            } else { // greeted, then catalogue messages with random fields (and truncation on the last one)
                raw.sendMessage({{"type", "hello"}, {"id", 0}, {"protocol", protocol::kProtocolVersion}, {"client", "fuzz"}});
                for (int m = 0; m < 8; ++m) {
                    const auto& spec = catalogue[rng() % catalogue.size()];
                    if (std::string(spec.type) == "shutdown") {
                        continue;
                    }
                    nlohmann::json header{{"type", spec.type}, {"id", rng() % 100}};
                    for (const auto& field : spec.fields) {
                        if (rng() % 4 != 0) {
                            header[field.name] = values[rng() % values.size()];
                        }
                    }
                    if (std::string(spec.type) == "pause_queue") {
                        header["paused"] = true; // keep the queue paused: nothing may start here
                    }
                    std::string frame = protocol::encodeFrame(Message(header, rng() % 3 == 0 ? randomBytes(64) : ""));
                    if (m == 7 && kind == 4) {
                        frame.resize(rng() % frame.size());
                    }
                    raw.sendBytes(frame);
                }
            }
            raw.read(20); // whatever comes back; the connection may be closed
            if (round % 25 == 0) {
                QVERIFY2(worker_->isRunning(), qPrintable(worker_->output()));
            }
        }
        QVERIFY2(worker_->isRunning(), qPrintable(worker_->output()));
        protocol::WorkerClient client;
        client.connect(worker_->endpoint(), "after-fuzz");
        QCOMPARE(client.request({{"type", "get_status"}}).header["paused"].get<bool>(), true);
    }

    void loopbackTcpNeedsTheToken() {
        // A free port: bind to 0, read it back, release it.
        const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        QCOMPARE(::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
        const int port = ntohs(addr.sin_port);
        ::close(probe);
        QVERIFY(worker_->start({"--paused", "--tcp", QString::number(port)}));
        QFile tokenFile(QFileInfo(worker_->socketPath()).absolutePath() + "/worker.token");
        QVERIFY(tokenFile.open(QIODevice::ReadOnly));
        QCOMPARE(tokenFile.permissions() & (QFile::ReadGroup | QFile::ReadOther), QFile::Permissions());
        protocol::Endpoint tcp = protocol::Endpoint::parse("tcp://127.0.0.1:" + std::to_string(port));
        protocol::WorkerClient client;
        tcp.token = "wrong";
        const std::string refused = errorCodeOf([&] { client.connect(tcp, "tcp-test"); });
        QVERIFY2(refused.rfind("unauthorized", 0) == 0, refused.c_str());
        tcp.token = tokenFile.readAll().toStdString();
        client.connect(tcp, "tcp-test");
        QCOMPARE(client.request({{"type", "get_status"}}).type(), std::string("status"));
        QVERIFY_THROWS_EXCEPTION(ConfigError, protocol::Endpoint::parse("tcp://10.0.0.5:7878")); // loopback only
    }

    void shutdownRequestStopsTheWorkerAndFreesTheSocket() {
        QVERIFY(worker_->start({"--paused"}));
        {
            protocol::WorkerClient client;
            client.connect(worker_->endpoint(), "test");
            client.request({{"type", "shutdown"}});
        }
        QVERIFY(worker_->process().waitForFinished(15000));
        QCOMPARE(worker_->process().exitCode(), 0);
        QVERIFY(!QFileInfo::exists(worker_->socketPath()));
        QVERIFY(worker_->start({"--paused"})); // and a new one can take over
    }

private:
    QTemporaryDir dir_;
    int testIndex_ = 0; // a short folder per test: socket paths are limited to 107 bytes
    std::unique_ptr<WorkerProcess> worker_;
};

QTEST_GUILESS_MAIN(TestWorker)
#include "test_worker.moc"
