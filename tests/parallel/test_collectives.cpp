// The collectives of the CPU transport, in one process (a thread per rank): every collective against its closed form
// at worlds 1..4 (parallel/selftest.cpp: all-reduce → n(n−1)/2, every root of broadcast and point-to-point, ...),
// and the failures that must be clear: uneven all-to-all, mismatched message sizes, a peer that went away, a timeout.
#include "parallel/selftest.h"
#include "world_threads.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

using namespace ditstudio::parallel;
using ditstudio::parallel::testing::runWorld;

class CollectivesTest : public QObject {
    Q_OBJECT
private slots:
    void everyCollectiveMatchesItsClosedForm_data() {
        QTest::addColumn<int>("world");
        for (int n : {1, 2, 3, 4}) {
            QTest::newRow(qPrintable(QString("world %1").arg(n))) << n;
        }
    }
    void everyCollectiveMatchesItsClosedForm() {
        QFETCH(int, world);
        std::mutex mutex;
        std::vector<std::string> failures;
        const std::string error = runWorld(world, [&](Communicator& comm) {
            QCOMPARE(comm.size(), world);
            auto mine = runCollectiveSelfTest(comm);
            std::lock_guard lock(mutex);
            failures.insert(failures.end(), mine.begin(), mine.end());
        });
        QVERIFY2(error.empty(), error.c_str());
        QVERIFY2(failures.empty(), failures.empty() ? "" : failures.front().c_str());
    }
    void worldOfOneIsTheIdentity() {
        LocalCommunicator local;
        const auto failures = runCollectiveSelfTest(local);
        QVERIFY2(failures.empty(), failures.empty() ? "" : failures.front().c_str());
    }
    void unevenAllToAllIsRefusedWithTheNumbers() {
        const std::string error = runWorld(2, [](Communicator& comm) { comm.allToAll(at::zeros({3, 4})); });
        QVERIFY2(error.find("dim 0 of the input [3, 4] must split equally over the 2 ranks") != std::string::npos,
                 error.c_str());
    }
    void mismatchedMessageSizeIsReportedNotCopied() {
        const std::string error = runWorld(2, [](Communicator& comm) {
            if (comm.rank() == 0) {
                comm.isend(at::ones({4}), 1)->wait();
            } else {
                at::Tensor got = at::zeros({8});
                comm.irecv(got, 0)->wait();
            }
        });
        QVERIFY2(error.find("received a message of 16 bytes, expected 32") != std::string::npos, error.c_str());
    }
    void peerThatLeftFailsThePendingReceive() {
        const std::string error = runWorld(2, [](Communicator& comm) {
            if (comm.rank() == 1) {
                at::Tensor got = at::zeros({8});
                comm.irecv(got, 0)->wait(); // rank 0 returns without sending: its sockets close
            }
        });
        QVERIFY2(error.find("rank 1") != std::string::npos && error.find("from rank 0") != std::string::npos &&
                     error.find("closed") != std::string::npos,
                 error.c_str());
    }
    void silentPeerTimesOutNamingIt() {
        std::atomic<bool> done{false};
        const std::string error = runWorld(
            2,
            [&](Communicator& comm) {
                if (comm.rank() == 0) {
                    at::Tensor got = at::zeros({2});
                    try {
                        comm.irecv(got, 1)->wait();
                    } catch (...) {
                        done = true;
                        throw;
                    }
                } else {
                    while (!done) { // alive but silent until rank 0 gave up
                        std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    }
                }
            },
            std::chrono::milliseconds(300));
        QVERIFY2(error.find("irecv [2] on rank 0 from rank 1") != std::string::npos &&
                     error.find("no progress within 0.3 s") != std::string::npos,
                 error.c_str());
    }
};

QTEST_APPLESS_MAIN(CollectivesTest)
#include "test_collectives.moc"
