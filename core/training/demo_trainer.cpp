#include "core/training/demo_trainer.h"

#include "core/io/safetensors.h"
#include "core/io/weight_loader.h"
#include "core/models/umt5.h"
#include "core/models/wan_vae.h"
#include "core/tokenizer/umt5_tokenizer.h"
#include "core/training/fused_adamw.h"
#include "core/training/synthetic_world.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sentencepiece_trainer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numeric>
#include <numbers>
#include <optional>
#include <random>

namespace ditstudio::training {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

WanDiTConfig DemoTrainSettings::defaultDiT() {
    WanDiTConfig c;
    c.dim = 192;
    c.ffnDim = 768;
    c.numHeads = 6; // head dim 32: RoPE split 12/10/10
    c.numLayers = 4;
    c.textDim = 64;
    c.freqDim = 256;
    return c;
}

namespace {

UMT5Config textEncoderConfig(int64_t vocab) {
    UMT5Config c;
    c.vocab = vocab;
    c.dim = 64;
    c.dimAttn = 64;
    c.dimFfn = 128;
    c.numHeads = 4;
    c.numLayers = 2;
    c.numBuckets = 32;
    return c;
}

// Initial values by role: norms 1, biases 0, embeddings N(0, 1), the DiT head 0 (a zero velocity to start),
// everything else N(0, 1/fan_in).
at::Tensor initialValue(const std::string& name, const std::vector<int64_t>& shape, at::Device device) {
    auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
    const bool isNorm = name.find("gamma") != std::string::npos ||
                        (shape.size() == 1 && name.find("norm") != std::string::npos && name.ends_with("weight"));
    at::Tensor t;
    if (isNorm) {
        t = at::ones(shape, opts);
    } else if (name.ends_with(".bias")) {
        t = at::zeros(shape, opts);
    } else if (name == "head.head.weight") {
        t = at::zeros(shape, opts);
    } else if (name.find("token_embedding") != std::string::npos) {
        t = at::randn(shape, opts);
    } else if (name.find("pos_embedding") != std::string::npos) {
        t = at::randn(shape, opts) * 0.1;
    } else if (name.find("modulation") != std::string::npos) {
        t = at::randn(shape, opts) / std::sqrt(static_cast<double>(shape.back()));
    } else {
        int64_t fanIn = 1;
        for (size_t i = 1; i < shape.size(); ++i) {
            fanIn *= shape[i];
        }
        t = at::randn(shape, opts) / std::sqrt(static_cast<double>(std::max<int64_t>(fanIn, 1)));
    }
    return t.requires_grad_(true);
}

std::vector<std::pair<std::string, at::Tensor>> asList(const std::map<std::string, at::Tensor>& m,
                                                       at::ScalarType dtype = at::kFloat) {
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (const auto& [k, v] : m) {
        out.emplace_back(k, v.detach().to(at::kCPU, dtype));
    }
    return out;
}

std::vector<at::Tensor> parameters(const std::map<std::string, at::Tensor>& m) {
    std::vector<at::Tensor> out;
    for (const auto& [k, v] : m) {
        out.push_back(v);
    }
    return out;
}

class CurveWriter {
public:
    // append: a curve that goes on (a resumed or continued stage); a file that is new or empty gets the header.
    CurveWriter(const fs::path& path, bool append, const char* header = "step,loss,seconds")
        : out_(path, append ? std::ios::app : std::ios::trunc) {
        if (!append || fs::file_size(path) == 0) {
            out_ << header << "\n";
        }
    }
    void add(int64_t step, double loss, double seconds) { out_ << step << "," << loss << "," << seconds << "\n"; }
    void add(int64_t step, const std::vector<double>& values) {
        out_ << step;
        for (double v : values) {
            out_ << "," << v;
        }
        out_ << "\n";
    }

private:
    std::ofstream out_;
};

// Video batch [B, 3, T, H, W] from the world, on the device.
at::Tensor videoBatch(const SyntheticWorld& world, uint64_t seed, uint64_t first, int64_t count, at::Device device,
                      std::vector<std::string>* captions = nullptr) {
    std::vector<at::Tensor> clips;
    for (int64_t i = 0; i < count; ++i) {
        Clip c = world.sample(seed, first + static_cast<uint64_t>(i), device);
        clips.push_back(c.video);
        if (captions) {
            captions->push_back(c.caption);
        }
    }
    return at::stack(clips);
}

// Crops of `size`×`size` pixels and the first `frames` frames of clips, centred near one of the objects most of the
// time (a random crop of a plain background teaches nothing). The VAE is convolutional and its causal stream looks
// the same after two chunks, so most of its training runs on these at a fraction of the cost of full clips.
at::Tensor croppedBatch(const SyntheticWorld& world, uint64_t seed, uint64_t first, int64_t count, at::Device device,
                        int64_t frames, int64_t size, std::mt19937_64& rng) {
    std::vector<at::Tensor> clips;
    const int64_t H = world.settings().height, W = world.settings().width;
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    for (int64_t i = 0; i < count; ++i) {
        Clip c = world.sample(seed, first + static_cast<uint64_t>(i), device);
        float cx = unit(rng), cy = unit(rng);
        if (unit(rng) < 0.75f && !c.objects.empty()) {
            const auto& o = c.objects[rng() % c.objects.size()];
            cx = o.x0 + (unit(rng) - 0.5f) * 0.2f;
            cy = o.y0 + (unit(rng) - 0.5f) * 0.2f;
        }
        const int64_t top = std::clamp<int64_t>(static_cast<int64_t>(cy * H) - size / 2, 0, H - size);
        const int64_t left = std::clamp<int64_t>(static_cast<int64_t>(cx * W) - size / 2, 0, W - size);
        clips.push_back(c.video.slice(1, 0, frames).slice(2, top, top + size).slice(3, left, left + size));
    }
    return at::stack(clips); // [B, 3, frames, size, size]
}

// Object pixels (those far from the clip's background colour, the per-channel median) weigh 5× in L1 + MSE: they
// cover a few percent of a frame, and an autoencoder that draws only the background is otherwise a deep minimum.
at::Tensor objectMask(const at::Tensor& x) {
    at::Tensor background = std::get<0>(x.flatten(2).median(2)).view({x.size(0), x.size(1), 1, 1, 1});
    return ((x - background).abs().amax(1, true) > 0.1).to(at::kFloat); // [B, 1, T, H, W]
}

at::Tensor objectWeightedLoss(const at::Tensor& y, const at::Tensor& x) {
    at::Tensor w = 1.0 + 4.0 * objectMask(x);
    at::Tensor d = y - x;
    return ((d.abs() + d.pow(2)) * w).sum() / (w.sum() * x.size(1));
}

// Object positions of normalised latents [B, C, F, h, w]: far from the frame's median latent (the background),
// grown by one position each way. → [B, 1, F, h, w] in {0, 1}.
at::Tensor latentObjectMask(const at::Tensor& z) {
    at::Tensor background = std::get<0>(z.flatten(3).median(3)).unsqueeze(-1).unsqueeze(-1);
    at::Tensor distance = (z - background).pow(2).mean(1, true);                  // [B, 1, F, h, w]
    at::Tensor peak = distance.amax({3, 4}, true);
    at::Tensor mask = (distance > (peak * 0.1).clamp_min(1e-4)).to(at::kFloat);
    return at::max_pool3d(mask, {1, 3, 3}, {1, 1, 1}, {0, 1, 1});
}

struct ReconstructionQuality {
    double objectL1 = 0, backgroundL1 = 0;
};

ReconstructionQuality measureReconstruction(const WanVAE& vae, const SyntheticWorld& world, uint64_t seed,
                                            at::Device device) {
    at::NoGradGuard noGrad;
    at::Tensor x = videoBatch(world, seed, 0, 16, device);
    at::Tensor y = vae.decodeChunked(vae.encode(x), 1 << 20);
    at::Tensor mask = objectMask(x);
    at::Tensor err = (y - x).abs().mean(1, true);
    return {(err * mask).sum().item<double>() / std::max(mask.sum().item<double>(), 1.0),
            (err * (1 - mask)).sum().item<double>() / std::max((1 - mask).sum().item<double>(), 1.0)};
}

// Linear warm-up over the first 100 steps, then cosine decay to 10 % as `done` goes 0 → 1.
double warmupCosine(int64_t step, double done) {
    const double warm = std::min(1.0, (step + 1) / 100.0);
    return warm * (0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * std::clamp(done, 0.0, 1.0))));
}

