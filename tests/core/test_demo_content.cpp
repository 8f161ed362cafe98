// The embedded demo model draws what the prompt says: for prompts that differ only in colour, only in shape or
// only in direction, the generated clips differ in that property as measured from their pixels
// (core/training/content_probe.h), well above chance over several seeds. Also checks the probe itself on clips
// rendered by the synthetic world, so that a failing score means the model, not the measurement.
#include "core/runtime/model_locator.h"
#include "core/training/content_probe.h"
#include "core/training/synthetic_world.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <optional>

using namespace ditstudio;
using namespace ditstudio::training;

class DemoContentTest : public QObject {
    Q_OBJECT
private slots:
    void probeMeasuresRenderedClips() {
        for (const auto& c : contentCases()) {
            std::vector<std::string> candidates;
            for (const auto& other : contentCases()) {
                if (other.property == c.property) {
                    candidates.push_back(other.expected);
                }
            }
            const bool colour = c.property == "colour", shape = c.property == "shape";
            for (const int64_t seed : {1, 2, 3}) {
                const ObjectProbe p = probeObject(renderCase(c, seed, {17, 128, 128, 1}));
                QVERIFY2(p.found, c.prompt.c_str());
                const std::string measured = colour  ? nearestColour(p, candidates)
                                             : shape ? nearestShape(p, candidates)
                                                     : direction(p);
                QCOMPARE(QString::fromStdString(measured), QString::fromStdString(c.expected));
            }
        }
    }

    // The shipped model's VAE alone (rendered clips encoded and decoded) keeps every property the probe measures:
    // what generation loses is the DiT's (issue #9: the shape).
    void demoVaeRoundTripKeepsEveryProperty() {
        const ContentScore s = scoreVaeRoundTrip(defaultModelDir(), at::kCPU, {1});
        for (const auto& line : s.details) {
            qInfo("%s", line.c_str());
        }
        for (const char* property : {"colour", "shape", "direction"}) {
            QVERIFY2(s.accuracy(property) == 1.0,
                     qPrintable(QString("%1: %2/%3 through the VAE")
                                    .arg(property)
                                    .arg(s.correct.at(property))
                                    .arg(s.total.at(property))));
        }
    }

    void probeRefusesWhatItCannotMeasure() {
        QVERIFY_THROWS_EXCEPTION(ConfigError, probeObject(at::zeros({4, 8, 8, 3}, at::kFloat)));
        const ObjectProbe empty = probeObject(at::full({5, 32, 32, 3}, 90, at::kByte));
        QVERIFY(!empty.found);
        try {
            nearestShape(ObjectProbe{}, {"hexagon"});
            QFAIL("an unknown shape was accepted");
        } catch (const ConfigError& e) {
            QVERIFY(QString(e.what()).contains("hexagon"));
        }
    }

    // Chance is 1/4 for colour and direction, 1/3 for shape. The shipped model (resources/demo-model: an 8-layer DiT,
    // 25,201 steps, the last 4,123 on the world's version 2, its text encoder trained with it) draws the colour (12/12)
    // and the direction (12/12) and the shape (7/9: every circle and triangle, the square of seed 2; the squares of
    // seeds 1 and 3 are squares with rounded corners at fill 0.8892 and 0.8927, just under the probe's circle/square
    // midpoint 0.8927); its VAE keeps all three apart (ditstudio-train --evaluate: 9/9 through the round trip).
    void demoModelDrawsThePrompt_data() {
        QTest::addColumn<QString>("property");
        QTest::addColumn<double>("required");
        QTest::newRow("colour") << "colour" << 0.75;
        QTest::newRow("direction") << "direction" << 0.75;
        QTest::newRow("shape") << "shape" << 0.75;
    }

    void demoModelDrawsThePrompt() {
        QFETCH(QString, property);
        QFETCH(double, required);
        const ContentScore& s = score();
        const std::string p = property.toStdString();
        qInfo("%s: %d/%d", p.c_str(), s.correct.at(p), s.total.at(p));
        QVERIFY2(s.accuracy(p) >= required,
                 qPrintable(QString("%1 accuracy %2 is below %3").arg(property).arg(s.accuracy(p)).arg(required)));
    }

private:
    // Every case for seeds 1–3, generated once (~33 CPU generations).
    const ContentScore& score() {
        if (!score_) {
            score_ = scoreModelContent(defaultModelDir(), at::kCPU, {1, 2, 3});
            for (const auto& line : score_->details) {
                qInfo("%s", line.c_str());
            }
        }
        return *score_;
    }

    std::optional<ContentScore> score_;
};

QTEST_GUILESS_MAIN(DemoContentTest)
#include "test_demo_content.moc"
