// ditstudio-train's library (core/training/demo_trainer.h) end to end at a tiny size on the CPU: every stage writes
// its file, the folder it leaves is a model DiT Studio loads and generates with, the loss curves hold finite values
// for every step, --continue-dit trains the finished DiT on with the step count adding up, and bad settings are
// refused naming the setting; the stages before the DiT alone (the folder a data-parallel group reads), bf16 mixed
// precision, and a data-parallel stage without its collectives or folder refused naming what is missing.
#include "core/io/model_folder.h"
#include "core/io/safetensors.h"
#include "core/presets/preset_store.h"
#include "core/runtime/generation.h"
#include "core/training/demo_trainer.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <QtTest/QtTest>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace ditstudio;
using namespace ditstudio::training;
namespace fs = std::filesystem;

namespace {

DemoTrainSettings tinySettings(const fs::path& out) {
    DemoTrainSettings s;
    s.outDir = out;
    s.frames = 5;
    s.height = s.width = 32;
    s.vaeSteps = 2;
    s.vaeBatch = 2;
    s.vaeCropSize = 16;
    s.vaeCropFrames = 5;
    s.datasetClips = 16;
    s.ditSteps = 3;
    s.ditBatch = 4;
    s.textEncoderLr = 0; // frozen here; the continuation below trains it
    s.dit.numLayers = 1;
    s.dit.dim = 64;
    s.dit.ffnDim = 256;
    s.dit.numHeads = 2;
    return s;
}

// `call` must throw a ConfigError whose message contains `expected` (a failure is recorded otherwise).
template <typename Call>
void requireConfigError(Call&& call, const char* expected) {
    try {
        call();
    } catch (const ConfigError& e) {
        QVERIFY2(QString(e.what()).contains(expected), e.what());
        return;
    }
    QFAIL(qPrintable(QString("accepted; expected a ConfigError saying \"%1\"").arg(expected)));
}

// The loss column of a curve file (step,loss,seconds), header skipped.
std::vector<double> losses(const fs::path& csv) {
    std::ifstream in(csv);
    std::vector<double> out;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
        std::stringstream row(line);
        std::string step, loss;
        std::getline(row, step, ',');
        std::getline(row, loss, ',');
        out.push_back(std::stod(loss));
    }
    return out;
}

// Every row of a CSV file as numbers, header skipped.
std::vector<std::vector<double>> rows(const fs::path& csv) {
    std::ifstream in(csv);
    std::vector<std::vector<double>> out;
    std::string line, cell;
    std::getline(in, line);
    while (std::getline(in, line)) {
        std::stringstream row(line);
        out.emplace_back();
        while (std::getline(row, cell, ',')) {
            out.back().push_back(std::stod(cell));
        }
    }
    return out;
}

} // namespace

