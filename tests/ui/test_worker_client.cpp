// The WorkerClient wrapper against a worker double: requests run off the GUI thread, events raised on another thread
// arrive on the GUI thread as typed signals, payloads decode to images, failures come back as requestFailed.
#include "fake_worker_backend.h"
#include "ui/client/worker_client.h"
#include "ui/widgets/live_view.h"

#include <QApplication>
#include <QSignalSpy>
#include <QThread>
#include <QtTest>

using namespace ditstudio;
using namespace ditstudio::ui;
using ditstudio::ui::testing::FakeWorkerBackend;
using ditstudio::ui::testing::rgbPayload;

class WorkerClientTest : public QObject {
    Q_OBJECT

    FakeWorkerBackend* fake_ = nullptr;
    std::unique_ptr<WorkerClient> client_;

private Q_SLOTS:
    void init() {
        auto backend = std::make_unique<FakeWorkerBackend>();
        fake_ = backend.get();
        client_ = std::make_unique<WorkerClient>(std::move(backend));
    }
    void cleanup() { client_.reset(); }

    void connectingSubscribesToEveryJobAndAsksForStatusAndQueue() {
        QSignalSpy state(client_.get(), &WorkerClient::stateChanged);
        QSignalSpy status(client_.get(), &WorkerClient::statusReceived);
        QSignalSpy queue(client_.get(), &WorkerClient::queueListed);
        fake_->gpus = {{{"index", 0}, {"name", "NVIDIA H100 80GB HBM3"}, {"memory_total_mib", 81559},
                        {"memory_used_mib", 1024}, {"utilization_percent", 97}}};
        client_->connectToWorker();
        QVERIFY(client_->state() == WorkerClient::State::Connecting);
        QTRY_COMPARE(client_->state(), WorkerClient::State::Connected);
        QTRY_COMPARE(status.count(), 1);
        QTRY_COMPARE(queue.count(), 1);
        const auto subscribe = fake_->requestsOfType("subscribe");
        QCOMPARE(subscribe.size(), size_t(1));
        QVERIFY(!subscribe[0].contains("job"));
        QCOMPARE(subscribe[0]["previews"].get<bool>(), true);
        QCOMPARE(subscribe[0]["frames"].get<bool>(), true);
        const auto s = status.at(0).at(0).value<WorkerStatus>();
        QCOMPARE(s.worker, QString("0.1.0-test"));
        QCOMPARE(s.gpus.size(), 1);
        QCOMPARE(s.gpus[0].memoryTotalBytes, 81559LL * 1024 * 1024);
        QCOMPARE(s.gpus[0].utilizationPercent, 97.0);
        QVERIFY(client_->stateText().contains("pid 4242"));
    }

    void aRefusedConnectionIsReportedNotThrown() {
        fake_->isRefusingConnect = true;
        QSignalSpy failed(client_.get(), &WorkerClient::requestFailed);
        client_->connectToWorker();
        QTRY_COMPARE(failed.count(), 1);
        QCOMPARE(failed.at(0).at(0).toString(), QString("connect"));
        QVERIFY(failed.at(0).at(2).toString().contains("no worker is listening"));
        QVERIFY(client_->state() == WorkerClient::State::Disconnected);
        QVERIFY(client_->waitForIdle(5000));
        QCOMPARE(fake_->requestsOfType("subscribe").size(), size_t(0)); // nothing sent without a connection
    }

    void submitSendsTheSettingsAndReportsTheJob() {
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy submitted(client_.get(), &WorkerClient::jobSubmitted);
        GenerationSettings settings;
        settings.prompt = "a red fox";
        settings.steps = 7;
        client_->submit(settings, "/models/wan", 1);
        QTRY_COMPARE(submitted.count(), 1);
        QCOMPARE(submitted.at(0).at(0).value<quint64>(), quint64(1));
        const auto submits = fake_->requestsOfType("submit");
        QCOMPARE(submits.size(), size_t(1));
        QCOMPARE(submits[0]["model"].get<std::string>(), std::string("/models/wan"));
        QCOMPARE(submits[0]["priority"].get<int>(), 1);
        QVERIFY(GenerationSettings::fromJson(submits[0]["settings"]) == settings);
    }

    void aRefusedRequestCarriesTheWorkersCodeAndMessage() {
        fake_->replier = [](const nlohmann::json& request) -> std::optional<protocol::Message> {
            if (request["type"] == "submit") {
                return protocol::Message(nlohmann::json{{"type", "error"}, {"code", "invalid_settings"},
                                          {"message", "steps: expected an integer in 1..1000, got 0"}});
            }
            return std::nullopt;
        };
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy failed(client_.get(), &WorkerClient::requestFailed);
        client_->submit(GenerationSettings{}, "/models/wan", 0);
        QTRY_COMPARE(failed.count(), 1);
        QCOMPARE(failed.at(0).at(0).toString(), QString("submit"));
        QCOMPARE(failed.at(0).at(1).toString(), QString("invalid_settings"));
        QVERIFY(failed.at(0).at(2).toString().contains("steps"));
    }

