// Export through FFmpeg's libraries: each format written from a synthetic moving pattern and read back with
// libavformat (frame count, size, fps, codec); failures (unwritable folder, file-size limit like `ulimit -f`)
// leave no file behind and say what happened; the sidecar is written atomically and parses back.
#include "core/export/gif_palette.h"
#include "core/export/sidecar.h"
#include "core/export/video_exporter.h"
#include "core/export/video_info.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <csignal>
#include <cstring>
#include <fstream>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ditstudio;
namespace fs = std::filesystem;

Q_DECLARE_METATYPE(ditstudio::ExportFormat)

namespace {

// A bright square moving over a gradient: uint8 [T, H, W, 3]. Built with plain loops so that a forked child
// never needs ATen's thread pool.
at::Tensor movingPattern(int64_t frames, int64_t height, int64_t width) {
    at::Tensor video = at::empty({frames, height, width, 3}, at::kByte);
    uint8_t* p = video.data_ptr<uint8_t>();
    for (int64_t t = 0; t < frames; ++t) {
        for (int64_t y = 0; y < height; ++y) {
            for (int64_t x = 0; x < width; ++x) {
                uint8_t* px = p + ((t * height + y) * width + x) * 3;
                const bool isSquare = x >= 2 * t && x < 2 * t + 12 && y >= t && y < t + 12;
                px[0] = isSquare ? 250 : uint8_t(x * 255 / width);
                px[1] = isSquare ? 240 : uint8_t(y * 255 / height);
                px[2] = isSquare ? 30 : uint8_t(128 + 4 * t);
            }
        }
    }
    return video;
}

at::Tensor noiseFrames(int64_t frames, int64_t height, int64_t width) {
    at::Tensor video = at::empty({frames, height, width, 3}, at::kByte);
    uint8_t* p = video.data_ptr<uint8_t>();
    uint32_t state = 12345;
    for (int64_t i = 0; i < video.numel(); ++i) {
        state = state * 1664525u + 1013904223u;
        p[i] = uint8_t(state >> 24);
    }
    return video;
}

fs::path outputPath(const QTemporaryDir& dir, ExportFormat format, const std::string& stem = "clip") {
    return fs::path(dir.path().toStdString()) / (stem + defaultExtension(format));
}

std::vector<std::string> folderEntries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) {
        names.push_back(e.path().filename().string());
    }
    return names;
}

// Runs `body` in a forked child; returns its exit status and what it wrote to the pipe (an error message).
std::pair<int, std::string> runInChild(const std::function<std::string()>& body) {
    int fds[2];
    if (pipe(fds) != 0) {
        return {-1, "pipe failed"};
    }
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        std::string message;
        int code = 0;
        try {
            message = body();
        } catch (const ExportError& e) {
            message = e.what();
            code = 3;
        } catch (const std::exception& e) {
            message = std::string("other exception: ") + e.what();
            code = 4;
        }
        (void)!write(fds[1], message.data(), message.size());
        close(fds[1]);
        _exit(code);
    }
    close(fds[1]);
    std::string message;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fds[0], buffer, sizeof buffer)) > 0) {
        message.append(buffer, size_t(n));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, message};
}

} // namespace