class DemoTrainerTest : public QObject {
    Q_OBJECT
private slots:
    void tinyTrainingMakesAModelThatGeneratesAndContinues() {
        QTemporaryDir dir;
        const fs::path out = fs::path(dir.path().toStdString()) / "model";
        const DemoTrainSettings s = tinySettings(out);
        trainDemoModel(s);
        for (const char* file : {"tokenizer/spiece.model", "text_encoder.safetensors", "vae.safetensors",
                                 "dit.safetensors", "ditstudio-model.json"}) {
            QVERIFY2(fs::exists(out / file), file);
        }
        QVERIFY(!fs::exists(out / "dataset.safetensors")); // working files are removed at the end
        const auto vaeLosses = losses(out / "curves" / "vae_loss.csv");
        const auto ditLosses = losses(out / "curves" / "dit_loss.csv");
        QVERIFY(!vaeLosses.empty() && !ditLosses.empty());
        for (double l : ditLosses) {
            QVERIFY2(std::isfinite(l) && l > 0, qPrintable(QString("DiT loss %1").arg(l)));
        }
        QCOMPARE(io::SafetensorsFile::open(out / "dit.safetensors").metadata().at("steps"), std::string("3"));
        // The fixed-noise loss on held-out and on training clips, at four noise levels, before the first step and
        // after the last; a clean DiT is as wrong on clips it trained on as on the others only at step 0.
        const auto heldOut = rows(out / "curves" / "dit_heldout.csv");
        QCOMPARE(heldOut.size(), size_t(2));
        QCOMPARE(heldOut[0][0], 0.0);
        QCOMPARE(heldOut[1][0], 3.0);
        for (const auto& row : heldOut) {
            QCOMPARE(row.size(), size_t(9));
            for (double l : row) {
                QVERIFY2(std::isfinite(l) && l >= 0, qPrintable(QString("held-out curve value %1").arg(l)));
            }
            QVERIFY(row[4] > 0 && row[8] > 0);
        }
        QVERIFY(!std::equal(heldOut[0].begin() + 1, heldOut[0].end(), heldOut[1].begin() + 1)); // the DiT trained

        // The folder is a model: it opens with the DiT config asked for and generates a clip of the trained size.
        const auto folder = io::ModelFolder::open(out);
        QCOMPARE(folder.ditConfig.dim, int64_t(64));
        QCOMPARE(folder.ditConfig.numLayers, int64_t(1));
        GenerationSettings g = PresetStore(PresetStore::defaultBuiltinDir(), {}).load("demo-cpu");
        g.prompt = "a red circle moving left";
        g.steps = 2;
        g.numFrames = 5;
        g.height = g.width = 32;
        Generator generator(out, at::kCPU, at::kFloat);
        const at::Tensor frames = generator.generate(g).frames;
        QCOMPARE(frames.sizes().vec(), (std::vector<int64_t>{5, 32, 32, 3}));

        // A finished model is not trained again; --continue-dit trains its DiT on and the steps add up.
        trainDemoModel(s);
        QCOMPARE(io::SafetensorsFile::open(out / "dit.safetensors").metadata().at("steps"), std::string("3"));
        prepareDiTContinuation(out);
        QVERIFY(fs::exists(out / "dit.start.safetensors") && !fs::exists(out / "ditstudio-model.json"));
        prepareDiTContinuation(out); // prepared already (an interrupted continuation): it goes on from the same start
        QVERIFY(fs::exists(out / "dit.start.safetensors"));
        DemoTrainSettings more = s;
        more.ditSteps = 2;
        trainDemoModel(more);
        QCOMPARE(io::SafetensorsFile::open(out / "dit.safetensors").metadata().at("steps"), std::string("5"));
        QVERIFY(!fs::exists(out / "dit.start.safetensors"));
        // The curve goes on in the same file: rows at the new run's first and last step.
        QCOMPARE(losses(out / "curves" / "dit_loss.csv").size(), ditLosses.size() + 2);
        const auto heldOutMore = rows(out / "curves" / "dit_heldout.csv");
        QCOMPARE(heldOutMore.size(), size_t(4));
        QCOMPARE(heldOutMore[3][0], 5.0);

        // --text-encoder-lr: the encoder trains with the DiT; the saved one differs from the frozen one, says how
        // many steps it trained, and the folder still generates with it.
        const auto frozen = io::SafetensorsFile::open(out / "text_encoder.safetensors");
        QVERIFY(!frozen.metadata().count("trained_with_dit_steps")); // a frozen encoder's file is left as created
        const at::Tensor frozenEmbedding = frozen.tensor("token_embedding.weight").clone();
        prepareDiTContinuation(out);
        more.textEncoderLr = 1e-2;
        trainDemoModel(more);
        const auto t5 = io::SafetensorsFile::open(out / "text_encoder.safetensors");
        QCOMPARE(t5.metadata().at("trained_with_dit_steps"), std::string("2"));
        const at::Tensor trainedEmbedding = t5.tensor("token_embedding.weight");
        QCOMPARE(trainedEmbedding.sizes(), frozenEmbedding.sizes());
        QVERIFY(!at::equal(trainedEmbedding, frozenEmbedding));
        QVERIFY(!fs::exists(out / "text_encoder.ckpt.safetensors"));
        Generator retrained(out, at::kCPU, at::kFloat);
        const at::Tensor before = retrained.generate(g).frames;
        QVERIFY(before.to(at::kFloat).std().item<double>() > 0);

        // --continue-dit with more layers: the new block joins as an identity, so with a zero learning rate the
        // grown DiT draws exactly what the smaller one drew; the old block's weights are kept.
        const at::Tensor q0 = io::SafetensorsFile::open(out / "dit.safetensors").tensor("blocks.0.self_attn.q.weight").clone();
        prepareDiTContinuation(out);
        DemoTrainSettings grown = more;
        grown.dit.numLayers = 2;
        grown.ditSteps = 1;
        grown.ditLr = 0;
        grown.textEncoderLr = 0;
        trainDemoModel(grown);
        const auto grownDit = io::SafetensorsFile::open(out / "dit.safetensors");
        QVERIFY(at::equal(grownDit.tensor("blocks.0.self_attn.q.weight"), q0));
        for (const char* name : {"blocks.1.self_attn.o.weight", "blocks.1.cross_attn.o.weight", "blocks.1.ffn.2.weight"}) {
            QVERIFY2(grownDit.tensor(name).abs().max().item<double>() == 0, name);
        }
        QVERIFY(grownDit.tensor("blocks.1.self_attn.q.weight").abs().max().item<double>() > 0);
        QCOMPARE(io::ModelFolder::open(out).ditConfig.numLayers, int64_t(2));
        prepareDiTContinuation(out);
        DemoTrainSettings shrunk = grown;
        shrunk.dit.numLayers = 1;
        requireConfigError([&] { trainDemoModel(shrunk); }, "has 2 DiT layers; a continuation can keep or add layers");
        trainDemoModel(grown); // the refused run changed nothing: the continuation goes on
        QCOMPARE(io::ModelFolder::open(out).ditConfig.numLayers, int64_t(2));
        Generator grownGenerator(out, at::kCPU, at::kFloat);
        const at::Tensor after = grownGenerator.generate(g).frames;
        QVERIFY2(at::allclose(after.to(at::kFloat), before.to(at::kFloat), 0, 1e-5),
                 "a grown DiT with identity blocks draws differently");
    }

