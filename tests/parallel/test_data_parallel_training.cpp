// ditstudio-train --ranks 2 on the CPU, as a user runs it: the stages before the DiT in the launching process, then
// two rank processes (the CPU transport) that train the DiT data-parallel; the ranks end with the same weights, the
// leader alone writes the model, and the folder is complete. A rank killed mid-training fails the run with the
// rank named, leaves no DiT behind and keeps the dataset, and the same command afterwards completes. --profile:
// rank 0 alone writes the per-op profile of training steps. --prepare-only: the stages before the DiT alone, which
// the training run after it reads instead of building them again. scripts/train_demo_model.sh (the shipped model's
// recipe) end to end at a tiny size: a DiT trained, grown and found complete on a second run.
#include "core/io/safetensors.h"
#include "tests/process_children.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest/QtTest>

#include <cerrno>
#include <csignal>
#include <filesystem>

namespace fs = std::filesystem;

namespace {

const QString kTrainExe = QString(DITSTUDIO_BINARY_DIR) + "/app/train/ditstudio-train";

QStringList tinyRun(const QString& out, int ditSteps) {
    return {"--out", out, "--ranks", "2", "--frames", "5", "--size", "32", "--vae-steps", "2", "--vae-batch", "2",
            "--vae-crop-size", "16", "--vae-crop-frames", "5", "--clips", "16", "--dit-steps",
            QString::number(ditSteps), "--dit-batch", "2", "--dit-layers", "1", "--dit-dim", "64", "--dit-heads", "2",
            "--text-encoder-lr", "1e-3"};
}

} // namespace

class DataParallelTrainingTest : public QObject {
    Q_OBJECT
private slots:
    void twoRanksTrainOneModel() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const fs::path out = dir.path().toStdString();
        // --prepare-only: the stages before the DiT, then stop (the data several trainings can start from).
        QProcess prepare;
        prepare.setProcessChannelMode(QProcess::MergedChannels);
        prepare.start(kTrainExe, tinyRun(dir.path(), 4) << "--prepare-only");
        QVERIFY(prepare.waitForFinished(300000));
        const QString prepared = QString::fromUtf8(prepare.readAll());
        QVERIFY2(prepare.exitCode() == 0 && prepared.contains("the stages before the DiT are complete"),
                 qPrintable(prepared.right(3000)));
        QVERIFY(fs::exists(out / "dataset.safetensors") && !fs::exists(out / "dit.safetensors"));

        QProcess train;
        train.setProcessChannelMode(QProcess::MergedChannels);
        train.start(kTrainExe, tinyRun(dir.path(), 4));
        QVERIFY(train.waitForFinished(300000));
        const QString log = QString::fromUtf8(train.readAll());
        QVERIFY2(!log.contains("[dataset] 16 training clips"), qPrintable(log.right(3000))); // built once, above
        QVERIFY2(train.exitStatus() == QProcess::NormalExit && train.exitCode() == 0, qPrintable(log.right(3000)));
        QVERIFY2(log.contains("data parallel over 2 CPU ranks"), qPrintable(log.right(3000)));
        QVERIFY2(log.contains("rank 1 of 2, 2 clips per rank and step (4 in all)"), qPrintable(log.right(3000)));
        QVERIFY2(log.contains("the 2 ranks hold the same weights after step 4"), qPrintable(log.right(3000)));

