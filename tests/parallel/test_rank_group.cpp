// Real rank processes through the launcher (parallel/launcher.h) on the CPU transport: the collectives self-test at
// worlds 2, 3, 4; golden DiT and pipeline cases sharded over processes; a rank killed with SIGKILL and a rank stopped with SIGSTOP
// are reported (which rank, why) within the timeout and every other rank is gone afterwards (kill(pid, 0) fails),
// after which a new group starts cleanly; a failing rank's exit code and last words reach the reason; the CLI refuses
// degrees that do not fit the heads.
#include "core/util/error.h"
#include "parallel/launcher.h"
#include "parallel/verify_parallel.h"

#include <QtTest/QtTest>

#include <atomic>
#include <csignal>
#include <sys/types.h>

using namespace ditstudio;
using namespace ditstudio::parallel;
using namespace std::chrono_literals;

namespace {

const std::string kRankExe = std::string(DITSTUDIO_BINARY_DIR) + "/app/rank/ditstudio-rank";

LaunchSpec selftestSpec(int world, double loopSeconds = 0) {
    LaunchSpec spec;
    spec.executable = kRankExe;
    spec.arguments = {"--selftest-collectives"};
    if (loopSeconds > 0) {
        spec.arguments.push_back("--loop-seconds");
        spec.arguments.push_back(std::to_string(loopSeconds));
    }
    spec.worldSize = world;
    spec.degrees.ring = world;
    spec.heartbeatInterval = 100ms;
    spec.heartbeatTimeout = 4000ms; // generous: a loaded 2-core CI machine starts 4 ranks
    spec.stopGrace = 1000ms;
    spec.environment["DITSTUDIO_COMM_TIMEOUT_S"] = "20";
    return spec;
}

bool processExists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// Starts a looping self-test and waits until every rank has joined the group.
void startLooping(RankGroup& group, LaunchSpec spec, std::atomic<int>& joined) {
    spec.onOutput = [&joined](int, const std::string& line) {
        if (line.find("joined") != std::string::npos) {
            ++joined;
        }
    };
    group.start(spec);
}

} // namespace

class RankGroupTest : public QObject {
    Q_OBJECT
private slots:
    void collectivesAcrossProcesses_data() {
        QTest::addColumn<int>("world");
        for (int n : {2, 3, 4}) {
            QTest::newRow(qPrintable(QString("world %1").arg(n))) << n;
        }
    }
    void collectivesAcrossProcesses() {
        QFETCH(int, world);
        RankGroup group;
        group.start(selftestSpec(world));
        const auto outcome = group.waitForExit(60s);
        QVERIFY2(outcome == RankGroup::Outcome::Succeeded, group.failureReason().c_str());
    }

    void goldenDiTOnRankProcesses_data() {
        QTest::addColumn<QString>("caseName");
        QTest::addColumn<int>("ulysses");
        QTest::addColumn<int>("ring");
        QTest::addColumn<int>("cfg");
        QTest::newRow("dit_b ulysses 2 ring 2 (75 tokens, padded)") << "dit_b" << 2 << 2 << 1;
        QTest::newRow("dit_a cfg-parallel ring 2") << "dit_a" << 1 << 2 << 2;
        QTest::newRow("pipeline_tiny cfg-parallel ulysses 2") << "pipeline_tiny" << 2 << 1 << 2;
    }
    void goldenDiTOnRankProcesses() {
        QFETCH(QString, caseName);
        QFETCH(int, ulysses);
        QFETCH(int, ring);
        QFETCH(int, cfg);
        ParallelVerifyOptions options;
        options.degrees = ParallelDegrees{ulysses, ring, cfg};
        options.rankExecutable = kRankExe;
        options.timeout = 120s;
        const auto result = runDitCaseOnRanks(DITSTUDIO_GOLDEN_DIR, caseName.toStdString(), options);
        const std::string line = verify::formatResult(result) + " " + result.reason;
        QVERIFY2(result.status == verify::Status::Pass, line.c_str());
        bool comparedWithOneRank = false;
        for (const auto& c : result.checks) {
            comparedWithOneRank = comparedWithOneRank || c.name == "output vs 1 rank";
        }
        QVERIFY2(comparedWithOneRank == caseName.startsWith("dit") && result.checks.size() >= 4, line.c_str());
    }

