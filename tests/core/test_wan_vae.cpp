// Wan VAE: the golden case, streaming vs one-pass decode, tiling geometry, weight checking, uint8 conversion.
#include "core/io/weight_source.h"
#include "core/models/wan_vae.h"
#include "core/util/error.h"
#include "core/verify/golden.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <map>

using namespace ditstudio;

static const std::string kWeights = std::string(DITSTUDIO_GOLDEN_DIR) + "/vae_tiny.weights.safetensors";

static std::map<std::string, at::Tensor> goldenTensors() {
    const auto source = io::WeightSource::open(kWeights);
    std::map<std::string, at::Tensor> tensors;
    for (const auto& name : source.names()) {
        tensors[name] = source.tensor(name).clone();
    }
    return tensors;
}

static double relL2(const at::Tensor& a, const at::Tensor& b) {
    return ((a.to(at::kDouble) - b.to(at::kDouble)).norm() / b.to(at::kDouble).norm()).item<double>();
}

// Constructs the VAE and returns the error message ("" when it loads).
static QString loadError(std::map<std::string, at::Tensor> tensors) {
    const auto source = io::WeightSource::fromTensors(std::move(tensors), "edited vae_tiny");
    try {
        WanVAE vae(source, WanVAEConfig::fromWeights(io::WeightSource::open(kWeights)), at::kFloat, at::kCPU);
        return "";
    } catch (const ModelError& e) {
        return QString::fromStdString(e.what());
    }
}

class WanVaeTest : public QObject {
    Q_OBJECT
private slots:
    void goldenCasePasses() {
        const auto results = verify::runCases(DITSTUDIO_GOLDEN_DIR, {"vae_tiny"}, verify::Options{});
        QCOMPARE(results.size(), size_t(1));
        const auto& r = results.front();
        QVERIFY2(r.status == verify::Status::Pass, verify::formatResult(r).c_str());
        QCOMPARE(r.checks.size(), size_t(4)); // decode, tiled decode, encode, uint8 frames
    }

    void configIsInferredFromWeights() {
        const auto cfg = WanVAEConfig::fromWeights(io::WeightSource::open(kWeights));
        QCOMPARE(cfg.dim, int64_t(8));
        QCOMPARE(cfg.zDim, int64_t(16));
        QCOMPARE(cfg.numResBlocks, int64_t(2));
        QCOMPARE(cfg.temporalDownsample, (std::vector<bool>{false, true, true}));
        QCOMPARE(cfg.spatialFactor(), int64_t(8));
        QCOMPARE(cfg.temporalFactor(), int64_t(4));
    }

    void streamingDecodeEqualsOnePassDecode_data() {
        QTest::addColumn<int>("framesPerCall");
        QTest::newRow("two latent frames per call") << 2;
        QTest::newRow("whole stream in one call") << 4;
    }
    void streamingDecodeEqualsOnePassDecode() {
        QFETCH(int, framesPerCall);
        const auto source = io::WeightSource::open(kWeights);
        const WanVAE vae(source, WanVAEConfig::fromWeights(source), at::kFloat, at::kCPU);
        at::manual_seed(11);
        const at::Tensor z = at::randn({1, 16, 4, 3, 5}); // [B, z, T, h, w]
        std::vector<int64_t> chunkFrames;
        std::vector<at::Tensor> chunks;
        const at::Tensor streamed = vae.decode(z, [&](const at::Tensor& frames) {
            chunkFrames.push_back(frames.size(2));
            chunks.push_back(frames);
        });
        QCOMPARE(streamed.sizes().vec(), (std::vector<int64_t>{1, 3, 13, 24, 40}));
        QCOMPARE(chunkFrames, (std::vector<int64_t>{1, 4, 4, 4}));
        QVERIFY(at::equal(at::cat(chunks, 2), streamed));
        QVERIFY(streamed.abs().max().item<float>() <= 1.0f);

        const at::Tensor onePass = vae.decodeChunked(z, framesPerCall);
        const double err = relL2(onePass, streamed);
        QVERIFY2(err < 1e-5, qPrintable(QString("rel. L2 %1").arg(err)));
    }

    void dataAfterTheFirstFrameChangesOnlyLaterFrames() {
        // Causality: changing latent frame 2 leaves pixel frames 0..4 (from latent frames 0 and 1) untouched.
        const auto source = io::WeightSource::open(kWeights);
        const WanVAE vae(source, WanVAEConfig::fromWeights(source), at::kFloat, at::kCPU);
        at::manual_seed(12);
        at::Tensor z = at::randn({1, 16, 3, 2, 3});
        const at::Tensor a = vae.decode(z);
        z.select(2, 2).add_(1.0);
        const at::Tensor b = vae.decode(z);
        QVERIFY(at::equal(a.slice(2, 0, 5), b.slice(2, 0, 5)));
        QVERIFY(!at::equal(a.slice(2, 5, 9), b.slice(2, 5, 9)));
    }

