// The embedded demo model draws what the prompt says: for prompts that differ only in colour, only in shape or
// only in direction, the generated clips differ in that property as measured from their pixels
// (core/training/content_probe.h), well above chance over several seeds. Also checks the probe itself on clips
// rendered by the synthetic world, so that a failing score means the model, not the measurement.
#include "core/presets/preset_store.h"
#include "core/runtime/generation.h"
#include "core/runtime/model_locator.h"
#include "core/training/content_probe.h"
#include "core/training/synthetic_world.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

using namespace ditstudio;
using namespace ditstudio::training;

namespace {

at::Tensor toFrames(const at::Tensor& video) { // [3, T, H, W] in [-1, 1] → uint8 [T, H, W, 3]
    return ((video + 1) * 127.5).round().clamp(0, 255).to(at::kByte).permute({1, 2, 3, 0}).contiguous();
}

at::Tensor rendered(const std::string& shape, const std::string& colour, const std::string& motion,
                    const std::string& background) {
    ObjectSpec o{shape, colour, motion, 0.5f, 0.5f, 0.18f, 0.4f};
    if (motion == "left") { o.x0 = 0.75f; }
    if (motion == "right") { o.x0 = 0.25f; }
    if (motion == "up") { o.y0 = 0.75f; }
    if (motion == "down") { o.y0 = 0.25f; }
    return toFrames(SyntheticWorld({17, 128, 128, 1}).render({o}, background, at::kCPU));
}

} // namespace

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
            const at::Tensor clip = rendered(shape ? c.expected : "square", colour ? c.expected : "red",
                                             c.property == "direction" ? c.expected : "still", "gray");
            const ObjectProbe p = probeObject(clip);
            QVERIFY2(p.found, c.prompt.c_str());
            const std::string measured = colour  ? nearestColour(p, candidates)
                                         : shape ? nearestShape(p, candidates)
                                                 : direction(p);
            QCOMPARE(QString::fromStdString(measured), QString::fromStdString(c.expected));
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

    void demoModelDrawsThePrompt() {
        GenerationSettings settings = PresetStore(PresetStore::defaultBuiltinDir(), {}).load("demo-cpu");
        Generator generator(defaultModelDir(), at::kCPU, at::kFloat);
        const ContentScore score = scoreContent([&](const std::string& prompt, int64_t seed) {
            settings.prompt = prompt;
            settings.seed = seed;
            return generator.generate(settings).frames;
        }, {1, 2});
        for (const auto& line : score.details) {
            qInfo("%s", line.c_str());
        }
        // Chance is 1/4 for colour and direction, 1/3 for shape.
        for (const auto& [property, total] : score.total) {
            qInfo("%s: %d/%d", property.c_str(), score.correct.at(property), total);
            QVERIFY2(score.accuracy(property) >= 0.6,
                     qPrintable(QString("%1 accuracy %2 is below 60 %").arg(property.c_str()).arg(score.accuracy(property))));
        }
    }
};

QTEST_GUILESS_MAIN(DemoContentTest)
#include "test_demo_content.moc"
