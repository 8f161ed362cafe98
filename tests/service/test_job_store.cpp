// The persistent job queue and history: run order by priority and position, reorder, the interrupted mark after
// a restart, and history queries by prompt text.
#include "service/job_store.h"

#include <QtTest/QtTest>

using namespace ditstudio::service;

namespace {

nlohmann::json settingsWithPrompt(const std::string& prompt, const std::string& negative = "") {
    return {{"prompt", prompt}, {"negative_prompt", negative}, {"seed", 1}};
}

std::vector<int64_t> pendingIds(const JobStore& store) {
    std::vector<int64_t> ids;
    for (const auto& job : store.pendingJobs()) {
        ids.push_back(job.id);
    }
    return ids;
}

} // namespace

class TestJobStore : public QObject {
    Q_OBJECT
private slots:
    void higherPriorityRunsFirstThenSubmissionOrder() {
        QTemporaryDir dir;
        JobStore store((dir.path() + "/q.sqlite3").toStdString());
        const int64_t a = store.addJob("/m", settingsWithPrompt("a"), 0);
        const int64_t b = store.addJob("/m", settingsWithPrompt("b"), 5);
        const int64_t c = store.addJob("/m", settingsWithPrompt("c"), 0);
        const int64_t d = store.addJob("/m", settingsWithPrompt("d"), 5);
        QCOMPARE(pendingIds(store), (std::vector<int64_t>{b, d, a, c}));
        QCOMPARE(store.positionOf(a).value(), int64_t(2));
        store.setPriority(c, 9);
        QCOMPARE(pendingIds(store), (std::vector<int64_t>{c, b, d, a}));
        auto next = store.takeNext();
        QCOMPARE(next->id, c);
        QCOMPARE(toString(next->state), toString(JobState::Running));
        QCOMPARE(toString(store.job(c)->state), toString(JobState::Running));
        QVERIFY(store.job(c)->startedAt > 0);
        QCOMPARE(pendingIds(store), (std::vector<int64_t>{b, d, a}));
        QVERIFY_THROWS_EXCEPTION(StoreError, store.setPriority(c, 1)); // running: not pending
    }

    void reorderMovesAcrossPriorities_data() {
        QTest::addColumn<int>("from");
        QTest::addColumn<int>("to");
        QTest::newRow("last to first") << 3 << 0;
        QTest::newRow("first to last") << 0 << 3;
        QTest::newRow("first to middle") << 0 << 2;
        QTest::newRow("past the end clamps") << 1 << 99;
    }
    void reorderMovesAcrossPriorities() {
        QFETCH(int, from);
        QFETCH(int, to);
        QTemporaryDir dir;
        JobStore store((dir.path() + "/q.sqlite3").toStdString());
        store.addJob("/m", settingsWithPrompt("p9"), 9);
        store.addJob("/m", settingsWithPrompt("p5"), 5);
        store.addJob("/m", settingsWithPrompt("p5b"), 5);
        store.addJob("/m", settingsWithPrompt("p0"), 0);
        std::vector<int64_t> expected = pendingIds(store);
        const int64_t moved = expected[static_cast<size_t>(from)];
        expected.erase(expected.begin() + from);
        expected.insert(expected.begin() + std::min<size_t>(static_cast<size_t>(to), expected.size()), moved);
        store.reorder(moved, to);
        QCOMPARE(pendingIds(store), expected);
        // A job submitted afterwards with the lowest priority still goes last.
        const int64_t late = store.addJob("/m", settingsWithPrompt("late"), 0);
        QCOMPARE(pendingIds(store).back(), late);
    }

