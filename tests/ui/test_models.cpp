// The studio's table models (JobQueueModel, HistoryModel + HistoryFilterModel, PresetModel, GpuModel), each wrapped
// in QAbstractItemModelTester while it is changed the way the worker's events change it.
#include "ui/models/gpu_model.h"
#include "ui/models/history_model.h"
#include "ui/models/job_queue_model.h"
#include "ui/models/preset_model.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace ditstudio;
using namespace ditstudio::ui;

namespace {

JobSummary job(quint64 id, int position, JobState state = JobState::Queued, const QString& prompt = {}) {
    JobSummary j;
    j.id = id;
    j.position = position;
    j.state = state;
    j.prompt = prompt.isEmpty() ? QString("prompt %1").arg(id) : prompt;
    return j;
}

HistoryEntry entry(quint64 id, const QString& prompt, int minutesAgo) {
    HistoryEntry e;
    e.job = id;
    e.prompt = prompt;
    e.created = QDateTime::currentDateTime().addSecs(-60 * minutesAgo);
    e.outputPath = QString("/tmp/out_%1.mp4").arg(id);
    e.settings = QJsonObject{{"prompt", prompt}, {"width", 832}, {"height", 480}, {"num_frames", 81}};
    e.seed = static_cast<qint64>(id) * 10;
    e.status = "finished";
    return e;
}

void writeFile(const QString& path, const std::string& text) {
    std::ofstream(path.toStdString()) << text;
}

} // namespace

class ModelsTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void jobQueueKeepsRunningJobFirstAndQueuedJobsInPositionOrder() {
        JobQueueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.upsertJob(job(1, 0));
        model.upsertJob(job(2, 1));
        model.upsertJob(job(3, 2));
        QCOMPARE(model.rowCount(), 3);
        model.setJobState(2, JobState::Running);
        QCOMPARE(model.jobAt(0), quint64(2));
        QCOMPARE(model.index(0, JobQueueModel::StateColumn).data().toString(), QString("Running"));
        QCOMPARE(model.jobAt(1), quint64(1));
        QCOMPARE(model.index(1, JobQueueModel::PositionColumn).data().toString(), QString("1"));
        QCOMPARE(model.index(2, JobQueueModel::PositionColumn).data().toString(), QString("2"));
    }

    void jobQueueListReplyReplacesRowsAndKeepsRunningProgress() {
        JobQueueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.upsertJob(job(7, 0));
        model.setProgress({7, 3, 10, 1.5, 4.0, 2.0});
        QVERIFY(model.summaryAt(0).state == JobState::Running); // a step before "started" still means running
        model.setJobs({job(9, 1), job(7, 0, JobState::Running), job(8, 0)});
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.jobAt(0), quint64(7));
        QCOMPARE(model.index(0, JobQueueModel::ProgressColumn).data(JobQueueModel::ProgressPercentRole).toInt(), 30);
        QCOMPARE(model.jobAt(1), quint64(8));
        QCOMPARE(model.jobAt(2), quint64(9));
    }

    void movingAQueuedJobUpGivesItsNewQueuePosition() {
        JobQueueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setJobs({job(1, 0, JobState::Running), job(2, 0), job(3, 1), job(4, 2)});
        QSignalSpy moved(&model, &QAbstractItemModel::rowsMoved);
        QVERIFY(model.moveRow({}, 3, {}, 2)); // job 4 in front of job 3
        QCOMPARE(moved.count(), 1);
        QCOMPARE(model.jobAt(2), quint64(4));
        QCOMPARE(model.queuePositionOfRow(2), 1);
        QCOMPARE(model.summaryAt(2).position, 1);
        QCOMPARE(model.summaryAt(3).position, 2);
    }

    void runningAndFinishedJobsDoNotMove_data() {
        QTest::addColumn<int>("sourceRow");
        QTest::addColumn<int>("destination");
        QTest::newRow("running job down") << 0 << 2;
        QTest::newRow("queued job above the running one") << 1 << 0;
        QTest::newRow("finished job up") << 3 << 1;
        QTest::newRow("onto itself") << 1 << 1;
    }
    void runningAndFinishedJobsDoNotMove() {
        QFETCH(int, sourceRow);
        QFETCH(int, destination);
        JobQueueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setJobs({job(1, 0, JobState::Running), job(2, 0), job(3, 1)});
        model.upsertJob(job(4, 9));
        model.setJobState(4, JobState::Finished);
        QVERIFY(!model.moveRow({}, sourceRow, {}, destination));
        QCOMPARE(model.jobAt(0), quint64(1));
    }

    void clearingDoneJobsKeepsActiveOnes() {
        JobQueueModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setJobs({job(1, 0, JobState::Running), job(2, 0), job(3, 1)});
        model.setJobState(1, JobState::Finished);
        model.setJobState(3, JobState::Cancelled);
        model.removeDoneJobs();
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.jobAt(0), quint64(2));
    }

    void historyListsNewestFirstAndReplacesAFinishedJob() {
        HistoryModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setEntries({entry(1, "old fox", 30), entry(2, "new cat", 1), entry(3, "middle owl", 10)});
        QCOMPARE(model.entryAt(0).job, quint64(2));
        QCOMPARE(model.entryAt(2).job, quint64(1));
        QCOMPARE(model.index(0, HistoryModel::SizeColumn).data().toString(), QString::fromUtf8("832×480, 81 f"));
        model.addEntry(entry(4, "newest", 0));
        QCOMPARE(model.entryAt(0).job, quint64(4));
        HistoryEntry updated = entry(3, "middle owl, updated", 10);
        model.addEntry(updated);
        QCOMPARE(model.rowCount(), 4);
        QCOMPARE(model.entryAt(model.rowOfJob(3)).prompt, QString("middle owl, updated"));
        QVERIFY(model.removeJob(1));
        QVERIFY(!model.removeJob(1));
        QCOMPARE(model.rowCount(), 3);
    }

    void historySearchMatchesEveryWordOfThePrompt_data() {
        QTest::addColumn<QString>("search");
        QTest::addColumn<int>("matches");
        QTest::newRow("empty shows all") << "" << 3;
        QTest::newRow("one word") << "fox" << 2;
        QTest::newRow("case-insensitive") << "FOX" << 2;
        QTest::newRow("all words must occur") << "fox snow" << 1;
        QTest::newRow("no match") << "whale" << 0;
        QTest::newRow("extra spaces") << "  red   fox " << 1;
    }
    void historySearchMatchesEveryWordOfThePrompt() {
        QFETCH(QString, search);
        QFETCH(int, matches);
        HistoryModel model;
        HistoryFilterModel filter;
        filter.setSourceModel(&model);
        QAbstractItemModelTester tester(&filter, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setEntries({entry(1, "A red fox in a forest", 3), entry(2, "a white fox running through snow", 2),
                          entry(3, "a cat on a sofa", 1)});
        filter.setSearchText(search);
        QCOMPARE(filter.rowCount(), matches);
    }

    void presetsListBuiltinsThenUserPresetsAndEditUserOnes() {
        QTemporaryDir builtin, user;
        writeFile(builtin.filePath("base.yaml"), "schema_version: 1\nname: base\ndescription: Built-in base\nsteps: 20\n");
        PresetModel model(PresetStore(builtin.path().toStdString(), user.path().toStdString()));
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy changed(&model, &PresetModel::presetsChanged);
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.index(0, PresetModel::SourceColumn).data().toString(), QString("Built-in"));
        QCOMPARE(model.index(0, PresetModel::DescriptionColumn).data().toString(), QString("Built-in base"));

        GenerationSettings settings;
        settings.prompt = "a lighthouse at dusk";
        settings.steps = 12;
        QCOMPARE(model.create("mine", settings), QString());
        QCOMPARE(model.duplicate("base", "base-copy"), QString());
        QCOMPARE(model.rename("mine", "lighthouse"), QString());
        QCOMPARE(model.rowCount(), 3);
        QVERIFY(model.rowOfPreset("mine") < 0);
        const auto loaded = model.load("lighthouse");
        QVERIFY(loaded.has_value());
        QCOMPARE(loaded->steps, int64_t(12));
        QCOMPARE(QString::fromStdString(loaded->prompt), QString("a lighthouse at dusk"));
        QCOMPARE(model.remove("base-copy"), QString());
        QCOMPARE(model.rowCount(), 2);
        QVERIFY(changed.count() >= 4);
    }

    void builtinPresetsCannotBeRenamedOrDeleted() {
        QTemporaryDir builtin, user;
        writeFile(builtin.filePath("base.yaml"), "schema_version: 1\nsteps: 20\n");
        PresetModel model(PresetStore(builtin.path().toStdString(), user.path().toStdString()));
        QVERIFY(!model.rename("base", "other").isEmpty());
        QVERIFY(!model.remove("base").isEmpty());
        QCOMPARE(model.rowCount(), 1);
    }

    void importingAnInvalidPresetNamesItsLineAndImportsNothing_data() {
        QTest::addColumn<QString>("yaml");
        QTest::addColumn<QString>("location");
        QTest::addColumn<QString>("key");
        QTest::newRow("width not a multiple of 16") << "schema_version: 1\nsteps: 20\nwidth: 830\n" << ":3:" << "width";
        QTest::newRow("steps not a number") << "schema_version: 1\nsteps: many\n" << ":2:" << "steps";
        QTest::newRow("unknown key") << "schema_version: 1\nprompt: a cat\nstpes: 20\n" << ":3:" << "stpes";
    }
    void importingAnInvalidPresetNamesItsLineAndImportsNothing() {
        QFETCH(QString, yaml);
        QFETCH(QString, location);
        QFETCH(QString, key);
        QTemporaryDir builtin, user, source;
        PresetModel model(PresetStore(builtin.path().toStdString(), user.path().toStdString()));
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        const QString path = source.filePath("broken.yaml");
        writeFile(path, yaml.toStdString());
        QString imported;
        const QString error = model.importFile(path, &imported);
        QVERIFY2(error.contains("broken.yaml" + location), qPrintable(error));
        QVERIFY2(error.contains(key), qPrintable(error));
        QVERIFY(imported.isEmpty());
        QCOMPARE(model.rowCount(), 0);
    }

    void anInvalidUserPresetIsListedWithItsError() {
        QTemporaryDir builtin, user;
        writeFile(user.filePath("bad.yaml"), "schema_version: 1\nnum_frames: 80\n");
        PresetModel model(PresetStore(builtin.path().toStdString(), user.path().toStdString()));
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.rowCount(), 1);
        const QString error = model.index(0, 0).data(PresetModel::ErrorRole).toString();
        QVERIFY2(error.contains("bad.yaml:2:") && error.contains("num_frames"), qPrintable(error));
        QVERIFY(model.index(0, PresetModel::DescriptionColumn).data().toString().startsWith("Invalid"));
        QString loadError;
        QVERIFY(!model.load("bad", &loadError).has_value());
        QVERIFY(loadError.contains("num_frames"));
    }

    void exportWritesAPresetThatLoadsBack() {
        QTemporaryDir builtin, user, out;
        writeFile(builtin.filePath("base.yaml"), "schema_version: 1\nsteps: 33\n");
        PresetModel model(PresetStore(builtin.path().toStdString(), user.path().toStdString()));
        const QString path = out.filePath("exported.yaml");
        QCOMPARE(model.exportTo("base", path), QString());
        QCOMPARE(loadPresetFile(path.toStdString()).steps, int64_t(33));
        QVERIFY(!model.exportTo("missing", out.filePath("x.yaml")).isEmpty());
    }

    void gpuChoiceSurvivesAStatusUpdate() {
        GpuModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy chosen(&model, &GpuModel::chosenChanged);
        GpuInfo a{0, "H100", 80LL << 30, 1LL << 30, 50, 0};
        GpuInfo b{1, "H100", 80LL << 30, 0, 0, -1};
        model.setGpus({a, b});
        QCOMPARE(model.chosenIndices(), (QVector<int>{0, 1}));
        QVERIFY(model.setData(model.index(1, GpuModel::IndexColumn), Qt::Unchecked, Qt::CheckStateRole));
        QCOMPARE(model.chosenIndices(), (QVector<int>{0}));
        a.memoryUsedBytes = 2LL << 30;
        model.setGpus({a, b});
        QCOMPARE(model.chosenIndices(), (QVector<int>{0}));
        QCOMPARE(model.index(0, GpuModel::MemoryColumn).data().toString(), QString("2.0 GiB / 80.0 GiB"));
        QVERIFY(chosen.count() >= 2);
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    ModelsTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_models.moc"