    // The folder gets the moving average of the weights: after one step from a start w0 to w1 (decay warmed up to
    // 0.1 at the first step), the saved DiT and text encoder are 0.1·w0 + 0.9·w1, w1 being what a run without the
    // average saves from the same start.
    void theFolderGetsTheMovingAverageOfTheWeights() {
        QTemporaryDir dir;
        const fs::path root = fs::path(dir.path().toStdString());
        DemoTrainSettings s = tinySettings(root / "start");
        s.ditEma = 0;
        trainDemoModel(s);
        QCOMPARE(io::SafetensorsFile::open(root / "start" / "dit.safetensors").metadata().at("moving_average_decay"),
                 std::string("0"));
        std::map<std::string, std::map<std::string, at::Tensor>> saved; // run → "dit."/"t5." + name → weights
        for (const double decay : {0.0, 0.5}) {
            const fs::path out = root / fmt::format("decay{}", decay);
            fs::copy(root / "start", out, fs::copy_options::recursive);
            prepareDiTContinuation(out);
            DemoTrainSettings t = tinySettings(out);
            t.ditEma = decay;
            t.ditSteps = 1;
            t.ditLr = 5; // × 1/100 at the first step of the warm-up: Adam moves every weight by ~0.05
            t.textEncoderLr = 5;
            trainDemoModel(t);
            QVERIFY(!fs::exists(out / "dit.ema.ckpt.safetensors"));
            const auto dit = io::SafetensorsFile::open(out / "dit.safetensors");
            QCOMPARE(dit.metadata().at("moving_average_decay"), fmt::format("{}", decay));
            for (const char* n : {"blocks.0.self_attn.q.weight", "blocks.0.ffn.0.weight", "head.head.weight"}) {
                saved[fmt::format("{}", decay)][std::string("dit.") + n] = dit.tensor(n).to(at::kFloat);
            }
            saved[fmt::format("{}", decay)]["t5.token_embedding.weight"] =
                io::SafetensorsFile::open(out / "text_encoder.safetensors").tensor("token_embedding.weight").to(at::kFloat);
        }
        const auto start = io::SafetensorsFile::open(root / "start" / "dit.safetensors");
        const auto startT5 = io::SafetensorsFile::open(root / "start" / "text_encoder.safetensors");
        for (const auto& [name, averaged] : saved["0.5"]) {
            const at::Tensor w0 = name.starts_with("t5.") ? startT5.tensor(name.substr(3)).to(at::kFloat)
                                                          : start.tensor(name.substr(4)).to(at::kFloat);
            const at::Tensor w1 = saved["0"][name];
            QVERIFY2((w1 - w0).abs().mean().item<double>() > 1e-2, name.c_str()); // the step moved the weights
            const at::Tensor expected = 0.1 * w0 + 0.9 * w1;
            // Rounding to bf16 (relative 2^-8) of the saved w1 and of the saved average, element by element.
            const at::Tensor error = (averaged - expected).abs();
            const at::Tensor bound = std::ldexp(1.0, -8) * (w1.abs() + averaged.abs());
            QVERIFY2(error.le(bound).all().item<bool>(),
                     qPrintable(QString("%1: element %2 is not 0.1·w0 + 0.9·w1 to bf16 rounding (largest error %3)")
                                    .arg(name.c_str()).arg((error - bound).argmax().item<int64_t>())
                                    .arg(error.max().item<double>())));
        }
    }