nlohmann::json vaeJson(int64_t dim, const std::vector<float>& mean, const std::vector<float>& stdev) {
    return {{"dim", dim}, {"z_dim", 16}, {"dim_mult", {1, 2, 4, 4}}, {"num_res_blocks", 2},
            {"temperal_downsample", {false, true, true}}, {"latent_mean", mean}, {"latent_std", stdev}};
}

// ETA: whichever ends the stage first, its step count or its time budget.
void progress(const char* stage, int64_t step, int64_t total, double budgetSeconds, double loss,
              Clock::time_point start) {
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    const double rate = step / std::max(secs, 1e-9);
    const double eta = std::min((total - step) / std::max(rate, 1e-9), std::max(budgetSeconds - secs, 0.0));
    if (step == 0) {
        spdlog::info("[{}] step 0/{} loss {:.5f}", stage, total, loss); // no rate to tell an ETA from yet
        return;
    }
    spdlog::info("[{}] step {}/{} loss {:.5f} {:.1f} it/s ETA {:.0f}s", stage, step, total, loss, rate, eta);
}

// While alive: matrix products (linear, attention) of the forward run in bfloat16 through ATen's autocast, weights,
// optimiser state and the loss stay float32 (mixed precision). Nothing when `enabled` is false.
class BFloat16Autocast {
public:
    BFloat16Autocast(at::Device device, bool enabled) : type_(device.type()), enabled_(enabled) {
        if (enabled_) {
            previous_ = at::autocast::is_autocast_enabled(type_);
            previousDtype_ = at::autocast::get_autocast_dtype(type_);
            at::autocast::set_autocast_dtype(type_, at::kBFloat16);
            at::autocast::set_autocast_enabled(type_, true);
        }
    }
    ~BFloat16Autocast() {
        if (enabled_) {
            at::autocast::set_autocast_enabled(type_, previous_);
            at::autocast::set_autocast_dtype(type_, previousDtype_);
            at::autocast::clear_cache();
        }
    }
    BFloat16Autocast(const BFloat16Autocast&) = delete;
    BFloat16Autocast& operator=(const BFloat16Autocast&) = delete;

private:
    at::DeviceType type_;
    bool enabled_;
    bool previous_ = false;
    at::ScalarType previousDtype_ = at::kFloat;
};

// Data parallel: the ranks must end with the same weights (they took the same steps from the same start). Each
// rank's checksum goes into its own slot of a vector summed over the ranks; a rank that differs is an Error.
void checkRanksAgree(const DataParallel& dp, const std::vector<at::Tensor>& weights, int64_t step) {
    at::NoGradGuard noGrad;
    double sum = 0, weighted = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
        const at::Tensor w = weights[i].detach().to(at::kDouble);
        sum += w.sum().item<double>();
        weighted += (w.abs() * static_cast<double>(i + 1)).sum().item<double>();
    }
    at::Tensor all = at::zeros({dp.worldSize, 2}, weights.front().options().dtype(at::kDouble));
    all[dp.rank][0] = sum;
    all[dp.rank][1] = weighted;
    dp.sumInPlace(all);
    all = all.cpu();
    for (int r = 1; r < dp.worldSize; ++r) {
        if (!at::equal(all[r], all[0])) {
            throw Error(fmt::format("data-parallel training: after step {} rank {} holds other weights than rank 0 "
                                    "(checksums {:.17g}/{:.17g} vs {:.17g}/{:.17g})", step, r,
                                    all[r][0].item<double>(), all[r][1].item<double>(), all[0][0].item<double>(),
                                    all[0][1].item<double>()));
        }
    }
    spdlog::info("[dit] the {} ranks hold the same weights after step {}", dp.worldSize, step);
}

} // namespace

void prepareDiTContinuation(const fs::path& outDir) {
    const fs::path dit = outDir / "dit.safetensors";
    if (!fs::exists(dit) && fs::exists(outDir / "dit.start.safetensors")) {
        spdlog::info("[dit] {} is already prepared: the continuation goes on", (outDir / "dit.start.safetensors").string());
        return; // an interrupted continuation, or one whose data was prepared first (--prepare-only)
    }
    if (!fs::exists(dit)) {
        throw ConfigError(fmt::format("--continue-dit: {} does not exist (train the DiT first)", dit.string()));
    }
    fs::rename(dit, outDir / "dit.start.safetensors");
    fs::remove(outDir / "ditstudio-model.json");
}