class ExportTest : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        for (auto format : {ExportFormat::Mp4, ExportFormat::WebM, ExportFormat::Gif, ExportFormat::PngSequence}) {
            QVERIFY2(hasEncoderFor(format), formatName(format).c_str());
        }
    }

    void eachFormatReadsBackWithFramesSizeFpsAndCodec_data() {
        QTest::addColumn<ExportFormat>("format");
        QTest::addColumn<QString>("codec");
        QTest::addColumn<double>("fps");
        QTest::newRow("mp4") << ExportFormat::Mp4 << "h264" << 16.0;
        QTest::newRow("webm") << ExportFormat::WebM << "vp9" << 24.0;
        QTest::newRow("gif") << ExportFormat::Gif << "gif" << 16.0; // centisecond delays 6,7,6,6,...
        QTest::newRow("png") << ExportFormat::PngSequence << "png" << 0.0;
    }
    void eachFormatReadsBackWithFramesSizeFpsAndCodec() {
        QFETCH(ExportFormat, format);
        QFETCH(QString, codec);
        QFETCH(double, fps);
        QTemporaryDir dir;
        const auto path = outputPath(dir, format);
        VideoExportOptions options;
        options.format = format;
        options.fps = fps > 0 ? fps : 16.0;
        options.quality = 70;
        const auto result = exportVideo(movingPattern(17, 48, 64), path, options);
        QCOMPARE(result.frameCount, int64_t(17));
        QVERIFY(result.bytesWritten > 0);
        const auto info = readVideoInfo(path);
        QCOMPARE(QString::fromStdString(info.codec), codec);
        QCOMPARE(info.frameCount, int64_t(17));
        QCOMPARE(info.width, int64_t(64));
        QCOMPARE(info.height, int64_t(48));
        QVERIFY2(std::abs(info.fps - fps) < 0.01, describe(info).c_str());
        if (format == ExportFormat::PngSequence) {
            QVERIFY(fs::is_regular_file(path / "frame_00000.png"));
            QVERIFY(fs::is_regular_file(path / "frame_00016.png"));
            QCOMPARE(folderEntries(path).size(), size_t(17));
        }
        QCOMPARE(folderEntries(dir.path().toStdString()).size(), size_t(1)); // no temporary left
    }

    void cliProbePrintsWhatWasWritten() {
        const QString cli = QStringLiteral(DITSTUDIO_BINARY_DIR "/app/cli/ditstudio-cli");
        if (!QFile::exists(cli)) {
            QSKIP("ditstudio-cli is not built in this build folder");
        }
        QTemporaryDir dir;
        const auto path = outputPath(dir, ExportFormat::WebM);
        exportVideo(movingPattern(9, 48, 64), path, {ExportFormat::WebM, 8.0, 60});
        QProcess probe;
        probe.start(cli, {"probe", QString::fromStdString(path.string())});
        QVERIFY(probe.waitForFinished(60000));
        const QString out = QString::fromUtf8(probe.readAllStandardOutput());
        QCOMPARE(probe.exitCode(), 0);
        QVERIFY2(out.contains("\nframes 9\n") && out.contains("\nwidth 64\n") && out.contains("\nheight 48\n") &&
                     out.contains("\nfps 8\n") && out.contains("\ncodec vp9"),
                 qPrintable(out));
        probe.start(cli, {"probe", QString::fromStdString((fs::path(dir.path().toStdString()) / "none.mp4").string())});
        QVERIFY(probe.waitForFinished(60000));
        QCOMPARE(probe.exitCode(), 2);
        QVERIFY(QString::fromUtf8(probe.readAllStandardError()).contains("none.mp4"));
    }

    void mp4HasMoovBeforeMdat() {
        QTemporaryDir dir;
        const auto mp4 = outputPath(dir, ExportFormat::Mp4);
        exportVideo(movingPattern(5, 48, 64), mp4, {ExportFormat::Mp4, 16.0, 80});
        // +faststart: the moov box precedes mdat.
        std::ifstream in(mp4, std::ios::binary);
        std::string head(4096, '\0');
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        const auto moov = head.find("moov"), mdat = head.find("mdat");
        QVERIFY(moov != std::string::npos);
        QVERIFY(mdat == std::string::npos || moov < mdat);
    }

    void oddSizeIsPaddedToEvenForYuv420() {
        QTemporaryDir dir;
        const auto path = outputPath(dir, ExportFormat::Mp4);
        const auto result = exportVideo(movingPattern(5, 49, 65), path, {ExportFormat::Mp4, 16.0, 80});
        QCOMPARE(result.width, int64_t(66));
        QCOMPARE(result.height, int64_t(50));
        const auto info = readVideoInfo(path);
        QCOMPARE(info.width, int64_t(66));
        QCOMPARE(info.height, int64_t(50));
        QCOMPARE(info.frameCount, int64_t(5));
        // GIF has no such constraint.
        const auto gif = outputPath(dir, ExportFormat::Gif);
        exportVideo(movingPattern(5, 49, 65), gif, {ExportFormat::Gif, 10.0, 80});
        QCOMPARE(readVideoInfo(gif).width, int64_t(65));
    }

    void badArgumentsAreConfigErrors() {
        QTemporaryDir dir;
        const auto path = outputPath(dir, ExportFormat::Mp4);
        QVERIFY_THROWS_EXCEPTION(ConfigError, exportVideo(movingPattern(2, 8, 8), path, {ExportFormat::Mp4, 16, 0}));
        QVERIFY_THROWS_EXCEPTION(ConfigError, exportVideo(movingPattern(2, 8, 8), path, {ExportFormat::Mp4, 0, 50}));
        QVERIFY_THROWS_EXCEPTION(ConfigError, exportVideo(at::zeros({2, 8, 8, 3}), path, {}));
        QVERIFY(folderEntries(dir.path().toStdString()).empty());
    }

    void missingFolderIsAnExportError() {
        QTemporaryDir dir;
        const auto path = fs::path(dir.path().toStdString()) / "no" / "such" / "clip.mp4";
        try {
            exportVideo(movingPattern(2, 8, 8), path, {});
            QFAIL("expected ExportError");
        } catch (const ExportError& e) {
            QVERIFY2(std::string(e.what()).find("does not exist") != std::string::npos, e.what());
        }
    }

    void badTargetsAreRefusedBeforeAnyWork() {
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        const auto refused = [](const fs::path& path, ExportFormat format, const char* expected) {
            try {
                checkExportTarget(path, format);
                QFAIL(qPrintable(QString("%1 was accepted").arg(QString::fromStdString(path.string()))));
            } catch (const ExportError& e) {
                QVERIFY2(std::string(e.what()).find(expected) != std::string::npos, e.what());
            }
        };
        refused(root, ExportFormat::Mp4, "is a folder, expected a file name");
        refused(fs::path(root.string() + "/"), ExportFormat::Gif, "is a folder, expected a file name");
        refused(root, ExportFormat::PngSequence, "already exists; a PNG sequence is written to a new folder");
        refused(root / "missing" / "clip.mp4", ExportFormat::Mp4, "does not exist");
        checkExportTarget(root / "clip.mp4", ExportFormat::Mp4);
        checkExportTarget(root / "frames", ExportFormat::PngSequence);
        QVERIFY(folderEntries(root.string()).empty());
    }

    void unwritableFolderLeavesNoFile_data() {
        QTest::addColumn<ExportFormat>("format");
        QTest::newRow("mp4") << ExportFormat::Mp4;
        QTest::newRow("png") << ExportFormat::PngSequence;
    }
    void unwritableFolderLeavesNoFile() {
        QFETCH(ExportFormat, format);
        QTemporaryDir dir;
        const fs::path folder = fs::path(dir.path().toStdString()) / "readonly";
        fs::create_directory(folder);
        ::chmod(dir.path().toStdString().c_str(), 0755);
        ::chmod(folder.c_str(), 0555);
        const auto path = folder / ("clip" + defaultExtension(format));
        const at::Tensor frames = movingPattern(5, 48, 64);
        // Root ignores folder permissions: the child drops to an unprivileged user first.
        const auto [code, message] = runInChild([&]() -> std::string {
            if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
                return "cannot drop privileges";
            }
            exportVideo(frames, path, {format, 16.0, 80});
            return "wrote the file";
        });
        ::chmod(folder.c_str(), 0755);
        QVERIFY2(code == 3, message.c_str());
        QVERIFY2(message.find(path.string()) != std::string::npos, message.c_str());
        QVERIFY2(message.find("Permission denied") != std::string::npos, message.c_str());
        QVERIFY(folderEntries(folder).empty());
    }

    void fileSizeLimitLeavesNoFile_data() {
        QTest::addColumn<ExportFormat>("format");
        QTest::newRow("mp4") << ExportFormat::Mp4;
        QTest::newRow("webm") << ExportFormat::WebM;
        QTest::newRow("gif") << ExportFormat::Gif;
        QTest::newRow("png") << ExportFormat::PngSequence;
    }
    void fileSizeLimitLeavesNoFile() {
        QFETCH(ExportFormat, format);
        QTemporaryDir dir;
        const auto path = outputPath(dir, format);
        const at::Tensor frames = noiseFrames(9, 96, 128); // incompressible: far above the limit
        const auto [code, message] = runInChild([&]() -> std::string {
            std::signal(SIGXFSZ, SIG_IGN); // like `ulimit -f`: writes past the limit fail with EFBIG
            const rlimit limit{16384, 16384};
            setrlimit(RLIMIT_FSIZE, &limit);
            exportVideo(frames, path, {format, 16.0, 90});
            return "wrote the file";
        });
        QVERIFY2(code == 3, message.c_str());
        QVERIFY2(message.find(path.string()) != std::string::npos, message.c_str());
        QVERIFY2(message.find("File too large") != std::string::npos, message.c_str());
        QVERIFY2(folderEntries(dir.path().toStdString()).empty(), message.c_str());
    }

    void sidecarIsWrittenAtomicallyAndParsesBack() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        const auto video = root / "clip.mp4";
        const auto result = exportVideo(movingPattern(5, 48, 64), video, {ExportFormat::Mp4, 16.0, 80});
        {
            std::ofstream(root / "model.bin") << "abc";
        }
        fs::create_directory(root / "tok");
        {
            std::ofstream(root / "tok" / "spiece.model") << "abc";
        }
        SidecarInfo info;
        info.settings = {{"prompt", "a cat"}, {"steps", 4}, {"cfg_scale", 5.0}};
        info.seed = 42;
        info.modelFiles = {{"dit", root / "model.bin"}, {"tokenizer", root / "tok"}};
        info.stageSeconds = {{"denoise", 1.5}, {"decode", 0.25}};
        info.output = {{"format", "mp4"}, {"codec", result.codec}, {"frames", result.frameCount}};
        const auto written = writeSidecar(video, info);
        QCOMPARE(written.string(), (root / "clip.mp4.json").string());
        auto entries = folderEntries(root);
        std::sort(entries.begin(), entries.end());
        QCOMPARE(entries, (std::vector<std::string>{"clip.mp4", "clip.mp4.json", "model.bin", "tok"}));

        std::ifstream in(written);
        const auto json = nlohmann::json::parse(in);
        QCOMPARE(json["sidecar_version"].get<int>(), kSidecarVersion);
        QCOMPARE(json["seed"].get<int64_t>(), int64_t(42));
        QCOMPARE(json["settings"]["prompt"].get<std::string>(), std::string("a cat"));
        QCOMPARE(json["settings"]["steps"].get<int>(), 4);
        QCOMPARE(json["output"]["codec"].get<std::string>(), std::string("libx264"));
        QCOMPARE(json["stage_seconds"]["denoise"].get<double>(), 1.5);
        if (!hasSha256()) {
            QVERIFY(json["models"][0]["sha256"].is_null());
            return;
        }
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        QCOMPARE(json["models"][0]["role"].get<std::string>(), std::string("dit"));
        QCOMPARE(json["models"][0]["sha256"].get<std::string>(), abc);
        QCOMPARE(json["models"][0]["bytes"].get<int>(), 3);
        QCOMPARE(json["models"][1]["files_sha256"]["spiece.model"].get<std::string>(), abc);
        for (const char* key : {"ditstudio", "libtorch", "ffmpeg", "libavcodec", "openssl"}) {
            QVERIFY2(json["versions"].contains(key) && !json["versions"][key].get<std::string>().empty(), key);
        }
        QCOMPARE(json["versions"]["libtorch"].get<std::string>(), std::string("2.11.0"));
    }

    void sha256MatchesKnownVectors() {
        if (!hasSha256()) {
            QSKIP("built without OpenSSL: sidecars record null hashes");
        }
        QCOMPARE(sha256Hex("", 0), std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        const std::string text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        QCOMPARE(sha256Hex(text.data(), text.size()),
                 std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    }

    void sidecarOfMissingModelFileIsAnExportError() {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        SidecarInfo info;
        info.modelFiles = {{"dit", root / "missing.safetensors"}};
        try {
            writeSidecar(root / "clip.mp4", info);
            QFAIL("expected ExportError");
        } catch (const ExportError& e) {
            QVERIFY2(std::string(e.what()).find("missing.safetensors") != std::string::npos, e.what());
        }
        QVERIFY(folderEntries(root).empty());
    }

    void medianCutPaletteKeepsFewColoursExactly() {
        const std::vector<uint8_t> pixels = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0};
        const auto palette = GifPalette::medianCut(pixels.data(), pixels.size() / 3, 8);
        QCOMPARE(palette.colors().size(), size_t(4));
        for (size_t p = 0; p < pixels.size(); p += 3) {
            const auto& c = palette.colors()[palette.indexOf(pixels[p], pixels[p + 1], pixels[p + 2])];
            QCOMPARE(c[0], pixels[p]);
            QCOMPARE(c[1], pixels[p + 1]);
            QCOMPARE(c[2], pixels[p + 2]);
        }
        // A grey ramp in 2 colours: dark values map to the dark entry, bright to the bright one.
        std::vector<uint8_t> ramp;
        for (int v = 0; v < 256; ++v) {
            ramp.insert(ramp.end(), {uint8_t(v), uint8_t(v), uint8_t(v)});
        }
        const auto two = GifPalette::medianCut(ramp.data(), 256, 2);
        QCOMPARE(two.colors().size(), size_t(2));
        QVERIFY(two.colors()[two.indexOf(10, 10, 10)][0] < 100);
        QVERIFY(two.colors()[two.indexOf(240, 240, 240)][0] > 150);
    }
};

QTEST_GUILESS_MAIN(ExportTest)
#include "test_export.moc"