        for (const char* name : {"dit.safetensors", "text_encoder.safetensors", "ditstudio-model.json",
                                 "curves/dit_loss.csv"}) {
            QVERIFY2(fs::exists(out / name), name);
        }
        const auto dit = ditstudio::io::SafetensorsFile::open(out / "dit.safetensors");
        QCOMPARE(dit.metadata().at("steps"), std::string("4"));
        QCOMPARE(ditstudio::io::SafetensorsFile::open(out / "text_encoder.safetensors")
                     .metadata()
                     .at("trained_with_dit_steps"),
                 std::string("4"));
        QVERIFY(!fs::exists(out / "dit.ckpt.safetensors"));
    }

    // --profile with --ranks: rank 0 times training steps under the profiler and writes the per-op table.
    void profileOfTrainingStepsOnTheLeader() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString profile = dir.filePath("profile.json");
        QProcess train;
        train.setProcessChannelMode(QProcess::MergedChannels);
        train.start(kTrainExe, tinyRun(dir.filePath("model"), 24) << "--profile" << profile << "--profile-iters" << "2");
        QVERIFY(train.waitForFinished(300000));
        const QString log = QString::fromUtf8(train.readAll());
        QVERIFY2(train.exitCode() == 0, qPrintable(log.right(3000)));
        QVERIFY2(log.contains("profile of 2 training step(s) written to"), qPrintable(log.right(3000)));
        QFile file(profile);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QJsonObject json = QJsonDocument::fromJson(file.readAll()).object();
        QCOMPARE(json.value("iterations").toInt(), 2);
        QVERIFY2(json.value("what").toString().startsWith("DiT training step: batch 2 per rank, DiT dim 64"),
                 qPrintable(json.value("what").toString()));
        QVERIFY(!json.value("kernels").toArray().isEmpty());
        QVERIFY(json.value("total_ms").toDouble() > 0);
        QCOMPARE(log.count("written to " + profile), 1); // the leader only
    }

    // scripts/train_demo_model.sh, the shipped model's recipe as one command, at a tiny size on CPU ranks: data,
    // a 1-layer DiT from scratch over 2 ranks, grown to 2 layers over 2 ranks; run again, it finds every stage done.
    void recipeScriptTrainsAndGrowsTheDiT() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const fs::path out = fs::path(dir.path().toStdString()) / "model";
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const auto& [k, v] : std::vector<std::pair<QString, QString>>{
                 {"DEVICE", "cpu"}, {"RANKS", "2"}, {"SKIP_BUILD", "1"}, {"BUILD", DITSTUDIO_BINARY_DIR},
                 {"VAE_SECONDS", "2"}, {"CLIPS", "16"}, {"BASE_LAYERS", "1"}, {"DIT_SECONDS", "2"},
                 {"GROW_LAYERS", "2"}, {"GROW_SECONDS", "2"}, {"DIT_BATCH", "2"}, {"EVALUATE_SEEDS", "0"}}) {
            env.insert(k, v);
        }
        const QStringList args = {QString(DITSTUDIO_SOURCE_DIR) + "/scripts/train_demo_model.sh",
                                  QString::fromStdString(out.string()), "--frames", "5", "--size", "32",
                                  "--vae-crop-size", "16", "--vae-crop-frames", "5", "--dit-dim", "64",
                                  "--dit-heads", "2"};
        const auto run = [&] {
            QProcess script;
            script.setProcessEnvironment(env);
            script.setProcessChannelMode(QProcess::MergedChannels);
            script.start("bash", args);
            if (!script.waitForFinished(300000)) {
                script.kill();
                script.waitForFinished();
            }
            const QString log = QString::fromUtf8(script.readAll());
            return std::pair{script.exitCode(), log};
        };
        const auto [code, log] = run();
        QVERIFY2(code == 0, qPrintable(log.right(3000)));
        for (const char* stage : {"stage 1:", "stage 2: 1-layer DiT from scratch over 2 rank(s)",
                                  "stage 3: the DiT grown to 2 layers over 2 rank(s)", "blocks.1 is new",
                                  "the 2 ranks hold the same weights"}) {
            QVERIFY2(log.contains(stage), qPrintable(QString("%1 missing:\n%2").arg(stage, log.right(3000))));
        }
        QFile manifest(QString::fromStdString((out / "ditstudio-model.json").string()));
        QVERIFY(manifest.open(QIODevice::ReadOnly));
        const QJsonObject dit = QJsonDocument::fromJson(manifest.readAll()).object().value("dit").toObject();
        QCOMPARE(dit.value("config").toObject().value("num_layers").toInt(), 2);
        QVERIFY(fs::exists(out / "curves" / "dit_heldout.csv"));

        const auto [again, secondLog] = run(); // complete: nothing is trained again
        QVERIFY2(again == 0 && !secondLog.contains("stage 1:") && !secondLog.contains("stage 3:"),
                 qPrintable(secondLog.right(3000)));
    }

    void aKilledRankFailsTheRunAndARerunCompletes() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        QProcess train;
        train.setProcessChannelMode(QProcess::MergedChannels);
        QStringList args = tinyRun(dir.path(), 1000000);
        args << "--dit-seconds" << "600";
        train.start(kTrainExe, args);
        QVERIFY(train.waitForStarted());
        QString log;
        QDeadlineTimer deadline(240000);
        while (!log.contains("rank 1 of 2, 2 clips per rank") && !deadline.hasExpired() &&
               train.state() == QProcess::Running) {
            train.waitForReadyRead(1000);
            log += QString::fromUtf8(train.readAll());
        }
        QVERIFY2(log.contains("rank 1 of 2, 2 clips per rank"), qPrintable(log.right(3000)));
        const auto ranks = ditstudio::testing::childProcesses(train.processId());
        QCOMPARE(static_cast<int>(ranks.size()), 2);
        QCOMPARE(::kill(ranks[1], SIGKILL), 0);

        QVERIFY(train.waitForFinished(60000));
        log += QString::fromUtf8(train.readAll());
        QCOMPARE(train.exitCode(), 1);
        QVERIFY2(log.contains("data-parallel DiT training failed: rank"), qPrintable(log.right(3000)));
        QVERIFY2(log.contains(QString("rank 1 (pid %1) was killed by signal 9").arg(ranks[1])),
                 qPrintable(log.right(3000)));
        const fs::path out = dir.path().toStdString();
        QVERIFY(!fs::exists(out / "dit.safetensors"));
        QVERIFY(!fs::exists(out / "ditstudio-model.json"));
        QVERIFY(fs::exists(out / "dataset.safetensors"));
        QVERIFY2(::kill(ranks[0], 0) != 0 && errno == ESRCH, "the surviving rank outlived the run"); // no orphan

        QProcess again;
        again.setProcessChannelMode(QProcess::MergedChannels);
        again.start(kTrainExe, tinyRun(dir.path(), 3));
        QVERIFY(again.waitForFinished(300000));
        const QString log2 = QString::fromUtf8(again.readAll());
        QVERIFY2(again.exitCode() == 0, qPrintable(log2.right(3000)));
        QVERIFY2(log2.contains("the 2 ranks hold the same weights after step 3"), qPrintable(log2.right(3000)));
        QVERIFY(fs::exists(out / "ditstudio-model.json"));
    }
};

QTEST_GUILESS_MAIN(DataParallelTrainingTest)
#include "test_data_parallel_training.moc"