    void eventsFromTheReaderThreadArriveOnTheGuiThread() {
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        QThread* emittedOn = nullptr;
        JobProgress received;
        connect(client_.get(), &WorkerClient::progress, this, [&](const JobProgress& p) {
            emittedOn = QThread::currentThread();
            received = p;
        });
        fake_->emitEvent({{"type", "step"}, {"job", 3}, {"step", 12}, {"total", 30}, {"it_per_s", 0.49},
                          {"eta_s", 36.7}, {"elapsed_s", 28.9}});
        QCOMPARE(emittedOn, nullptr); // queued: nothing ran on the emitting thread
        QTRY_VERIFY(emittedOn != nullptr);
        QCOMPARE(emittedOn, QThread::currentThread());
        QCOMPARE(received.job, quint64(3));
        QCOMPARE(received.step, 12);
        QCOMPARE(received.total, 30);
        QCOMPARE(received.itPerSecond, 0.49);
    }

    void everyEventTypeBecomesItsSignal() {
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy queued(client_.get(), &WorkerClient::jobQueued);
        QSignalSpy started(client_.get(), &WorkerClient::jobStarted);
        QSignalSpy stage(client_.get(), &WorkerClient::stageChanged);
        QSignalSpy finished(client_.get(), &WorkerClient::jobFinished);
        QSignalSpy failed(client_.get(), &WorkerClient::jobFailed);
        QSignalSpy cancelled(client_.get(), &WorkerClient::jobCancelled);
        QSignalSpy log(client_.get(), &WorkerClient::logMessage);
        QSignalSpy queueChanged(client_.get(), &WorkerClient::queueChanged);
        fake_->emitEvent({{"type", "queued"}, {"job", 5}, {"position", 2}, {"priority", 0}, {"prompt", "a cat"},
                          {"model", "/m"}});
        fake_->emitEvent({{"type", "started"}, {"job", 5}});
        fake_->emitEvent({{"type", "stage"}, {"job", 5}, {"stage", "denoise"}, {"elapsed_s", 4.4}});
        fake_->emitEvent({{"type", "finished"}, {"job", 5}, {"seed", 42},
                          {"outputs", {{"video", "/out/a.mp4"}}}, {"timings", {{"denoise", 61.0}}}});
        fake_->emitEvent({{"type", "failed"}, {"job", 6}, {"stage", "denoise"}, {"reason", "rank 1 died"}});
        fake_->emitEvent({{"type", "cancelled"}, {"job", 7}});
        fake_->emitEvent({{"type", "log"}, {"level", "warn"}, {"message", "slow disk"}, {"time", 1.0}});
        fake_->emitEvent({{"type", "queue_changed"}});
        QTRY_COMPARE(queueChanged.count(), 1); // the last one: every earlier event has been delivered
        QCOMPARE(queued.count(), 1);
        const auto summary = queued.at(0).at(0).value<JobSummary>();
        QCOMPARE(summary.id, quint64(5));
        QCOMPARE(summary.position, 2);
        QCOMPARE(summary.prompt, QString("a cat"));
        QCOMPARE(started.count(), 1);
        QCOMPARE(stage.at(0).at(1).toString(), QString("denoise"));
        QCOMPARE(finished.at(0).at(1).toJsonObject().value("video").toString(), QString("/out/a.mp4"));
        QCOMPARE(finished.at(0).at(3).value<qint64>(), qint64(42));
        QCOMPARE(failed.at(0).at(1).toString(), QString("rank 1 died"));
        QCOMPARE(cancelled.at(0).at(0).value<quint64>(), quint64(7));
        QCOMPARE(log.at(0).at(1).toString(), QString("slow disk"));
    }

    void previewAndFramePayloadsDecodeToImages() {
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy preview(client_.get(), &WorkerClient::previewFrame);
        QSignalSpy frames(client_.get(), &WorkerClient::framesDecoded);
        fake_->emitEvent({{"type", "preview"}, {"job", 1}, {"step", 3}, {"frames", 2}, {"height", 3}, {"width", 4},
                          {"format", "rgb8"}},
                         rgbPayload(2, 3, 4, 10, 20, 30));
        fake_->emitEvent({{"type", "frames"}, {"job", 1}, {"first_frame", 4}, {"count", 3}, {"height", 8},
                          {"width", 6}, {"format", "rgb8"}},
                         rgbPayload(3, 8, 6, 100, 0, 200));
        QTRY_COMPARE(frames.count(), 1);
        QCOMPARE(preview.count(), 1);
        const auto previewImages = preview.at(0).at(2).value<QVector<QImage>>();
        QCOMPARE(previewImages.size(), 2);
        QCOMPARE(previewImages[1].size(), QSize(4, 3));
        QCOMPARE(previewImages[1].pixelColor(3, 2), QColor(11, 20, 30));
        QCOMPARE(frames.at(0).at(1).toInt(), 4);
        const auto decoded = frames.at(0).at(2).value<QVector<QImage>>();
        QCOMPARE(decoded.size(), 3);
        QCOMPARE(decoded[2].pixelColor(0, 0), QColor(102, 0, 200));
    }