    void tilesOf480x832MatchTheSpec() {
        const TileSettings tiles; // 30×52 every 15×26 latents
        const auto regions = tileRegions(60, 104, tiles);
        QCOMPARE(regions.size(), size_t(9));
        const int64_t hs[] = {0, 15, 30}, ws[] = {0, 26, 52};
        for (size_t i = 0; i < regions.size(); ++i) {
            QCOMPARE(regions[i].h, hs[i / 3]);
            QCOMPARE(regions[i].w, ws[i % 3]);
            QCOMPARE(regions[i].hEnd - regions[i].h, int64_t(30));
            QCOMPARE(regions[i].wEnd - regions[i].w, int64_t(52));
        }
        // Corner tile: no ramp at the image border, 120 px ramp at the bottom, 208 px at the right.
        const at::Tensor corner = tileBlendWeight(regions[0], 60, 104, tiles);
        QCOMPARE(corner.sizes().vec(), (std::vector<int64_t>{240, 416}));
        QCOMPARE(corner[0][0].item<float>(), 1.0f);
        QCOMPARE(corner[119][207].item<float>(), 1.0f);
        QCOMPARE(corner[239][0].item<float>(), 1.0f / 120);
        QCOMPARE(corner[0][415].item<float>(), 1.0f / 208);
        QCOMPARE(corner[239][415].item<float>(), 1.0f / 208); // minimum, not product
        // Centre tile: ramps on all four sides.
        const at::Tensor centre = tileBlendWeight(regions[4], 60, 104, tiles);
        QCOMPARE(centre[0][0].item<float>(), 1.0f / 208);
        QCOMPARE(centre[0][208].item<float>(), 1.0f / 120);
        QCOMPARE(centre[119][207].item<float>(), 1.0f);
        QCOMPARE(centre[60][300].item<float>(), 61.0f / 120);
        QCOMPARE(centre[239][415].item<float>(), 1.0f / 208);
        // Last tile: ramps only at the top and left.
        const at::Tensor last = tileBlendWeight(regions[8], 60, 104, tiles);
        QCOMPARE(last[239][415].item<float>(), 1.0f);
        QCOMPARE(last[0][415].item<float>(), 1.0f / 120);
        // Every canvas pixel gets weight from some tile.
        at::Tensor canvas = at::zeros({480, 832});
        for (const auto& r : regions) {
            canvas.slice(0, 8 * r.h, 8 * r.hEnd).slice(1, 8 * r.w, 8 * r.wEnd) += tileBlendWeight(r, 60, 104, tiles);
        }
        QVERIFY(canvas.min().item<float>() > 0);
    }

    void tileWhoseNeighbourReachedTheEndIsSkipped() {
        // vae_tiny: 8×12 latents, tiles 4×6 every 2×3 → h ∈ {0, 2, 4} (6 is skipped), w ∈ {0, 3, 6} (9 is skipped).
        const auto regions = tileRegions(8, 12, TileSettings{4, 6, 2, 3});
        QCOMPARE(regions.size(), size_t(9));
        QCOMPARE(regions.back().h, int64_t(4));
        QCOMPARE(regions.back().w, int64_t(6));
        // 5 latents with tiles of 4 every 2: h = 0, 2 (4 is skipped as 2 + 4 reaches 5); the last tile is clipped.
        const auto clipped = tileRegions(5, 3, TileSettings{4, 4, 2, 2});
        QCOMPARE(clipped.size(), size_t(2));
        QCOMPARE(clipped[1].h, int64_t(2));
        QCOMPARE(clipped[1].hEnd, int64_t(5));
        QCOMPARE(clipped[1].wEnd, int64_t(3));
    }

    void missingTensorIsNamed() {
        auto tensors = goldenTensors();
        tensors.erase("decoder.middle.1.proj.bias");
        const QString error = loadError(tensors);
        QVERIFY2(error.contains("missing tensor 'decoder.middle.1.proj.bias'"), qPrintable(error));
    }

    void misShapedTensorIsNamed() {
        auto tensors = goldenTensors();
        tensors["decoder.upsamples.3.time_conv.weight"] = at::zeros({64, 32, 3, 3, 3});
        const QString error = loadError(tensors);
        QVERIFY2(error.contains("tensor 'decoder.upsamples.3.time_conv.weight' has wrong shape; expected "
                                "[64, 32, 3, 1, 1], got [64, 32, 3, 3, 3]"),
                 qPrintable(error));
    }

