// The demo model's training world (core/training/synthetic_world.h): seeded and reproducible (the same seed and
// index give the same clip and caption, and the captions the shipped model was trained on stay what they were),
// captions that say what is drawn, objects of the caption's colour on the caption's background, and the object
// scale setting (areas grow with its square; a scale outside its range is refused naming it).
#include "core/training/synthetic_world.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

using namespace ditstudio;
using namespace ditstudio::training;

namespace {

const WorldSettings kSmall{5, 64, 64, 2, 1.0f};

// Pixels of frame 0 that differ from the clip's background colour.
at::Tensor objectPixels(const Clip& clip) {
    const auto bg = SyntheticWorld::backgroundRgb(clip.background);
    const at::Tensor background = at::tensor({bg[0], bg[1], bg[2]}).view({3, 1, 1}) * 2 - 1;
    return (clip.video.select(1, 0) - background).abs().amax(0) > 0.05; // [H, W]
}

} // namespace

class SyntheticWorldTest : public QObject {
    Q_OBJECT
private slots:
    void sameSeedAndIndexGiveTheSameClip() {
        const SyntheticWorld world(kSmall);
        const Clip a = world.sample(7, 3), b = world.sample(7, 3), other = world.sample(7, 4);
        QCOMPARE(a.caption, b.caption);
        QVERIFY(at::equal(a.video, b.video));
        QVERIFY(a.caption != other.caption || !at::equal(a.video, other.video));
        QCOMPARE(a.video.sizes().vec(), (std::vector<int64_t>{3, 5, 64, 64}));
        QVERIFY(a.video.min().item<float>() >= -1 && a.video.max().item<float>() <= 1);
        // The shipped demo model's dataset was drawn from this sequence: it must not change under it.
        QCOMPARE(world.sample(1, 0).caption, std::string("a yellow star moving left on a white background"));
        QCOMPARE(world.sample(1, 1).caption,
                 std::string("a cyan cross moving right and a orange triangle rising on a gray background"));
    }

    void captionsSayWhatIsDrawn() {
        const SyntheticWorld world(kSmall);
        int single = 0;
        for (uint64_t i = 0; i < 40; ++i) {
            const Clip c = world.sample(11, i);
            QVERIFY(!c.objects.empty() && c.objects.size() <= 2);
            for (const auto& o : c.objects) {
                QVERIFY2(c.caption.find(o.colour) != std::string::npos, c.caption.c_str());
                QVERIFY2(c.caption.find(o.shape == "cross" && c.caption.rfind("two ", 0) == 0 ? "crosses" : o.shape) !=
                             std::string::npos,
                         c.caption.c_str());
            }
            if (c.objects.size() == 1) {
                ++single;
                QVERIFY2(c.caption.rfind("a " + c.objects[0].colour + " " + c.objects[0].shape + " ", 0) == 0,
                         c.caption.c_str());
                // The object is drawn, in its colour, and in view.
                const at::Tensor mask = objectPixels(c);
                QVERIFY2(mask.sum().item<int64_t>() > 10, c.caption.c_str());
                const auto rgb = SyntheticWorld::colourRgb(c.objects[0].colour);
                const at::Tensor colour = at::tensor({rgb[0], rgb[1], rgb[2]}) * 2 - 1;
                const at::Tensor inside = c.video.select(1, 0).permute({1, 2, 0}).index({mask}); // [N, 3]
                QVERIFY2((inside - colour).abs().amax(1).lt(1e-5).all().item<bool>(), c.caption.c_str());
            }
            if (c.caption.find(" background") != std::string::npos) {
                QVERIFY2(c.caption.find("on a " + c.background + " background") != std::string::npos,
                         c.caption.c_str());
            }
        }
        QVERIFY(single > 15 && single < 40); // about 65 % single objects, the rest pairs
    }

    // World version 2 (SyntheticWorld::kVersion): a square is the square around the circle of its size (side 2 ×
    // size), a circle has radius = size; both still objects fill what their definition says, to a pixel's rounding.
    void shapesAreDrawnToTheirDefinitions() {
        const SyntheticWorld world(kSmall);
        const float size = 0.25f; // 16 px of the 64 px frame
        const auto area = [&](const char* shape) {
            const at::Tensor video = world.render({ObjectSpec{shape, "red", "still", 0.5f, 0.5f, size, 0.4f}}, "black",
                                                  at::kCPU);
            const Clip clip{video, "", {}, "black"};
            return objectPixels(clip).sum().item<double>();
        };
        QCOMPARE(area("square"), 32.0 * 32.0);
        const double circle = area("circle");
        QVERIFY2(std::abs(circle - 3.14159265 * 16 * 16) < 16, qPrintable(QString("circle area %1").arg(circle)));
        QVERIFY2(area("triangle") < 0.6 * circle, "a triangle as large as a circle");
    }

    void objectScaleScalesTheObjects() {
        WorldSettings large = kSmall;
        large.objectScale = 1.5f;
        const SyntheticWorld base(kSmall), scaled(large);
        double baseArea = 0, scaledArea = 0;
        for (uint64_t i = 0; i < 40; ++i) {
            const Clip a = base.sample(5, i), b = scaled.sample(5, i);
            QCOMPARE(a.caption, b.caption); // the same draws: only the sizes change
            QCOMPARE(b.objects[0].size, a.objects[0].size * 1.5f);
            baseArea += objectPixels(a).sum().item<double>();
            scaledArea += objectPixels(b).sum().item<double>();
        }
        const double ratio = scaledArea / baseArea; // 1.5² = 2.25, less where large objects leave the frame
        QVERIFY2(ratio > 1.8 && ratio < 2.6, qPrintable(QString("area ratio %1").arg(ratio)));

        for (const float bad : {0.2f, 2.0f}) {
            WorldSettings wrong = kSmall;
            wrong.objectScale = bad;
            try {
                SyntheticWorld refused(wrong);
                QFAIL(qPrintable(QString("object scale %1 was accepted").arg(bad)));
            } catch (const ConfigError& e) {
                QVERIFY2(QString(e.what()).contains(QString("object scale %1").arg(bad)) &&
                             QString(e.what()).contains("[0.5, 1.6]"),
                         e.what());
            }
        }
    }
};

QTEST_GUILESS_MAIN(SyntheticWorldTest)
#include "test_synthetic_world.moc"