    void runningJobIsMarkedInterruptedWhenTheStoreReopens() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/q.sqlite3").toStdString();
        int64_t running = 0, waiting = 0;
        {
            JobStore store(path);
            running = store.addJob("/m", settingsWithPrompt("r"), 0);
            waiting = store.addJob("/m", settingsWithPrompt("w"), 0);
            store.takeNext();
            QCOMPARE(store.interruptedAtOpen(), 0);
        }
        JobStore reopened(path);
        QCOMPARE(reopened.interruptedAtOpen(), 1);
        QCOMPARE(toString(reopened.job(running)->state), toString(JobState::Interrupted));
        QVERIFY(reopened.job(running)->error.find("worker stopped") != std::string::npos);
        QCOMPARE(pendingIds(reopened), (std::vector<int64_t>{waiting}));
        QCOMPARE(reopened.job(waiting)->settings["prompt"].get<std::string>(), std::string("w"));
    }

    void finishAndCancelOnlyFromTheRightState() {
        QTemporaryDir dir;
        JobStore store((dir.path() + "/q.sqlite3").toStdString());
        const int64_t a = store.addJob("/m", settingsWithPrompt("a"), 0);
        const int64_t b = store.addJob("/m", settingsWithPrompt("b"), 0);
        QVERIFY_THROWS_EXCEPTION(StoreError, store.finishJob(a, JobState::Finished)); // not running
        QVERIFY(store.cancelPending(b));
        QVERIFY(!store.cancelPending(b));
        QCOMPARE(toString(store.job(b)->state), toString(JobState::Cancelled));
        store.takeNext();
        QVERIFY(!store.cancelPending(a)); // running: the runner cancels it
        store.finishJob(a, JobState::Failed, "rank 1 died");
        QCOMPARE(store.job(a)->error, std::string("rank 1 died"));
        QVERIFY(!store.takeNext());
    }

    void historySearchesPromptsCaseInsensitively() {
        QTemporaryDir dir;
        JobStore store((dir.path() + "/q.sqlite3").toStdString());
        auto add = [&](int64_t job, const std::string& prompt, const std::string& negative, const std::string& png) {
            HistoryEntry e;
            e.jobId = job;
            e.prompt = prompt;
            e.negativePrompt = negative;
            e.model = "/models/wan";
            e.seed = 100 + job;
            e.settings = settingsWithPrompt(prompt, negative);
            e.timings = {{"denoise", 1.5}};
            e.outputs = {{"video", "/out/" + std::to_string(job) + ".mp4"}};
            e.thumbnailPng = png;
            return store.addHistory(e);
        };
        add(1, "A cat surfing a wave", "blurry", std::string("\x89PNG\0\1", 6));
        add(2, "a dog on the beach", "", "");
        add(3, "100% pure sunset", "cats", "");
        HistoryQuery query;
        query.search = "CAT";
        auto found = store.queryHistory(query);
        QCOMPARE(found.size(), size_t(2)); // prompt of 1, negative prompt of 3
        QCOMPARE(found[0].jobId, int64_t(3)); // newest first
        QVERIFY(found[1].thumbnailPng.empty()); // not asked for
        query.search = "%";
        found = store.queryHistory(query);
        QCOMPARE(found.size(), size_t(1)); // a literal percent sign, not a wildcard
        QCOMPARE(found[0].prompt, std::string("100% pure sunset"));
        HistoryQuery byJob;
        byJob.jobId = 1;
        byJob.withThumbnails = true;
        found = store.queryHistory(byJob);
        QCOMPARE(found.size(), size_t(1));
        QCOMPARE(found[0].thumbnailPng, std::string("\x89PNG\0\1", 6));
        QCOMPARE(found[0].seed, int64_t(101));
        QCOMPARE(found[0].timings["denoise"].get<double>(), 1.5);
        QCOMPARE(found[0].settings["prompt"].get<std::string>(), std::string("A cat surfing a wave"));
        HistoryQuery page;
        page.limit = 1;
        page.offset = 1;
        QCOMPARE(store.queryHistory(page).at(0).jobId, int64_t(2));
        // Deleting a job's entry removes it and only it; a job without one removes nothing.
        QCOMPARE(store.removeHistory(2), 1);
        QCOMPARE(store.removeHistory(2), 0);
        QCOMPARE(store.queryHistory(HistoryQuery{}).size(), size_t(2));
    }
};

QTEST_GUILESS_MAIN(TestJobStore)
#include "test_job_store.moc"
