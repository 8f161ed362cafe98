// The player: frame stepping and looping of PlaybackController (data-driven), timed playback, a clip that grows while
// decoding, the compare view; and clips written by the export path and read back by the player's reader.
#include "core/export/video_exporter.h"
#include "ui/media/clip_export.h"
#include "ui/media/video_reader.h"
#include "ui/widgets/image_view.h"
#include "ui/widgets/player_widget.h"

#include <QApplication>
#include <QLabel>
#include <QSignalSpy>
#include <QSlider>
#include <QTemporaryDir>
#include <QToolButton>
#include <QtTest>

using namespace ditstudio;
using namespace ditstudio::ui;

namespace {

QVector<QImage> colourFrames(int count, QSize size) {
    QVector<QImage> frames;
    for (int i = 0; i < count; ++i) {
        QImage image(size, QImage::Format_RGB888);
        image.fill(QColor(20 + 20 * i, 255 - 20 * i, 128)); // each frame its own colour
        frames.push_back(image);
    }
    return frames;
}

} // namespace

class PlayerTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void steppingAndLooping_data() {
        QTest::addColumn<int>("frameCount");
        QTest::addColumn<int>("start");
        QTest::addColumn<bool>("isLooping");
        QTest::addColumn<QString>("moves"); // f = step forward, b = step back, a = timer tick
        QTest::addColumn<int>("expected");
        QTest::addColumn<bool>("isStillPlaying");
        QTest::newRow("forward inside the clip") << 10 << 3 << true << "fff" << 6 << false;
        QTest::newRow("forward wraps when looping") << 5 << 4 << true << "f" << 0 << false;
        QTest::newRow("forward stops at the end without loop") << 5 << 4 << false << "ff" << 4 << false;
        QTest::newRow("back wraps to the last frame when looping") << 5 << 0 << true << "b" << 4 << false;
        QTest::newRow("back stops at the start without loop") << 5 << 0 << false << "bb" << 0 << false;
        QTest::newRow("tick wraps when looping and keeps playing") << 3 << 2 << true << "a" << 0 << true;
        QTest::newRow("tick at the end without loop pauses") << 3 << 2 << false << "a" << 2 << false;
        QTest::newRow("ticks through a clip") << 9 << 0 << false << "aaaa" << 4 << true;
        QTest::newRow("empty clip stays at 0") << 0 << 0 << true << "fba" << 0 << false;
    }
    void steppingAndLooping() {
        QFETCH(int, frameCount);
        QFETCH(int, start);
        QFETCH(bool, isLooping);
        QFETCH(QString, moves);
        QFETCH(int, expected);
        QFETCH(bool, isStillPlaying);
        PlaybackController controller;
        controller.setFrameCount(frameCount);
        controller.setCurrentFrame(start);
        controller.setLooping(isLooping);
        if (moves.contains('a')) {
            controller.setFps(1.0); // the timer must not tick on its own during the test
            if (start == frameCount - 1 && frameCount > 1) {
                controller.setCurrentFrame(0);
                controller.play();
                controller.setCurrentFrame(start);
            } else {
                controller.play();
            }
        }
        for (QChar move : moves) {
            if (move == 'f') {
                controller.stepForward();
            } else if (move == 'b') {
                controller.stepBackward();
            } else {
                controller.advance();
            }
        }
        QCOMPARE(controller.currentFrame(), expected);
        QCOMPARE(controller.isPlaying(), isStillPlaying);
    }

    void playingFromTheLastFrameStartsOver() {
        PlaybackController controller;
        controller.setFrameCount(4);
        controller.setCurrentFrame(3);
        controller.play();
        QCOMPARE(controller.currentFrame(), 0);
        QVERIFY(controller.isPlaying());
    }

    void playbackAdvancesAtTheFrameRate() {
        PlaybackController controller;
        controller.setFrameCount(5);
        controller.setLooping(false);
        controller.setFps(100.0);
        QSignalSpy frames(&controller, &PlaybackController::currentFrameChanged);
        QSignalSpy playing(&controller, &PlaybackController::playingChanged);
        controller.play();
        QTRY_COMPARE(controller.currentFrame(), 4);
        QTRY_VERIFY(!controller.isPlaying());
        QCOMPARE(frames.count(), 4);
        QCOMPARE(playing.count(), 2); // started, stopped at the end
    }

    void shrinkingTheClipClampsTheCurrentFrame() {
        PlaybackController controller;
        controller.setFrameCount(10);
        controller.setCurrentFrame(8);
        controller.setFrameCount(5);
        QCOMPARE(controller.currentFrame(), 4);
        controller.setCurrentFrame(99);
        QCOMPARE(controller.currentFrame(), 4);
        controller.setCurrentFrame(-3);
        QCOMPARE(controller.currentFrame(), 0);
    }

    void playerShowsTheFrameTheControlsPick() {
        PlayerWidget player;
        const auto frames = colourFrames(6, {32, 24});
        player.setClip(frames, 12.0, "#1 seed 5");
        auto* label = player.findChild<QLabel*>("frameLabel");
        auto* slider = player.findChild<QSlider*>("scrubSlider");
        QCOMPARE(label->text(), QString("1 / 6"));
        QCOMPARE(slider->maximum(), 5);
        player.findChild<QToolButton*>("nextFrameButton")->click();
        player.findChild<QToolButton*>("nextFrameButton")->click();
        QCOMPARE(player.controller().currentFrame(), 2);
        QCOMPARE(player.view()->image(), frames[2]);
        QCOMPARE(label->text(), QString("3 / 6"));
        slider->setValue(5);
        QCOMPARE(player.controller().currentFrame(), 5);
        QCOMPARE(player.view()->image(), frames[5]);
        player.findChild<QToolButton*>("previousFrameButton")->click();
        QCOMPARE(player.view()->image(), frames[4]);
        QCOMPARE(player.fps(), 12.0);
    }

    void aClipGrowsWhileItDecodes() {
        PlayerWidget player;
        const auto frames = colourFrames(8, {16, 16});
        player.setClip({}, 16.0, "#2");
        player.setFramesAt(0, frames.mid(0, 4));
        QCOMPARE(player.controller().frameCount(), 4);
        player.controller().setCurrentFrame(3);
        player.setFramesAt(4, frames.mid(4, 4));
        QCOMPARE(player.controller().frameCount(), 8);
        QCOMPARE(player.controller().currentFrame(), 3);
        QCOMPARE(player.frames()[7], frames[7]);
    }

    void compareShowsTheSameFrameOfBothClips() {
        PlayerWidget player;
        const auto a = colourFrames(5, {16, 16});
        const auto b = colourFrames(3, {16, 16});
        player.setClip(a, 16.0, "A");
        player.setCompareClip(b, "B");
        QVERIFY(player.isComparing());
        auto* compare = player.findChild<ImageView*>("compareView");
        QVERIFY(!compare->isHidden());
        player.controller().setCurrentFrame(1);
        QCOMPARE(compare->image(), b[1]);
        player.controller().setCurrentFrame(4); // past the shorter clip: its last frame
        QCOMPARE(compare->image(), b[2]);
        player.clearCompare();
        QVERIFY(compare->isHidden());
    }

    void exportedClipsReadBackWithEveryFrame_data() {
        QTest::addColumn<int>("format");
        QTest::addColumn<QString>("name");
        QTest::newRow("mp4") << int(ExportFormat::Mp4) << "clip.mp4";
        QTest::newRow("webm") << int(ExportFormat::WebM) << "clip.webm";
        QTest::newRow("gif") << int(ExportFormat::Gif) << "clip.gif";
        QTest::newRow("png sequence") << int(ExportFormat::PngSequence) << "frames";
    }
    void exportedClipsReadBackWithEveryFrame() {
        QFETCH(int, format);
        QFETCH(QString, name);
        if (!hasEncoderFor(static_cast<ExportFormat>(format))) {
            QSKIP("this FFmpeg build has no encoder for the format");
        }
        QTemporaryDir dir;
        const auto frames = colourFrames(9, {64, 48});
        VideoExportOptions options;
        options.format = static_cast<ExportFormat>(format);
        options.fps = 8.0;
        options.quality = 90;
        const QString path = dir.filePath(name);
        const VideoExportResult written = exportClip(frames, path, options);
        QCOMPARE(written.frameCount, int64_t(9));
        const DecodedClip clip = readClip(QString::fromStdString(written.path.string()));
        QCOMPARE(clip.frames.size(), 9);
        QCOMPARE(clip.frames[0].size(), QSize(64, 48));
        const QColor expected = frames[5].pixelColor(32, 24);
        const QColor actual = clip.frames[5].pixelColor(32, 24);
        QVERIFY2(std::abs(expected.red() - actual.red()) < 24 && std::abs(expected.green() - actual.green()) < 24,
                 qPrintable(QString("frame 5 is %1, expected about %2").arg(actual.name(), expected.name())));
    }

    void readingAMissingOrBrokenClipNamesTheFile() {
        QTemporaryDir dir;
        try {
            readClip(dir.filePath("absent.mp4"));
            QFAIL("no error for a missing file");
        } catch (const FormatError& e) {
            QVERIFY(QString(e.what()).contains("absent.mp4"));
        }
        QFile broken(dir.filePath("broken.mp4"));
        QVERIFY(broken.open(QIODevice::WriteOnly));
        broken.write("this is not a video");
        broken.close();
        try {
            readClip(broken.fileName());
            QFAIL("no error for a broken file");
        } catch (const FormatError& e) {
            QVERIFY2(QString(e.what()).contains("broken.mp4"), e.what());
        }
    }
};

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    PlayerTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "test_player.moc"