    void unexpectedTensorIsNamed() {
        auto tensors = goldenTensors();
        tensors["decoder.middle.3.residual.0.gamma"] = at::ones({32, 1, 1, 1});
        const QString error = loadError(tensors);
        QVERIFY2(error.contains("'decoder.middle.3.residual.0.gamma'"), qPrintable(error));
    }

    void diffSynthPrefixIsDetected() {
        std::map<std::string, at::Tensor> prefixed;
        for (auto& [name, t] : goldenTensors()) {
            prefixed["model." + name] = t;
        }
        const auto source = io::WeightSource::fromTensors(prefixed, "model.-prefixed vae_tiny");
        const auto cfg = WanVAEConfig::fromWeights(source);
        QCOMPARE(cfg.dim, int64_t(8));
        const WanVAE vae(source, cfg, at::kFloat, at::kCPU);
        QCOMPARE(vae.prefix(), std::string("model."));
        const auto plainSource = io::WeightSource::open(kWeights);
        const WanVAE plain(plainSource, cfg, at::kFloat, at::kCPU);
        at::manual_seed(13);
        const at::Tensor z = at::randn({1, 16, 2, 2, 2});
        QVERIFY(at::equal(vae.decode(z), plain.decode(z)));
    }

    void badInputsAreClearErrors() {
        const auto source = io::WeightSource::open(kWeights);
        const WanVAE vae(source, WanVAEConfig::fromWeights(source), at::kFloat, at::kCPU);
        QVERIFY_THROWS_EXCEPTION(ConfigError, vae.decode(at::zeros({1, 8, 2, 2, 2})));
        QVERIFY_THROWS_EXCEPTION(ConfigError, vae.encode(at::zeros({1, 3, 6, 16, 16}))); // T must be 4k+1
        QVERIFY_THROWS_EXCEPTION(ConfigError, vae.encode(at::zeros({1, 3, 5, 12, 16}))); // H multiple of 8
        QVERIFY_THROWS_EXCEPTION(ConfigError, vae.decodeTiled(at::zeros({1, 16, 1, 4, 4}), TileSettings{2, 2, 3, 1}));
        QVERIFY_THROWS_EXCEPTION(ConfigError, WanVAEConfig::fromJson(nlohmann::json{{"z_dim", 4}}));
        QVERIFY_THROWS_EXCEPTION(ConfigError, WanVAEConfig::fromJson(nlohmann::json{{"dim_mult", "1,2"}}));
    }

    void configReadsTheReferenceNames() {
        const auto cfg = WanVAEConfig::fromJson(nlohmann::json{
            {"dim", 8}, {"z_dim", 16}, {"dim_mult", {1, 2, 4, 4}}, {"num_res_blocks", 2},
            {"temperal_downsample", {false, true, true}}, {"latent_mean", std::vector<double>(16, 0.5)},
            {"latent_std", std::vector<double>(16, 2.0)}});
        QCOMPARE(cfg.dim, int64_t(8));
        QCOMPARE(cfg.latentMean[3], 0.5f);
        QCOMPARE(cfg.latentStd[15], 2.0f);
        QCOMPARE(WanVAEConfig{}.latentMean[7], 1.5508f);
        QCOMPARE(WanVAEConfig{}.latentStd[0], 2.8184f);
    }

    void uint8FramesTruncate() {
        // One frame, one row of 4 pixels: R = 0.999, −1, 1, 0; G = −2 (clipped), 2 (clipped), −0.5, 0.5; B = 0.
        at::Tensor video = at::zeros({1, 3, 1, 1, 4});
        video[0][0][0][0] = at::tensor({0.999f, -1.0f, 1.0f, 0.0f});
        video[0][1][0][0] = at::tensor({-2.0f, 2.0f, -0.5f, 0.5f});
        const at::Tensor frames = videoToUint8Frames(video);
        QCOMPARE(frames.scalar_type(), at::kByte);
        QCOMPARE(frames.sizes().vec(), (std::vector<int64_t>{1, 1, 4, 3}));
        const at::Tensor expected = at::tensor({254, 0, 127, 0, 255, 127, 255, 63, 127, 127, 191, 127}, at::kByte)
                                        .view({1, 1, 4, 3});
        QVERIFY2(at::equal(frames, expected), qPrintable(QString::fromStdString(c10::str(frames.flatten()))));
        QVERIFY_THROWS_EXCEPTION(ConfigError, videoToUint8Frames(at::zeros({2, 3, 1, 2, 2})));
    }
};

QTEST_GUILESS_MAIN(WanVaeTest)
#include "test_wan_vae.moc"
