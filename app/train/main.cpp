// ditstudio-train: trains the embedded demo model (see core/training/demo_trainer.h).
// With --ranks N the DiT stage is data-parallel: this process runs the stages before the DiT, then launches N copies
// of itself as a rank group (parallel/launcher.h: one per GPU with --device cuda, NCCL; CPU processes with the
// CPU transport otherwise) with the same options; each finds DITSTUDIO_RANK set and trains its share.
#include "core/training/content_probe.h"
#include "core/training/demo_trainer.h"
#include "core/util/error.h"
#include "kernels/bench_profile.h"
#include "parallel/launcher.h"
#include "parallel/rank_session.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/DeviceAccelerator.h>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace {

using namespace ditstudio;

// A rank of a data-parallel group (DITSTUDIO_RANK is set): joins the group and trains the DiT stage.
int runRank(training::DemoTrainSettings s) {
    parallel::RankSession session(parallel::RankEnvironment::fromEnvironment());
    auto& world = session.world();
    s.device = session.environment().device;
    if (world.rank() != 0) {
        s.profileSteps = nullptr; // the leader profiles; the others step on with it
    }
    s.parallel = {world.rank(), world.size(), [&world](at::Tensor& t) { world.allReduceSum(t); },
                  [&world](at::Tensor& t) { world.broadcast(t, 0); }};
    training::trainDemoModel(s);
    world.barrier(); // nobody leaves while the leader still writes the model
    return parallel::kRankExitOk;
}

// The launcher side of --ranks N: the stages before the DiT here, then the rank group for the DiT stage.
void trainDataParallel(training::DemoTrainSettings s, int ranks, int argc, char** argv) {
    s.stopBeforeDiT = true;
    training::trainDemoModel(s);
    if (std::filesystem::exists(s.outDir / "ditstudio-model.json")) {
        return; // already complete
    }
    if (s.device.is_cuda()) {
        at::accelerator::emptyCache(); // give GPU 0 back to rank 0: this process only waits from here on
    }
    parallel::LaunchSpec spec;
    spec.executable = std::filesystem::read_symlink("/proc/self/exe");
    spec.arguments.assign(argv + 1, argv + argc);
    spec.worldSize = ranks;
    spec.degrees.ulysses = ranks; // the launcher checks degrees against the world; data-parallel ranks ignore them
    for (int r = 0; r < ranks; ++r) {
        spec.devices.push_back(s.device.is_cuda() ? "cuda:" + std::to_string(r) : "cpu");
    }
    spec.logName = "dit rank";
    spec.startupTimeout = std::chrono::minutes(5);
    spec.environment[parallel::env::kCommTimeoutS] = "1800"; // the leader may save a checkpoint while others wait
    spdlog::info("[dit] data parallel over {} {} ranks", ranks, s.device.is_cuda() ? "GPU" : "CPU");
    parallel::RankGroup group;
    group.start(spec);
    if (group.waitForExit(std::chrono::hours(24 * 365)) != parallel::RankGroup::Outcome::Succeeded) {
        throw Error("data-parallel DiT training failed: " + group.failureReason());
    }
}

} // namespace