void trainDemoModel(const DemoTrainSettings& s) {
    if (s.vaeCropSize % 8 != 0 || s.vaeCropSize < 16 || s.vaeCropSize > std::min(s.height, s.width)) {
        throw ConfigError(fmt::format("VAE crop size must be a multiple of 8 in [16, {}], got {}",
                                      std::min(s.height, s.width), s.vaeCropSize));
    }
    if (s.vaeCropFrames % 4 != 1 || s.vaeCropFrames > s.frames) {
        throw ConfigError(fmt::format("VAE crop frames must be 4k+1 and at most {}, got {}", s.frames, s.vaeCropFrames));
    }
    if (s.ditCheckpointEvery < 1) {
        throw ConfigError(fmt::format("DiT checkpoint interval must be at least 1 step, got {}", s.ditCheckpointEvery));
    }
    if (!(s.ditEma >= 0 && s.ditEma < 1)) {
        throw ConfigError(fmt::format("DiT moving-average decay must be in [0, 1) (0: raw weights), got {}", s.ditEma));
    }
    for (const int64_t axis : {int64_t{1}, int64_t{2}}) {
        const int64_t latent = (axis == 1 ? s.height : s.width) / 8, patch = s.dit.patchSize[axis];
        if (patch < 1 || latent % patch != 0) {
            throw ConfigError(fmt::format("DiT patch {} does not divide the {} latent positions of a {}-pixel clip "
                                          "(size / 8)", patch, latent, axis == 1 ? s.height : s.width));
        }
    }
    if (fs::exists(s.outDir / "ditstudio-model.json")) {
        spdlog::info("[manifest] {} exists: every stage is complete (delete it, or vae/dit, to train again)",
                     (s.outDir / "ditstudio-model.json").string());
        return;
    }
    const DataParallel& dp = s.parallel;
    if (dp.active()) {
        if (!dp.sumInPlace || !dp.broadcastFromLeader || dp.rank < 0 || dp.rank >= dp.worldSize) {
            throw ConfigError(fmt::format("data-parallel training: rank {} of {} needs both collectives", dp.rank,
                                          dp.worldSize));
        }
        for (const char* name : {"tokenizer/spiece.model", "text_encoder.safetensors", "vae.safetensors",
                                 "dataset.safetensors"}) {
            if (!fs::exists(s.outDir / name)) {
                throw ConfigError(fmt::format("data-parallel DiT training: {} is missing; the stages before the DiT "
                                              "run first, in one process (DemoTrainSettings::stopBeforeDiT)",
                                              (s.outDir / name).string()));
            }
        }
    }
    const SyntheticWorld world(WorldSettings{s.frames, s.height, s.width, 2, s.objectScale}); // checks its settings
    fs::create_directories(s.outDir / "tokenizer");
    fs::create_directories(s.outDir / "curves");
    at::manual_seed(s.seed);

    // 1. Tokenizer.
    const fs::path spm = s.outDir / "tokenizer" / "spiece.model";
    if (!fs::exists(spm)) {
        const fs::path corpus = s.outDir / "tokenizer" / "corpus.txt";
        {
            std::ofstream out(corpus);
            for (const auto& c : world.captionCorpus(s.seed + 1000, 20000)) {
                out << c << "\n";
            }
        }
        const auto status = sentencepiece::SentencePieceTrainer::Train(fmt::format(
            "--input={} --model_prefix={} --vocab_size={} --model_type=unigram --character_coverage=1.0 "
            "--pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --hard_vocab_limit=false --minloglevel=2",
            corpus.string(), (s.outDir / "tokenizer" / "spiece").string(), s.vocabSize));
        if (!status.ok()) {
            throw Error(fmt::format("SentencePiece training failed: {}", status.ToString()));
        }
        fs::remove(corpus);
        fs::remove(s.outDir / "tokenizer" / "spiece.vocab");
        spdlog::info("[tokenizer] trained {}", spm.string());
    }
    const auto tokenizer = UMT5Tokenizer::fromFile(spm);
    const UMT5Config t5cfg = textEncoderConfig(tokenizer.vocabSize());

    // 2. Text encoder: a randomly initialised UMT5; frozen (the DiT's text embedding and cross-attention learn to
    //    read it) or trained with the DiT (DemoTrainSettings::textEncoderLr).
    const fs::path t5File = s.outDir / "text_encoder.safetensors";
    if (!fs::exists(t5File)) {
        std::map<std::string, at::Tensor> created;
        {
            io::ScopedWeightInit init([&](const std::string& n, const std::vector<int64_t>& sh) {
                return initialValue(n, sh, at::kCPU);
            }, &created);
            const auto empty = io::WeightSource::fromTensors({}, "init");
            UMT5Encoder probe(empty, t5cfg, at::kFloat, at::kCPU);
        }
        io::saveSafetensors(t5File, asList(created));
        spdlog::info("[text encoder] {} tensors written to {}", created.size(), t5File.string());
    }

    // 3. VAE.
    const fs::path vaeFile = s.outDir / "vae.safetensors";
    const fs::path vaeCkpt = s.outDir / "vae.ckpt.safetensors";
    if (!fs::exists(vaeFile)) {
        std::map<std::string, at::Tensor> weights;
        int64_t startStep = 0;
        WanVAEConfig raw = WanVAEConfig::fromJson(vaeJson(s.vaeDim, std::vector<float>(16, 0.f), std::vector<float>(16, 1.f)));
        std::unique_ptr<WanVAE> vae;
        {
            std::optional<io::WeightSource> resume;
            if (fs::exists(vaeCkpt)) {
                resume = io::WeightSource::open(vaeCkpt);
                const auto f = io::SafetensorsFile::open(vaeCkpt);
                startStep = std::stoll(f.metadata().at("step"));
                for (const auto& n : resume->names()) {
                    weights[n] = resume->tensor(n).to(s.device, at::kFloat).clone().requires_grad_(true);
                }
            }
            const auto source = io::WeightSource::fromTensors(weights, "vae-training");
            io::ScopedWeightInit init([&](const std::string& n, const std::vector<int64_t>& sh) {
                return initialValue(n, sh, s.device);
            }, &weights);
            vae = std::make_unique<WanVAE>(source, raw, at::kFloat, s.device);
        }
        const auto params = parameters(weights);
        FusedAdamW opt(params, {.lr = s.vaeLr, .weightDecay = 1e-4});
        CurveWriter curve(s.outDir / "curves" / "vae_loss.csv", startStep > 0);
        const auto start = Clock::now();
        std::mt19937_64 cropRng(s.seed + 31);
        int64_t step = startStep;
        for (; step < s.vaeSteps; ++step) {
            const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            if (elapsed > s.vaeSeconds) {
                spdlog::info("[vae] time budget spent at step {}", step);
                break;
            }
            // Progress by steps or by time, whichever runs out first: drives the schedule and the two phases.
            const double done = std::max(static_cast<double>(step) / s.vaeSteps, elapsed / s.vaeSeconds);
            const bool fullClips = done >= s.vaeCropShare;
            opt.setLearningRate(s.vaeLr * warmupCosine(step, done));
            const int64_t batch = fullClips ? s.vaeBatch : s.vaeBatch * s.vaeCropBatchFactor;
            at::Tensor x = fullClips
                               ? videoBatch(world, s.seed, static_cast<uint64_t>(step) * batch, batch, s.device)
                               : croppedBatch(world, s.seed, static_cast<uint64_t>(step) * batch, batch, s.device,
                                              s.vaeCropFrames, s.vaeCropSize, cropRng);
            at::Tensor z = vae->encode(x);                              // [B, 16, F, h, w]
            at::Tensor zNoisy = z + 0.05 * at::randn_like(z);           // decoder robustness to imperfect latents
            at::Tensor y = vae->decodeRaw(zNoisy, z.size(2)).to(at::kFloat); // one causal pass, unclamped
            at::Tensor loss = objectWeightedLoss(y, x) + 1e-4 * z.pow(2).mean();
            opt.zeroGrad();
            loss.backward();
            opt.clipGradNorm(1.0);
            opt.step();
            if (step % 25 == 0 || step + 1 == s.vaeSteps) {
                const double l = loss.item<double>();
                curve.add(step, l, std::chrono::duration<double>(Clock::now() - start).count());
                if (step % 100 == 0) {
                    progress("vae", step, s.vaeSteps, s.vaeSeconds, l, start);
                }
            }
            if ((step + 1) % 500 == 0) { // "step": the steps it holds (a resumed run starts with the next)
                io::saveSafetensors(vaeCkpt, asList(weights), {{"step", std::to_string(step + 1)}});
            }
        }
        const ReconstructionQuality quality = measureReconstruction(*vae, world, s.seed + 9, s.device);
        spdlog::info("[vae] reconstruction of 16 held-out clips: object pixels L1 {:.4f}, background L1 {:.4f}",
                     quality.objectL1, quality.backgroundL1);
        // 4. Latent statistics of the trained encoder (per channel), for the normalisation the pipeline applies.
        at::NoGradGuard noGrad;
        std::vector<at::Tensor> zs;
        for (int64_t i = 0; i < 64; i += 8) {
            zs.push_back(vae->encode(videoBatch(world, s.seed + 7, i, 8, s.device)));
        }
        at::Tensor all = at::cat(zs).transpose(0, 1).reshape({16, -1}); // [16, N]
        at::Tensor mean = all.mean(1).cpu(), stdev = all.std(1).clamp_min(1e-3).cpu();
        std::vector<float> meanV(mean.data_ptr<float>(), mean.data_ptr<float>() + 16);
        std::vector<float> stdV(stdev.data_ptr<float>(), stdev.data_ptr<float>() + 16);
        io::saveSafetensors(vaeFile, asList(weights, at::kBFloat16),
                            {{"config", vaeJson(s.vaeDim, meanV, stdV).dump()}, {"steps", std::to_string(step)},
                             {"object_l1", fmt::format("{:.4f}", quality.objectL1)},
                             {"background_l1", fmt::format("{:.4f}", quality.backgroundL1)}});
        fs::remove(vaeCkpt);
        spdlog::info("[vae] saved {} after {} steps", vaeFile.string(), step);
    }
    const auto vaeSource = io::WeightSource::open(vaeFile);
    const auto vaeMeta = io::SafetensorsFile::open(vaeFile).metadata();
    const WanVAEConfig vaeCfg = WanVAEConfig::fromJson(nlohmann::json::parse(vaeMeta.at("config")));
    const WanVAE vae(vaeSource, vaeCfg, at::kFloat, s.device);

    // 5. Dataset: normalised latents and caption token ids (valid ids, then pad 0; the mask is id position < length),
    // and a held-out set of clips the DiT never trains on (its loss at fixed noise tells generalising from memorising).
    const fs::path dataFile = s.outDir / "dataset.safetensors";
    const int64_t heldOutClips = std::clamp<int64_t>(s.datasetClips / 8, 2, 256);
    if (fs::exists(dataFile)) {
        const auto f = io::SafetensorsFile::open(dataFile);
        const auto meta = f.metadata();
        const auto scale = meta.find("object_scale");
        const float builtScale = scale == meta.end() ? 1.0f : std::stof(scale->second);
        const auto version = meta.find("world_version");
        const int builtWorld = version == meta.end() ? 1 : std::stoi(version->second);
        if (!f.contains("ids") || f.find("ids")->shape.back() > s.textLength || !f.contains("heldout_latents") ||
            builtScale != s.objectScale || builtWorld != SyntheticWorld::kVersion) {
            spdlog::info("[dataset] {} is not this run's (caption ids of at most {} tokens, held-out clips, object "
                         "scale {} (it has {}), world version {} (it has {})): building it again", dataFile.string(),
                         s.textLength, s.objectScale, builtScale, SyntheticWorld::kVersion, builtWorld);
            fs::remove(dataFile);
        }
    }
    if (!fs::exists(dataFile)) {
        at::NoGradGuard noGrad;
        const auto built = Clock::now();
        // Clips per VAE call: the encoder's causal chunks are many small kernels, so a GPU wants large batches.
        const int64_t chunk = s.device.is_cuda() ? 64 : 16;
        const auto encodeClips = [&](uint64_t seed, int64_t count, const char* what) {
            std::vector<at::Tensor> lat, ids;
            std::vector<int64_t> lens;
            int64_t maxLen = 1;
            for (int64_t i = 0; i < count; i += chunk) {
                std::vector<std::string> captions;
                at::Tensor x = videoBatch(world, seed, i, std::min(chunk, count - i), s.device, &captions);
                lat.push_back(vae.encode(x).cpu());
                for (const auto& c : captions) {
                    const auto enc = tokenizer.encode(c, s.textLength);
                    ids.push_back(enc.ids[0].slice(0, 0, enc.validTokens));
                    lens.push_back(enc.validTokens);
                    maxLen = std::max(maxLen, enc.validTokens);
                }
                if (count >= 8 * chunk && (i / chunk) % std::max<int64_t>(1, count / chunk / 10) == 0) {
                    spdlog::info("[dataset] {}: {}/{} clips encoded", what, i + chunk, count);
                }
            }
            for (auto& row : ids) {
                row = at::constant_pad_nd(row, {0, maxLen - row.size(0)}, 0);
            }
            return std::tuple{at::cat(lat), at::stack(ids), at::tensor(lens, at::kLong)};
        };
        const auto [lat, ids, lens] = encodeClips(s.seed + 100, s.datasetClips, "training");
        const auto [heldLat, heldIds, heldLens] = encodeClips(s.seed + 300, heldOutClips, "held-out");
        io::saveSafetensors(dataFile, {{"latents", lat}, {"ids", ids}, {"lengths", lens},
                                       {"heldout_latents", heldLat}, {"heldout_ids", heldIds},
                                       {"heldout_lengths", heldLens}},
                          {{"object_scale", fmt::format("{}", s.objectScale)},
                           {"world_version", std::to_string(SyntheticWorld::kVersion)}});
        const double secs = std::chrono::duration<double>(Clock::now() - built).count();
        spdlog::info("[dataset] {} training clips (+{} held out) in {:.1f} s ({:.0f} clips/s), latents {}, caption ids {}",
                     lat.size(0), heldLat.size(0), secs, (lat.size(0) + heldLat.size(0)) / std::max(secs, 1e-9),
                     c10::str(lat.sizes()), c10::str(ids.sizes()));
    }
    if (s.stopBeforeDiT) {
        spdlog::info("[dataset] ready: the stages before the DiT are complete in {}", s.outDir.string());
        return;
    }

    const auto dataset = io::SafetensorsFile::open(dataFile);
    at::Tensor latents = dataset.tensor("latents").to(s.device);
    // Per-position loss weights of every clip, once: object latents and their outline weigh ditObjectWeight.
    const at::Tensor lossWeights = 1.0 + (s.ditObjectWeight - 1.0) * latentObjectMask(latents); // [N, 1, F, h, w]
    const auto idsAndMask = [&](const char* ids, const char* lengths) {
        at::Tensor t = dataset.tensor(ids).to(s.device);
        return std::pair{t, at::arange(t.size(1), t.options()).unsqueeze(0).lt(
                                dataset.tensor(lengths).to(s.device).unsqueeze(1))}; // [N, Lt] each
    };
    const auto [tokenIdsFile, tokenMaskFile] = idsAndMask("ids", "lengths");
    const at::Tensor tokenIds = tokenIdsFile, tokenMask = tokenMaskFile; // (lambdas below capture these)
    const at::Tensor emptyIds = tokenizer.encode("", s.textLength).ids.slice(1, 0, tokenIds.size(1)).to(s.device);
    const at::Tensor emptyMask = at::arange(tokenIds.size(1), tokenIds.options()).lt(1).unsqueeze(0); // [1, Lt]: EOS

    // 6. DiT, flow matching: x_t = (1 − σ)·x0 + σ·ε, target v = ε − x0, t = 1000·σ.
    const fs::path ditFile = s.outDir / "dit.safetensors";
    const fs::path ditCkpt = s.outDir / "dit.ckpt.safetensors";
    const fs::path ditStart = s.outDir / "dit.start.safetensors"; // a finished DiT to continue (--continue-dit)
    const fs::path t5Ckpt = s.outDir / "text_encoder.ckpt.safetensors"; // its text encoder, when that trains too
    if (!fs::exists(ditFile)) {
        std::map<std::string, at::Tensor> weights;
        int64_t startStep = 0, priorSteps = 0; // priorSteps: of the finished DiT this run continues
        std::unique_ptr<WanDiT> dit;
        {
            const fs::path from = fs::exists(ditCkpt) ? ditCkpt : ditStart;
            if (fs::exists(from)) {
                const auto resume = io::WeightSource::open(from);
                const auto meta = io::SafetensorsFile::open(from).metadata();
                startStep = from == ditCkpt ? std::stoll(meta.at("step")) : 0;
                priorSteps = std::stoll(meta.count("prior_steps") ? meta.at("prior_steps") : meta.at("steps"));
                int64_t startLayers = 0;
                for (const auto& n : resume.names()) {
                    weights[n] = resume.tensor(n).to(s.device, at::kFloat).clone().requires_grad_(true);
                    if (n.starts_with("blocks.")) {
                        startLayers = std::max<int64_t>(startLayers, std::stoll(n.substr(7)) + 1);
                    }
                }
                if (startLayers > s.dit.numLayers) {
                    throw ConfigError(fmt::format("{} has {} DiT layers; a continuation can keep or add layers, not "
                                                  "drop them (--dit-layers {})", from.string(), startLayers,
                                                  s.dit.numLayers));
                }
                spdlog::info("[dit] continuing from {} ({} earlier steps, step {} of this run)", from.string(),
                             priorSteps, startStep);
            }
            // Continuing with more layers than the start has (--continue-dit --dit-layers N): the new blocks join as
            // identities — their attention and FFN output projections start at zero — so the DiT computes what it
            // computed before and the new depth learns from there.
            const bool growing = !weights.empty();
            const auto source = io::WeightSource::fromTensors(weights, "dit-training");
            io::ScopedWeightInit init([&](const std::string& n, const std::vector<int64_t>& sh) {
                const bool output = n.ends_with(".self_attn.o.weight") || n.ends_with(".cross_attn.o.weight") ||
                                    n.ends_with(".ffn.2.weight");
                if (growing && output && n.starts_with("blocks.")) {
                    if (n.ends_with(".self_attn.o.weight")) {
                        spdlog::info("[dit] {} is new: it joins as an identity (zero output projections)",
                                     n.substr(0, n.find(".self_attn")));
                    }
                    return at::zeros(sh, at::TensorOptions().dtype(at::kFloat).device(s.device)).requires_grad_(true);
                }
                return initialValue(n, sh, s.device);
            }, &weights);
            dit = std::make_unique<WanDiT>(source, s.dit, at::kFloat, s.device);
            // The eager path with the rotation in float32: the reference's float64 RoPE was 16 % of a training
            // step's GPU time (18.4 of 115 ms, H200); the two agree to ~1e-7 relative. Inference keeps float64.
            DiTBlockOps ops = DiTBlockOps::eager();
            ops.ropeTable = [](int64_t headDim, int64_t f, int64_t h, int64_t w, at::Device device) {
                return RopeTable::build(headDim, f, h, w, device).to(at::kFloat);
            };
            dit->setOps(std::move(ops));
        }
        const auto params = parameters(weights);
        FusedAdamW opt(params, {.lr = s.ditLr, .weightDecay = 1e-4});
        const int64_t n = latents.size(0), L = s.textLength;

        // The text encoder: frozen (every caption encoded once) or trained with the DiT (its own optimiser).
        const bool trainText = s.textEncoderLr > 0;
        std::map<std::string, at::Tensor> t5Params;
        {
            const fs::path from = trainText && fs::exists(ditCkpt) && fs::exists(t5Ckpt) ? t5Ckpt : t5File;
            const auto source = io::WeightSource::open(from);
            for (const auto& name : source.names()) {
                t5Params[name] = source.tensor(name).to(s.device, at::kFloat).clone().requires_grad_(trainText);
            }
        }
        const UMT5Encoder textEncoder(io::WeightSource::fromTensors(t5Params, "text-encoder-training"), t5cfg,
                                      at::kFloat, s.device);
        const auto t5List = parameters(t5Params);
        std::optional<FusedAdamW> optText;
        if (trainText) {
            optText.emplace(t5List, FusedAdamW::Options{.lr = s.textEncoderLr, .weightDecay = 1e-4});
            spdlog::info("[dit] the text encoder trains with the DiT (learning rate {})", s.textEncoderLr);
        }
        // The moving average of the weights (DemoTrainSettings::ditEma), kept by the leader; a resumed run takes it
        // from the checkpoint of the same step, or starts it from the resumed weights.
        const fs::path emaCkpt = s.outDir / "dit.ema.ckpt.safetensors";
        std::vector<std::string> emaNames;
        std::vector<at::Tensor> live, ema;
        int64_t emaStart = startStep; // the step its decay warms up from
        if (s.ditEma > 0 && dp.isLeader()) {
            for (const auto& [name, w] : weights) {
                emaNames.push_back("dit." + name);
                live.push_back(w);
            }
            for (const auto& [name, w] : trainText ? t5Params : std::map<std::string, at::Tensor>{}) {
                emaNames.push_back("text_encoder." + name);
                live.push_back(w);
            }
            std::optional<io::SafetensorsFile> saved;
            if (startStep > 0 && fs::exists(emaCkpt)) {
                saved.emplace(io::SafetensorsFile::open(emaCkpt));
                const auto meta = saved->metadata();
                if (!meta.count("step") || meta.at("step") != std::to_string(startStep) || !meta.count("ema_start") ||
                    !std::all_of(emaNames.begin(), emaNames.end(), [&](const auto& n) { return saved->contains(n); })) {
                    spdlog::warn("[dit] {} is not the moving average of step {}'s weights: it starts again from them",
                                 emaCkpt.string(), startStep);
                    saved.reset();
                } else {
                    emaStart = std::stoll(meta.at("ema_start"));
                }
            }
            for (size_t i = 0; i < live.size(); ++i) {
                ema.push_back(saved ? saved->tensor(emaNames[i]).to(s.device, at::kFloat)
                                    : live[i].detach().clone());
            }
            spdlog::info("[dit] moving average of the weights: decay {}{}", s.ditEma,
                         saved ? fmt::format(" (resumed from {})", emaCkpt.string()) : "");
        }
        const auto saveEma = [&](int64_t step) {
            std::vector<std::pair<std::string, at::Tensor>> list;
            for (size_t i = 0; i < ema.size(); ++i) {
                list.emplace_back(emaNames[i], ema[i]);
            }
            io::saveSafetensors(emaCkpt, list, {{"step", std::to_string(step)}, {"ema_start", std::to_string(emaStart)}});
        };

        // Captions → contexts [B, L, 64] as the pipeline builds them (rows past each caption's length are zero).
        const auto encodeCaptions = [&](const at::Tensor& ids, const at::Tensor& mask) {
            const at::Tensor c = textEncoder.encode(ids, mask);
            return at::constant_pad_nd(c, {0, 0, 0, L - c.size(1)});
        };
        at::Tensor frozenContexts, frozenEmpty; // the frozen encoder's outputs, [N, Lt, 64] and [1, L, 64]
        if (!trainText) {
            at::NoGradGuard noGrad;
            std::vector<at::Tensor> parts;
            for (int64_t i = 0; i < n; i += 512) {
                const int64_t e = std::min(n, i + 512);
                parts.push_back(textEncoder.encode(tokenIds.slice(0, i, e), tokenMask.slice(0, i, e)));
            }
            frozenContexts = at::cat(parts);
            frozenEmpty = encodeCaptions(emptyIds, emptyMask);
        }

        // The velocity loss at fixed noise (seeded once) and a few noise levels, on the held-out clips and on as many
        // training clips: the gap between the two says whether the DiT generalises or memorises its dataset
        // (curves/dit_heldout.csv; the leader measures it every 500 steps and at the end).
        const std::vector<double> probeSigmas{0.25, 0.5, 0.75, 0.9};
        struct FixedNoiseSet {
            at::Tensor x0, ids, mask, weights, eps;
        };
        const auto fixedNoiseSet = [&](const at::Tensor& x0, const at::Tensor& ids, const at::Tensor& mask) {
            at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(s.seed + 4242);
            at::Tensor eps = at::randn(x0.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(s.device);
            return FixedNoiseSet{x0, ids, mask, 1.0 + (s.ditObjectWeight - 1.0) * latentObjectMask(x0), eps};
        };
        const auto [heldIds, heldMask] = idsAndMask("heldout_ids", "heldout_lengths");
        const FixedNoiseSet heldOut = fixedNoiseSet(dataset.tensor("heldout_latents").to(s.device), heldIds, heldMask);
        const int64_t probeClips = std::min(heldOut.x0.size(0), n);
        const FixedNoiseSet seen = fixedNoiseSet(latents.slice(0, 0, probeClips), tokenIds.slice(0, 0, probeClips),
                                                 tokenMask.slice(0, 0, probeClips));
        const auto fixedNoiseLoss = [&](const FixedNoiseSet& set) {
            at::NoGradGuard noGrad;
            const at::Tensor ctx = encodeCaptions(set.ids, set.mask);
            std::vector<double> out;
            for (const double sigma : probeSigmas) {
                at::Tensor xt = (1 - sigma) * set.x0 + sigma * set.eps;
                at::Tensor v = dit->forward(xt, at::full({set.x0.size(0)}, sigma * 1000.0, xt.options()), ctx);
                at::Tensor loss = ((v - (set.eps - set.x0)).pow(2) * set.weights).sum() /
                                  (set.weights.sum() * set.x0.size(1));
                out.push_back(loss.item<double>());
            }
            return out;
        };
        std::optional<CurveWriter> heldOutCurve;
        if (dp.isLeader()) {
            heldOutCurve.emplace(s.outDir / "curves" / "dit_heldout.csv", startStep + priorSteps > 0,
                                 "step,sigma_0.25_heldout,sigma_0.5_heldout,sigma_0.75_heldout,sigma_0.9_heldout,"
                                 "sigma_0.25_train,sigma_0.5_train,sigma_0.75_train,sigma_0.9_train");
        }
        const auto measureHeldOut = [&](int64_t step, bool record) {
            std::vector<double> held = fixedNoiseLoss(heldOut);
            const std::vector<double> train = fixedNoiseLoss(seen);
            const auto mean = [](const std::vector<double>& v) {
                return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
            };
            spdlog::info("[dit] step {}: fixed-noise loss on {} held-out clips {:.4f}, on as many training clips {:.4f} "
                         "(by σ {}: {:.4f} vs {:.4f})", priorSteps + step, heldOut.x0.size(0), mean(held), mean(train),
                         fmt::join(probeSigmas, "/"), fmt::join(held, "/"), fmt::join(train, "/"));
            if (record) {
                held.insert(held.end(), train.begin(), train.end());
                heldOutCurve->add(priorSteps + step, held);
            }
        };

        // Data parallel: every rank starts from the leader's weights and draws batches of its own.
        std::vector<at::Tensor> synced = params;
        if (trainText) {
            synced.insert(synced.end(), t5List.begin(), t5List.end());
        }
        if (dp.active()) {
            at::NoGradGuard noGrad;
            for (auto& p : synced) {
                at::Tensor w = p.detach();
                dp.broadcastFromLeader(w);
            }
            at::manual_seed(s.seed * 7919 + 104729 * static_cast<uint64_t>(dp.rank + 1));
            spdlog::info("[dit] data parallel: rank {} of {}, {} clips per rank and step ({} in all)", dp.rank,
                         dp.worldSize, s.ditBatch, s.ditBatch * dp.worldSize);
        }
        std::optional<CurveWriter> curve;
        if (dp.isLeader()) {
            curve.emplace(s.outDir / "curves" / "dit_loss.csv", startStep + priorSteps > 0);
        }
        const auto start = Clock::now();
        auto opts = at::TensorOptions().device(s.device);
        // The leader's clock rules the schedule and the time budget, so that every rank sets the same rate.
        double elapsed = 0, meanLoss = 0;
        int64_t step = startStep;
        // One training step (also what a profile request times: DemoTrainSettings::profileSteps).
        const auto trainStep = [&](int64_t step) {
            const double schedule =
                warmupCosine(step, std::max(static_cast<double>(step) / s.ditSteps, elapsed / s.ditSeconds));
            opt.setLearningRate(s.ditLr * schedule);
            if (optText) {
                optText->setLearningRate(s.textEncoderLr * schedule);
            }
            std::optional<BFloat16Autocast> mixed(std::in_place, s.device, s.ditBfloat16);
            at::Tensor idx = at::randint(n, {s.ditBatch}, opts.dtype(at::kLong));
            at::Tensor x0 = latents.index_select(0, idx);               // [B, 16, F, h, w]
            at::Tensor ctx = trainText ? encodeCaptions(tokenIds.index_select(0, idx), tokenMask.index_select(0, idx))
                                       : at::constant_pad_nd(frozenContexts.index_select(0, idx),
                                                             {0, 0, 0, L - frozenContexts.size(1)}); // [B, L, 64]
            const at::Tensor empty = trainText ? encodeCaptions(emptyIds, emptyMask) : frozenEmpty;    // [1, L, 64]
            at::Tensor drop = at::rand({s.ditBatch, 1, 1}, opts.dtype(at::kFloat)) < s.captionDropout;
            ctx = at::where(drop, empty, ctx);
            // σ: shifted uniform (DemoTrainSettings::ditSigmaShift).
            at::Tensor u = at::rand({s.ditBatch}, opts.dtype(at::kFloat));
            at::Tensor sigma = s.ditSigmaShift * u / (1.0 + (s.ditSigmaShift - 1.0) * u);
            at::Tensor eps = at::randn_like(x0);
            at::Tensor sig = sigma.view({-1, 1, 1, 1, 1});
            at::Tensor xt = (1 - sig) * x0 + sig * eps;
            at::Tensor v = dit->forward(xt, sigma * 1000.0, ctx).to(at::kFloat);
            mixed.reset(); // the loss and the backward outside autocast
            at::Tensor w = lossWeights.index_select(0, idx);            // [B, 1, F, h, w]
            at::Tensor loss = ((v - (eps - x0)).pow(2) * w).sum() / (w.sum() * x0.size(1));
            opt.zeroGrad();
            if (optText) {
                optText->zeroGrad();
            }
            loss.backward();
            if (dp.active()) {
                // One all-reduce per step: every gradient, then the loss and the leader's clock.
                at::NoGradGuard noGrad;
                std::vector<at::Tensor> parts;
                for (const auto& p : synced) {
                    parts.push_back(p.grad().defined() ? p.grad().reshape(-1) : at::zeros({p.numel()}, p.options()));
                }
                const double now = dp.isLeader() ? std::chrono::duration<double>(Clock::now() - start).count() : 0;
                parts.push_back(loss.detach().reshape(1));
                parts.push_back(at::full({1}, now, loss.options()));
                at::Tensor flat = at::cat(parts);
                dp.sumInPlace(flat);
                flat.div_(dp.worldSize);
                int64_t offset = 0;
                for (auto& p : synced) {
                    at::Tensor g = flat.slice(0, offset, offset + p.numel()).view(p.sizes());
                    if (p.grad().defined()) {
                        p.mutable_grad().copy_(g);
                    } else {
                        p.mutable_grad() = g.clone();
                    }
                    offset += p.numel();
                }
                // Reading the loss and the clock back waits for the device: every 5th step (and the last) only.
                // Every rank reads at the same steps, so they keep agreeing on the schedule and on when to stop.
                if (step % 5 == 0 || step + 1 == s.ditSteps) {
                    const at::Tensor tail = flat.slice(0, offset).cpu();
                    meanLoss = tail[0].item<double>();
                    elapsed = tail[1].item<double>() * dp.worldSize;
                }
            }
            opt.clipGradNorm(1.0);
            opt.step();
            if (optText) {
                optText->clipGradNorm(1.0);
                optText->step();
            }
            if (!ema.empty()) {
                at::NoGradGuard noGrad;
                const double k = static_cast<double>(step - emaStart);
                at::_foreach_lerp_(ema, live, 1.0 - std::min(s.ditEma, (1 + k) / (10 + k)));
            }
            if (dp.isLeader() && (step % 25 == 0 || step + 1 == s.ditSteps)) {
                const double l = dp.active() ? meanLoss : loss.item<double>(); // the mean over the ranks
                curve->add(priorSteps + step, l, std::chrono::duration<double>(Clock::now() - start).count());
                if (step % 200 == 0) {
                    progress("dit", step, s.ditSteps, s.ditSeconds, l, start);
                }
            }
            // A checkpoint's "step" is the number of steps it holds: a resumed run starts with the step after them.
            const int64_t done = step + 1;
            if (dp.isLeader() && done % s.ditCheckpointEvery == 0) {
                if (trainText) { // first: a DiT checkpoint is only resumed together with its text encoder's
                    io::saveSafetensors(t5Ckpt, asList(t5Params), {{"step", std::to_string(done)}});
                }
                io::saveSafetensors(ditCkpt, asList(weights),
                                    {{"step", std::to_string(done)}, {"prior_steps", std::to_string(priorSteps)}});
                if (!ema.empty()) {
                    saveEma(done);
                }
            }
        };
        for (; step < s.ditSteps; ++step) {
            if (!dp.active()) {
                elapsed = std::chrono::duration<double>(Clock::now() - start).count();
            }
            if (elapsed > s.ditSeconds) {
                spdlog::info("[dit] time budget spent at step {}", step);
                break;
            }
            if (s.profileSteps && step == startStep + s.profileAfterSteps) {
                s.profileSteps([&] { trainStep(step++); }); // real steps of the run, timed
                --step;                                      // the loop's ++step comes next
                continue;
            }
            if (dp.isLeader() && (step - startStep) % 500 == 0) {
                measureHeldOut(step, true);
            }
            trainStep(step);
        }
        if (dp.isLeader()) {
            measureHeldOut(step, true);
        }
        if (dp.active()) {
            checkRanksAgree(dp, synced, step);
            if (!dp.isLeader()) {
                spdlog::info("[dit] rank {}: {} steps done; the leader saves the model", dp.rank, step);
                return;
            }
        }
        if (!ema.empty()) { // the folder gets the average: it takes the weights' place (their last use)
            at::NoGradGuard noGrad;
            for (size_t i = 0; i < live.size(); ++i) {
                live[i].detach().copy_(ema[i]);
            }
            spdlog::info("[dit] the model gets the moving average of its weights (decay {}); with it:", s.ditEma);
            measureHeldOut(step, false);
        }
        if (trainText) {
            io::saveSafetensors(t5File, asList(t5Params), {{"trained_with_dit_steps", std::to_string(step - startStep)}});
            fs::remove(t5Ckpt);
            spdlog::info("[text encoder] trained with the DiT: saved {}", t5File.string());
        }
        io::saveSafetensors(ditFile, asList(weights, at::kBFloat16),
                            {{"config", s.dit.toJson().dump()}, {"steps", std::to_string(priorSteps + step)},
                             {"moving_average_decay", ema.empty() ? "0" : fmt::format("{}", s.ditEma)}});
        fs::remove(ditCkpt);
        fs::remove(emaCkpt);
        fs::remove(ditStart);
        spdlog::info("[dit] saved {} after {} steps", ditFile.string(), priorSteps + step);
    }

    // 7. Preview factors: least squares from normalised latents to the clip's colours at latent resolution.
    nlohmann::json preview;
    {
        at::NoGradGuard noGrad;
        at::Tensor z = latents.slice(0, 0, 64).to(at::kFloat);                 // [N, 16, F, h, w]
        at::Tensor video = vae.decodeChunked(z.slice(0, 0, 16), z.size(2)); // [16, 3, T, H, W]
        // Latent frame 0 ↔ pixel frame 0, latent frame k ↔ mean of pixel frames 4k−3 … 4k.
        std::vector<at::Tensor> frames{video.slice(2, 0, 1)};
        for (int64_t k = 1; k < z.size(2); ++k) {
            frames.push_back(video.slice(2, 4 * k - 3, 4 * k + 1).mean(2, true));
        }
        at::Tensor target = at::avg_pool3d(at::cat(frames, 2), {1, 8, 8});      // [16, 3, F, h, w]
        at::Tensor a = z.slice(0, 0, 16).permute({0, 2, 3, 4, 1}).reshape({-1, 16});
        a = at::cat({a, at::ones({a.size(0), 1}, a.options())}, 1);              // [M, 17]
        at::Tensor b = target.permute({0, 2, 3, 4, 1}).reshape({-1, 3});         // [M, 3]
        at::Tensor sol = std::get<0>(at::linalg_lstsq(a.cpu().to(at::kDouble), b.cpu().to(at::kDouble)));
        sol = sol.to(at::kFloat);
        std::vector<std::vector<float>> m(16, std::vector<float>(3));
        for (int i = 0; i < 16; ++i) {
            for (int j = 0; j < 3; ++j) {
                m[i][j] = sol[i][j].item<float>();
            }
        }
        preview = {{"latent_rgb_factors", m},
                   {"latent_rgb_bias", {sol[16][0].item<float>(), sol[16][1].item<float>(), sol[16][2].item<float>()}}};
    }

    // 8. Manifest.
    nlohmann::json manifest = {
        {"format_version", 1},
        {"name", "DiT Studio demo (shapes)"},
        {"description", "A small Wan 2.1-architecture text-to-video model trained by DiT Studio on a synthetic world "
                        "of coloured shapes moving over plain backgrounds."},
        {"dit", {{"file", "dit.safetensors"}, {"config", s.dit.toJson()}}},
        {"vae", {{"file", "vae.safetensors"}, {"config", nlohmann::json::parse(vaeMeta.at("config"))}}},
        {"text_encoder", {{"file", "text_encoder.safetensors"}, {"config", t5cfg.toJson()}}},
        {"tokenizer", {{"file", "tokenizer/spiece.model"}}},
        {"text_length", s.textLength},
        {"preview", preview},
        {"default_preset", "demo-cpu"},
        {"license", "Apache-2.0 (weights trained by the DiT Studio project on synthetic data it generates)"},
        {"training_commit", s.trainingCommit}};
    std::ofstream(s.outDir / "ditstudio-model.json") << manifest.dump(2) << "\n";
    fs::remove(dataFile);
    spdlog::info("[manifest] {}", (s.outDir / "ditstudio-model.json").string());
}

} // namespace ditstudio::training
