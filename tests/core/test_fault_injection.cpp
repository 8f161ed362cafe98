// Faults injected into real processes (tests/core/fault_child.cpp), then what they left on disk is inspected:
//   disk full during export (RLIMIT_FSIZE on the child, as `ulimit -f` does): with SIGXFSZ ignored the write fails
//   with EFBIG and the export must say so and remove its temporary; with SIGXFSZ's default action the child dies
//   mid-write. Either way no file appears under the output's name and an earlier output there is untouched.
//   a model file truncated while it is being loaded (a download restarted over it): a clear error naming the
//   file, never a SIGBUS.
#include "core/export/video_exporter.h"
#include "core/io/pth_reader.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>
#include <csignal>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace ditstudio;

namespace {

const QString kChild = QStringLiteral(DITSTUDIO_FAULT_CHILD);

struct ChildResult {
    QProcess::ExitStatus status = QProcess::NormalExit;
    int code = -1;  // exit code, or the signal number when it crashed (Qt reports the signal as the exit code)
    QString output; // stdout + stderr
};

// Runs fault_child with `args`; `fileSizeLimit` > 0 sets RLIMIT_FSIZE in the child, `ignoreSigxfsz` makes the
// over-limit write fail with EFBIG instead of killing it.
ChildResult runChild(const QStringList& args, rlim_t fileSizeLimit = 0, bool ignoreSigxfsz = false) {
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.setChildProcessModifier([fileSizeLimit, ignoreSigxfsz] {
        if (fileSizeLimit > 0) {
            const rlimit limit{fileSizeLimit, fileSizeLimit};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        }
        ::signal(SIGXFSZ, ignoreSigxfsz ? SIG_IGN : SIG_DFL);
    });
    process.start(kChild, args);
    if (!process.waitForFinished(120000)) {
        process.kill();
        process.waitForFinished();
    }
    return {process.exitStatus(), process.exitCode(), QString::fromUtf8(process.readAll())};
}

std::string readAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        out += n + " ";
    }
    return out;
}

} // namespace

class FaultInjectionTest : public QObject {
    Q_OBJECT
private slots:
    void diskFullDuringExportLeavesNoPartialOutput_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<bool>("isKilled");
        for (auto format : {ExportFormat::Mp4, ExportFormat::WebM, ExportFormat::Gif, ExportFormat::PngSequence}) {
            if (!hasEncoderFor(format)) {
                continue;
            }
            const auto name = formatName(format);
            QTest::newRow((name + ", write fails (EFBIG)").c_str()) << QString::fromStdString(name) << false;
            QTest::newRow((name + ", killed by SIGXFSZ").c_str()) << QString::fromStdString(name) << true;
        }
    }
    void diskFullDuringExportLeavesNoPartialOutput() {
        QFETCH(QString, format);
        QFETCH(bool, isKilled);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const bool isFolder = format == "png";
        const fs::path output = dir / (isFolder ? "clip" : ("clip." + format.toStdString()));
        const std::string previous = "an earlier export that must survive";
        if (!isFolder) {
            std::ofstream(output, std::ios::binary) << previous;
        }
        const QStringList args{"export", format, QString::fromStdString(output.string()), "24"};

        // 16 KiB per file: below one noise frame of the PNG sequence (~28 KB) as well as the whole video formats.
        const auto result = runChild(args, 16 * 1024, !isKilled);
        if (isKilled) {
            QVERIFY2(result.status == QProcess::CrashExit && result.code == SIGXFSZ,
                     qPrintable(QStringLiteral("expected death by SIGXFSZ, got status %1 code %2: %3")
                                    .arg(int(result.status)).arg(result.code).arg(result.output)));
        } else {
            QVERIFY2(result.status == QProcess::NormalExit && result.code == 3,
                     qPrintable(QStringLiteral("expected an ExportError (exit 3), got %1: %2")
                                    .arg(result.code).arg(result.output)));
            QVERIFY2(result.output.contains(QString::fromStdString(output.filename().string())),
                     qPrintable(result.output));
        }
        if (isFolder) {
            QVERIFY2(!fs::exists(output), "a PNG sequence folder appeared although the export did not complete");
        } else {
            QCOMPARE(readAll(output), previous);
        }
        for (const auto& name : entries(dir)) {
            if (name == output.filename().string()) {
                continue;
            }
            // A killed writer cannot clean up; what it leaves must be an obviously temporary hidden name.
            QVERIFY2(isKilled && name.front() == '.' && name.find(".partial-") != std::string::npos,
                     ("left behind: " + joined(entries(dir))).c_str());
        }

        // Control: the same export without the limit completes, so the limit is what failed it.
        fs::remove_all(output);
        const auto ok = runChild(args);
        QVERIFY2(ok.status == QProcess::NormalExit && ok.code == 0, qPrintable(ok.output));
        QVERIFY(fs::exists(output));
    }

    void safetensorsTruncatedWhileLoadingIsAClearError() {
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "dit.safetensors";
        fs::copy_file(fs::path(DITSTUDIO_GOLDEN_DIR) / "dit_a.weights.safetensors", file);
        const auto result = runChild({"truncate-safetensors", QString::fromStdString(file.string()), "4096"});
        QVERIFY2(result.status == QProcess::NormalExit && result.code == 3,
                 qPrintable(QStringLiteral("expected a FormatError (exit 3), got status %1 code %2: %3")
                                .arg(int(result.status)).arg(result.code).arg(result.output)));
        QVERIFY2(result.output.contains("dit.safetensors") && result.output.contains("truncated"),
                 qPrintable(result.output));
    }

    void pthTruncatedWhileLoadingIsAClearError() {
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "vae.pth";
        at::manual_seed(3);
        io::savePth(file, {{"a", at::randn({64, 64})}, {"b", at::randn({128, 32})}});
        const auto half = QString::number(fs::file_size(file) / 2);
        const auto result = runChild({"truncate-pth", QString::fromStdString(file.string()), half});
        QVERIFY2(result.status == QProcess::NormalExit && result.code == 3,
                 qPrintable(QStringLiteral("expected a FormatError (exit 3), got status %1 code %2: %3")
                                .arg(int(result.status)).arg(result.code).arg(result.output)));
        QVERIFY2(result.output.contains("vae.pth"), qPrintable(result.output));
    }
};

QTEST_GUILESS_MAIN(FaultInjectionTest)
#include "test_fault_injection.moc"