    // An interrupted DiT stage goes on from its last checkpoint with the step after it (the checkpoint's "step" is the
    // number of steps it holds), and its moving average goes on too: starting the average again from the resumed
    // weights (its checkpoint deleted) gives another model.
    void anInterruptedDiTResumesFromItsCheckpoint() {
        QTemporaryDir dir;
        const fs::path root = fs::path(dir.path().toStdString());
        DemoTrainSettings s = tinySettings(root / "a");
        s.ditSteps = 6;
        s.ditEma = 0.5;
        s.ditCheckpointEvery = 2;
        s.profileAfterSteps = 4; // the hook runs before step 4: steps 0-3 are done, the checkpoint after step 3 holds 4
        s.profileSteps = [](const std::function<void()>&) { throw std::runtime_error("simulated crash"); };
        try {
            trainDemoModel(s);
            QFAIL("the simulated crash did not stop the run");
        } catch (const std::runtime_error& e) {
            QCOMPARE(QString(e.what()), QString("simulated crash"));
        }
        QVERIFY(!fs::exists(root / "a" / "dit.safetensors"));
        QCOMPARE(io::SafetensorsFile::open(root / "a" / "dit.ckpt.safetensors").metadata().at("step"), std::string("4"));
        const auto emaMeta = io::SafetensorsFile::open(root / "a" / "dit.ema.ckpt.safetensors").metadata();
        QCOMPARE(emaMeta.at("step"), std::string("4"));
        QCOMPARE(emaMeta.at("ema_start"), std::string("0"));
        fs::copy(root / "a", root / "b", fs::copy_options::recursive);
        fs::remove(root / "b" / "dit.ema.ckpt.safetensors");

        std::map<std::string, at::Tensor> q;
        for (const char* run : {"a", "b"}) {
            DemoTrainSettings again = s;
            again.outDir = root / run;
            again.profileSteps = nullptr;
            trainDemoModel(again);
            const auto dit = io::SafetensorsFile::open(root / run / "dit.safetensors");
            QCOMPARE(dit.metadata().at("steps"), std::string("6"));
            QVERIFY(!fs::exists(root / run / "dit.ckpt.safetensors") && !fs::exists(root / run / "dit.ema.ckpt.safetensors"));
            // The held-out probe ran at the first run's start, at the resumed start (step 4) and at the end.
            std::vector<double> steps;
            for (const auto& row : rows(root / run / "curves" / "dit_heldout.csv")) {
                steps.push_back(row[0]);
            }
            QCOMPARE(steps, (std::vector<double>{0, 4, 6}));
            q[run] = dit.tensor("blocks.0.self_attn.q.weight").to(at::kFloat);
        }
        QVERIFY2(!at::equal(q["a"], q["b"]), "the resumed moving average made no difference");
    }

    // The trainer rotates q/k in float32 (RopeTable::to); inference keeps the reference's float64 rotation. The two
    // agree to float32 rounding.
    void float32RotationAgreesWithTheReference() {
        at::manual_seed(3);
        const RopeTable table = RopeTable::build(32, 2, 3, 4, at::kCPU);
        QCOMPARE(table.cos.scalar_type(), at::kDouble);
        const RopeTable single = table.to(at::kFloat);
        QCOMPARE(single.cos.scalar_type(), at::kFloat);
        const at::Tensor x = at::randn({2, 24, 3, 32});
        const at::Tensor reference = applyRope(x, table), fast = applyRope(x, single);
        QCOMPARE(fast.scalar_type(), at::kFloat);
        const double rel = ((fast - reference).norm() / reference.norm()).item<double>();
        QVERIFY2(rel < 1e-6, qPrintable(QString("float32 rotation off by %1").arg(rel)));
        QVERIFY(!at::allclose(reference, x)); // it rotates
    }