int main(int argc, char** argv) {
    using namespace ditstudio;
    CLI::App app{"Train the DiT Studio demo model on the synthetic shape world"};
    training::DemoTrainSettings s;
    std::string out = "demo-model", device = "cpu";
    app.add_option("--out", out, "Output folder (stages already complete there are skipped: resumable)");
    app.add_option("--device", device, "cpu or cuda");
    app.add_option("--seed", s.seed);
    app.add_option("--vae-steps", s.vaeSteps);
    app.add_option("--vae-batch", s.vaeBatch);
    app.add_option("--vae-seconds", s.vaeSeconds, "Time budget of the VAE stage");
    app.add_option("--vae-dim", s.vaeDim);
    app.add_option("--vae-lr", s.vaeLr);
    app.add_option("--vae-crop-share", s.vaeCropShare, "Share of the VAE stage spent on cropped short clips")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--vae-crop-size", s.vaeCropSize, "Side of those crops (multiple of 8)");
    app.add_option("--vae-crop-frames", s.vaeCropFrames, "Frames of those clips (4k+1)");
    app.add_option("--dit-lr", s.ditLr);
    app.add_option("--clips", s.datasetClips, "Clips in the DiT's training set");
    app.add_option("--dit-steps", s.ditSteps);
    app.add_option("--dit-batch", s.ditBatch);
    app.add_option("--dit-seconds", s.ditSeconds, "Time budget of the DiT stage");
    app.add_option("--dit-object-weight", s.ditObjectWeight,
                   "Weight of object latents (and their outline) in the DiT's loss; 1 = plain MSE")
        ->check(CLI::Range(1.0, 100.0));
    app.add_option("--dit-ema", s.ditEma,
                   "Decay of the moving average of the DiT's (and a training text encoder's) weights that the model "
                   "folder gets; 0 saves the raw weights")
        ->check(CLI::Range(0.0, 0.99999));
    app.add_option("--dit-sigma-shift", s.ditSigmaShift,
                   "Shift of the training noise levels (1 = uniform σ; larger favours high noise)")
        ->check(CLI::Range(0.1, 20.0));
    app.add_option("--text-encoder-lr", s.textEncoderLr,
                   "Train the text encoder with the DiT at this learning rate (0: keep it frozen)")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--text-length", s.textLength,
                   "Context rows the DiT reads (the pipeline's text_length; padding rows are zeros it must look past)")
        ->check(CLI::Range(8, 512));
    app.add_flag("--dit-bf16", s.ditBfloat16,
                 "Train the DiT in bfloat16 mixed precision (autocast forwards; float32 weights, optimiser, loss)");
    app.add_option("--dit-layers", s.dit.numLayers);
    app.add_option("--dit-dim", s.dit.dim);
    app.add_option("--dit-heads", s.dit.numHeads);
    int64_t ditPatch = s.dit.patchSize[1];
    app.add_option("--dit-patch", ditPatch,
                   "Spatial patch of the DiT (Wan: 2; 1 gives every latent pixel its own token, 4x the tokens)")
        ->check(CLI::Range(1, 4));
    app.add_option("--object-scale", s.objectScale,
                   "Object sizes of the synthetic world: radii 0.10-0.22 of the frame side times this, in [0.5, 1.6] "
                   "(a dataset of another scale is built again)");
    app.add_option("--frames", s.frames);
    app.add_option("--size", s.height, "Height = width of the training clips");
    app.add_option("--commit", s.trainingCommit, "Commit recorded in the manifest");
    bool continueDiT = false;
    app.add_flag("--continue-dit", continueDiT,
                 "Train the finished DiT in --out further (a fresh schedule of --dit-steps/--dit-seconds)");
    bool prepareOnly = false;
    app.add_flag("--prepare-only", prepareOnly,
                 "Run the stages before the DiT (tokenizer, text encoder, VAE, dataset) and stop: several DiT "
                 "trainings can then start from the same folder's data");
    int ranks = 1;
    app.add_option("--ranks", ranks,
                   "Train the DiT data-parallel over this many processes (one per GPU with --device cuda; "
                   "--dit-batch is per rank)")
        ->check(CLI::Range(1, 64));
    std::string profilePath;
    int profileIters = 3;
    app.add_option("--profile", profilePath,
                   "Profile DiT training steps (after 20 steps of warm-up) per kernel: JSON to this file, tables to "
                   "the log; with --ranks, rank 0's");
    app.add_option("--profile-iters", profileIters, "Training steps under the profiler (default 3)")
        ->needs("--profile");
    int evaluateSeeds = 0;
    app.add_option("--evaluate", evaluateSeeds,
                   "Afterwards, score the model's content (colour, shape, direction) over this many seeds")
        ->check(CLI::NonNegativeNumber);
    CLI11_PARSE(app, argc, argv);
    s.width = s.height;
    s.outDir = out;
    s.dit.ffnDim = 4 * s.dit.dim;
    s.dit.patchSize = {1, ditPatch, ditPatch};
    spdlog::set_level(spdlog::level::info);
    if (!profilePath.empty()) {
        try {
            kernels::checkProfileRequest(profilePath, profileIters);
        } catch (const std::exception& e) {
            std::cerr << "error: " << e.what() << "\n";
            return 2;
        }
        s.profileSteps = [&s, profilePath, profileIters](const std::function<void()>& oneStep) {
            nlohmann::json profile = kernels::profileCalls(s.device, profileIters, oneStep);
            profile["what"] = fmt::format("DiT training step: batch {} per rank, DiT dim {} × {} layers, patch {}, {}",
                                          s.ditBatch, s.dit.dim, s.dit.numLayers, s.dit.patchSize[1],
                                          s.ditBfloat16 ? "bf16 mixed precision" : "float32");
            kernels::writeProfile(profilePath, profile);
            spdlog::info("[dit] profile of {} training step(s) written to {}\n{}", profileIters, profilePath,
                         kernels::formatProfileMarkdown(profile));
        };
    }
    const bool isRank = std::getenv(parallel::env::kRank) != nullptr;
    if (isRank) {
        spdlog::set_pattern("[%l] %v"); // the launcher prefixes the rank and its own time
    }
    try {
        if (device == "cuda") {
            if (!at::hasCUDA()) {
                std::cerr << "error: --device cuda, but no CUDA device is available\n";
                return 2;
            }
            s.device = at::Device(at::kCUDA, 0);
            at::globalContext().setAllowTF32CuBLAS(true);
            at::globalContext().setAllowTF32CuDNN(true);
        }
        if (isRank) {
            return runRank(s);
        }
        if (continueDiT) {
            training::prepareDiTContinuation(s.outDir);
        }
        if (prepareOnly) {
            s.stopBeforeDiT = true;
            training::trainDemoModel(s);
        } else if (ranks > 1) {
            if (s.device.is_cuda() && static_cast<size_t>(ranks) > at::getNumGPUs()) {
                std::cerr << "error: --ranks " << ranks << " with --device cuda, but " << at::getNumGPUs()
                          << " GPU(s) are visible\n";
                return 2;
            }
            trainDataParallel(s, ranks, argc, argv);
        } else {
            training::trainDemoModel(s);
        }
        if (evaluateSeeds > 0) {
            // The same prompts and measurements as the content test (tests/core/test_demo_content.cpp).
            std::vector<int64_t> seeds;
            for (int i = 1; i <= evaluateSeeds; ++i) {
                seeds.push_back(i);
            }
            const auto report = [](const char* what, const training::ContentScore& score) {
                for (const auto& line : score.details) {
                    spdlog::info("[evaluate] {}: {}", what, line);
                }
                for (const auto& [property, total] : score.total) {
                    spdlog::info("[evaluate] {}: {}: {}/{} = {:.0f} %", what, property, score.correct.at(property),
                                 total, 100 * score.accuracy(property));
                }
            };
            // The VAE round trip first: what it loses, the DiT cannot draw either.
            report("vae round trip", training::scoreVaeRoundTrip(s.outDir, s.device, seeds));
            report("generated", training::scoreModelContent(s.outDir, s.device, seeds));
        }
    } catch (const parallel::CommError& e) {
        std::cerr << "error: " << e.what() << "\n";
        return isRank ? parallel::kRankExitPeerLost : 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