    void killedRankIsReportedAndTheGroupTornDown() {
        std::vector<pid_t> pids;
        {
            RankGroup group;
            std::atomic<int> joined{0};
            startLooping(group, selftestSpec(3, 60), joined);
            QTRY_VERIFY_WITH_TIMEOUT(joined == 3, 30000);
            pids = group.pids();
            ::kill(pids[1], SIGKILL);
            const auto started = std::chrono::steady_clock::now();
            QCOMPARE(group.waitForExit(10s), RankGroup::Outcome::Failed);
            QVERIFY(std::chrono::steady_clock::now() - started < 5s);
            const QString reason = QString::fromStdString(group.failureReason());
            QVERIFY2(reason.contains(QString("rank 1 (pid %1) was killed by signal 9").arg(pids[1])),
                     qPrintable(reason));
            for (pid_t pid : pids) {
                QVERIFY2(!processExists(pid), qPrintable(QString("pid %1 is still there").arg(pid)));
            }
        }
        // A new group starts cleanly after the failure.
        RankGroup again;
        again.start(selftestSpec(3));
        QVERIFY2(again.waitForExit(60s) == RankGroup::Outcome::Succeeded, again.failureReason().c_str());
    }

    void stoppedRankIsReportedAsHung() {
        RankGroup group;
        std::atomic<int> joined{0};
        startLooping(group, selftestSpec(2, 60), joined);
        QTRY_VERIFY_WITH_TIMEOUT(joined == 2, 30000);
        const auto pids = group.pids();
        ::kill(pids[1], SIGSTOP);
        const auto started = std::chrono::steady_clock::now();
        QCOMPARE(group.waitForExit(10s), RankGroup::Outcome::Failed);
        QVERIFY(std::chrono::steady_clock::now() - started < 8s); // heartbeat timeout 4 s + teardown
        const QString reason = QString::fromStdString(group.failureReason());
        QVERIFY2(reason.contains(QString("rank 1 (pid %1) sent no heartbeat").arg(pids[1])) &&
                     reason.contains("hung or stopped"),
                 qPrintable(reason));
        for (pid_t pid : pids) {
            QVERIFY2(!processExists(pid), qPrintable(QString("pid %1 is still there").arg(pid)));
        }
    }

    void failingRankReportsItsExitCodeAndLastWords() {
        LaunchSpec spec = selftestSpec(2);
        spec.arguments = {"--verify-dit", "/nonexistent/golden", "dit_a"};
        RankGroup group;
        group.start(spec);
        QCOMPARE(group.waitForExit(60s), RankGroup::Outcome::Failed);
        const QString reason = QString::fromStdString(group.failureReason());
        QVERIFY2(reason.contains("exited with code 1") && reason.contains("/nonexistent/golden"), qPrintable(reason));
    }

    void stopEndsARunningGroup() {
        RankGroup group;
        std::atomic<int> joined{0};
        startLooping(group, selftestSpec(2, 60), joined);
        QTRY_VERIFY_WITH_TIMEOUT(joined == 2, 30000);
        QVERIFY(group.isAlive());
        group.stop();
        QCOMPARE(group.waitForExit(1s), RankGroup::Outcome::Stopped);
        for (pid_t pid : group.pids()) {
            QVERIFY(!processExists(pid));
        }
    }

    void badSpecsAreRefusedBeforeAnythingStarts() {
        LaunchSpec spec = selftestSpec(2);
        spec.degrees = ParallelDegrees{1, 3, 1};
        RankGroup group;
        try {
            group.start(spec);
            QFAIL("a ring of 3 on 2 ranks was accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("= 3 does not match the 2 rank(s)"), e.what());
        }
        LaunchSpec missing = selftestSpec(1);
        missing.executable = "/nonexistent/ditstudio-rank";
        RankGroup other;
        QVERIFY_THROWS_EXCEPTION(ConfigError, other.start(missing));
    }

    void cliRefusesUlyssesThatDoesNotDivideTheHeads() {
        QProcess cli;
        cli.start(QString(DITSTUDIO_BINARY_DIR) + "/app/cli/ditstudio-cli",
                  {"verify", DITSTUDIO_GOLDEN_DIR, "dit_a", "--ulysses", "3"});
        QVERIFY(cli.waitForFinished(60000));
        const QString err = QString::fromUtf8(cli.readAllStandardError());
        QCOMPARE(cli.exitCode(), 2);
        QVERIFY2(err.contains("Ulysses degree 3 must divide the model's 2 attention heads"), qPrintable(err));
    }
};

QTEST_GUILESS_MAIN(RankGroupTest)
#include "test_rank_group.moc"