    void aPayloadOfTheWrongSizeIsReportedAndDropped() {
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy preview(client_.get(), &WorkerClient::previewFrame);
        QSignalSpy failed(client_.get(), &WorkerClient::requestFailed);
        fake_->emitEvent({{"type", "preview"}, {"job", 1}, {"step", 3}, {"frames", 2}, {"height", 3}, {"width", 4},
                          {"format", "rgb8"}},
                         rgbPayload(1, 3, 4, 0, 0, 0));
        QTRY_COMPARE(failed.count(), 1);
        QCOMPARE(failed.at(0).at(1).toString(), QString("bad_payload"));
        QVERIFY2(failed.at(0).at(2).toString().contains("does not hold 2 frames of 4x3"),
                 qPrintable(failed.at(0).at(2).toString()));
        QCOMPARE(preview.count(), 0);
    }

    void aLostConnectionIsSignalledOnce() {
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy lost(client_.get(), &WorkerClient::disconnected);
        fake_->dropConnection("the worker closed the connection");
        QTRY_COMPARE(lost.count(), 1);
        QVERIFY(client_->state() == WorkerClient::State::Disconnected);
        QCOMPARE(lost.at(0).at(0).toString(), QString("the worker closed the connection"));
    }

    void liveViewFollowsTheClientsEvents() {
        client_->connectToWorker();
        QTRY_VERIFY(client_->isConnected());
        LiveView view;
        connect(client_.get(), &WorkerClient::stageChanged, &view, &LiveView::onStage);
        connect(client_.get(), &WorkerClient::progress, &view, &LiveView::onProgress);
        connect(client_.get(), &WorkerClient::previewFrame, &view, &LiveView::onPreview);
        connect(client_.get(), &WorkerClient::framesDecoded, &view, &LiveView::onFrames);
        connect(client_.get(), &WorkerClient::jobFinished, &view,
                [&view](quint64 job, const QJsonObject&, const QJsonObject& timings, qint64) {
                    view.onFinished(job, timings);
                });
        view.watchJob(9, "a fox");
        fake_->emitEvent({{"type", "stage"}, {"job", 9}, {"stage", "load"}, {"elapsed_s", 0.0}});
        fake_->emitEvent({{"type", "stage"}, {"job", 9}, {"stage", "denoise"}, {"elapsed_s", 2.0}});
        for (int step = 1; step <= 4; ++step) {
            fake_->emitEvent({{"type", "step"}, {"job", 9}, {"step", step}, {"total", 4}, {"it_per_s", 2.0},
                              {"eta_s", (4 - step) * 0.5}, {"elapsed_s", step * 0.5}});
            fake_->emitEvent({{"type", "preview"}, {"job", 9}, {"step", step}, {"frames", 1}, {"height", 2},
                              {"width", 2}, {"format", "rgb8"}},
                             rgbPayload(1, 2, 2, static_cast<uint8_t>(step), 0, 0));
            fake_->emitEvent({{"type", "preview"}, {"job", 8}, {"step", step}, {"frames", 1}, {"height", 2},
                              {"width", 2}, {"format", "rgb8"}},
                             rgbPayload(1, 2, 2, 0, 0, 0)); // another job's: ignored
        }
        QTRY_COMPARE(view.previewCount(), 4);
        QCOMPARE(view.progressPercent(), 100);
        QVERIFY2(view.progressText().contains("Step 4/4"), qPrintable(view.progressText()));
        QVERIFY2(view.progressText().contains("2.00 it/s"), qPrintable(view.progressText()));
        QCOMPARE(view.shownImage().pixelColor(0, 0), QColor(4, 0, 0));
        fake_->emitEvent({{"type", "frames"}, {"job", 9}, {"first_frame", 0}, {"count", 2}, {"height", 16},
                          {"width", 16}, {"format", "rgb8"}},
                         rgbPayload(2, 16, 16, 50, 60, 70));
        QTRY_COMPARE(view.decodedFrameCount(), 2);
        QCOMPARE(view.shownImage().size(), QSize(16, 16));
        fake_->emitEvent({{"type", "finished"}, {"job", 9}, {"seed", 1}, {"outputs", {{"video", "/o.mp4"}}},
                          {"timings", {{"load", 2.0}, {"denoise", 2.0}, {"decode", 0.5}}}});
        QTRY_VERIFY(view.progressText().startsWith("Done"));
        QVERIFY2(view.stageText().contains("denoise 2.00 s"), qPrintable(view.stageText()));
        QVERIFY2(view.stageText().contains("decode 0.50 s"), qPrintable(view.stageText()));
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    WorkerClientTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_worker_client.moc"