    // stopBeforeDiT leaves the folder a data-parallel group reads; --dit-bf16 trains the same DiT in mixed precision
    // (autocast engaged: the weights differ from the float32 run's from the same start, and stay finite).
    void mixedPrecisionFromAPreparedFolder() {
        QTemporaryDir dir;
        const fs::path prepared = fs::path(dir.path().toStdString()) / "prepared";
        DemoTrainSettings s = tinySettings(prepared);
        s.stopBeforeDiT = true;
        trainDemoModel(s);
        QVERIFY(fs::exists(prepared / "dataset.safetensors") && fs::exists(prepared / "vae.safetensors"));
        QVERIFY(!fs::exists(prepared / "dit.safetensors") && !fs::exists(prepared / "ditstudio-model.json"));

        std::map<bool, at::Tensor> weights;
        for (const bool bf16 : {false, true}) {
            const fs::path out = fs::path(dir.path().toStdString()) / (bf16 ? "bf16" : "fp32");
            fs::copy(prepared, out, fs::copy_options::recursive);
            DemoTrainSettings t = tinySettings(out);
            t.ditBfloat16 = bf16;
            trainDemoModel(t);
            const auto dit = io::SafetensorsFile::open(out / "dit.safetensors");
            QCOMPARE(dit.metadata().at("steps"), std::string("3"));
            weights[bf16] = dit.tensor("blocks.0.self_attn.q.weight").to(at::kFloat);
            QVERIFY(at::isfinite(weights[bf16]).all().item<bool>());
        }
        QVERIFY2(!at::equal(weights[false], weights[true]), "the bf16 run trained exactly as the float32 one");

        // A dataset records its world's object scale; preparing with another scale builds it again.
        const auto scaleOf = [&] {
            return io::SafetensorsFile::open(prepared / "dataset.safetensors").metadata().at("object_scale");
        };
        QCOMPARE(scaleOf(), std::string("1.3")); // the world's default
        QCOMPARE(io::SafetensorsFile::open(prepared / "dataset.safetensors").metadata().at("world_version"),
                 std::to_string(SyntheticWorld::kVersion));
        const at::Tensor before = io::SafetensorsFile::open(prepared / "dataset.safetensors").tensor("latents").clone();
        s.objectScale = 1.5f;
        trainDemoModel(s);
        QCOMPARE(scaleOf(), std::string("1.5"));
        QVERIFY(!at::equal(io::SafetensorsFile::open(prepared / "dataset.safetensors").tensor("latents"), before));

        // A profile request: the hook is called once, after profileAfterSteps steps, and each call of the function
        // it gets runs one real step of the run (the run still ends after ditSteps steps in all).
        const fs::path profiled = fs::path(dir.path().toStdString()) / "profiled";
        fs::copy(prepared, profiled, fs::copy_options::recursive);
        DemoTrainSettings t = tinySettings(profiled);
        t.ditSteps = 5;
        t.profileAfterSteps = 1;
        int hookCalls = 0;
        t.profileSteps = [&hookCalls](const std::function<void()>& oneStep) {
            ++hookCalls;
            oneStep();
            oneStep();
        };
        trainDemoModel(t);
        QCOMPARE(hookCalls, 1);
        QCOMPARE(io::SafetensorsFile::open(profiled / "dit.safetensors").metadata().at("steps"), std::string("5"));
        const auto curve = losses(profiled / "curves" / "dit_loss.csv");
        QCOMPARE(curve.size(), size_t(2)); // steps 0 and 4 (every 25th and the last)

        // A data-parallel DiT stage needs its collectives and the prepared folder, and says which is missing.
        DemoTrainSettings p = tinySettings(fs::path(dir.path().toStdString()) / "empty");
        p.parallel.worldSize = 2;
        requireConfigError([&] { trainDemoModel(p); }, "rank 0 of 2 needs both collectives");
        p.parallel.sumInPlace = [](at::Tensor&) {};
        p.parallel.broadcastFromLeader = [](at::Tensor&) {};
        requireConfigError([&] { trainDemoModel(p); },
                           "spiece.model is missing; the stages before the DiT run first");
    }

    void badSettingsAreRefusedNamingThem() {
        QTemporaryDir dir;
        const fs::path out = fs::path(dir.path().toStdString()) / "model";
        DemoTrainSettings s = tinySettings(out);
        s.vaeCropSize = 12;
        requireConfigError([&] { trainDemoModel(s); }, "VAE crop size must be a multiple of 8");
        s = tinySettings(out);
        s.vaeCropFrames = 4;
        requireConfigError([&] { trainDemoModel(s); }, "VAE crop frames must be 4k+1");
        s = tinySettings(out);
        s.dit.patchSize = {1, 3, 3};
        requireConfigError([&] { trainDemoModel(s); },
                           "DiT patch 3 does not divide the 4 latent positions of a 32-pixel clip");
        s = tinySettings(out);
        s.ditCheckpointEvery = 0;
        requireConfigError([&] { trainDemoModel(s); }, "DiT checkpoint interval must be at least 1 step, got 0");
        s = tinySettings(out);
        s.ditEma = 1;
        requireConfigError([&] { trainDemoModel(s); }, "DiT moving-average decay must be in [0, 1) (0: raw weights), got 1");
        requireConfigError([&] { prepareDiTContinuation(out); }, "dit.safetensors does not exist");
        QVERIFY(!fs::exists(out / "ditstudio-model.json"));
    }
};

QTEST_GUILESS_MAIN(DemoTrainerTest)
#include "test_demo_trainer.moc"
