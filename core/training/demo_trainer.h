// Trains the embedded demo model — the same Wan architecture (DiT, VAE, UMT5 encoder + SentencePiece tokenizer)
// at a small size — on the synthetic shape world, with LibTorch autograd through the inference model classes.
// Stages, each resumable from the files it leaves in the output folder:
//   tokenizer (SentencePiece trained on the caption corpus) → text encoder (a randomly initialised UMT5)
//   → VAE (autoencoder) → latent statistics → dataset (latents + caption token ids) → DiT (flow matching; the text
//   encoder frozen or trained with it)
//   → preview factors (latent → RGB least squares) → manifest (ditstudio-model.json).
// Loss curves go to <out>/curves/*.csv.
#pragma once
#include "core/models/wan_dit.h"
#include "core/training/synthetic_world.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace ditstudio::training {

// Data-parallel DiT training: every rank trains on batches of its own, the gradients (of the DiT and of a text
// encoder that trains with it) are summed over the ranks after every backward, and every rank takes the same
// optimiser step, so the ranks stay identical (checked when the stage ends: an Error naming the ranks that
// differ). The leader alone writes files. The callbacks are the caller's communicator (ditstudio-train: NCCL
// between GPUs, the CPU transport between CPU ranks); core itself knows no transport.
struct DataParallel {
    int rank = 0;
    int worldSize = 1;
    std::function<void(at::Tensor&)> sumInPlace;          // all-reduce sum, the same bits on every rank
    std::function<void(at::Tensor&)> broadcastFromLeader; // every rank ends with rank 0's tensor

    bool active() const { return worldSize > 1; }
    bool isLeader() const { return rank == 0; }
};

struct DemoTrainSettings {
    std::filesystem::path outDir = "demo-model";
    at::Device device = at::kCPU;
    uint64_t seed = 1;
    int64_t frames = 17, height = 128, width = 128;
    float objectScale = WorldSettings{}.objectScale; // the synthetic world's object sizes
    int64_t vocabSize = 160;
    // Context length of the pipeline (the manifest's text_length; padded rows are zero). Wan's 512 would leave ~490
    // zero rows beside a demo caption's ~25 (at most 52 tokens), which every cross-attention query must out-weigh to
    // read one word; 64 also makes a DiT step 1.65× faster.
    int64_t textLength = 64;
    int64_t vaeDim = 12;
    int64_t vaeSteps = 1500, vaeBatch = 4;
    double vaeLr = 1e-3;
    double vaeSeconds = 1e9;      // stop a stage early when its time budget is spent
    // The first vaeCropShare of the VAE stage trains on vaeCropFrames-frame vaeCropSize² crops around objects,
    // vaeCropBatchFactor× as many per batch; the rest on full clips.
    double vaeCropShare = 0.7;
    int64_t vaeCropFrames = 9, vaeCropSize = 64, vaeCropBatchFactor = 2;
    int64_t datasetClips = 4096;
    int64_t ditSteps = 4000, ditBatch = 32;
    double ditLr = 4e-4;
    double ditSeconds = 1e9;
    // > 0: the text encoder trains with the DiT at this learning rate (same schedule); 0: it stays frozen. A frozen
    // random encoder mixes every caption token into every output row, and the DiT learns words that change many
    // rows (colour, motion) long before a word that changes one (the shape).
    double textEncoderLr = 1e-3;
    double captionDropout = 0.1;  // share of samples trained with the empty prompt (for guidance)
    // Latent positions of objects (and the ring around them, where their outline is decided) weigh this much in
    // the DiT's velocity loss: objects cover a few percent of a clip, and a DiT that draws them as blobs is
    // otherwise cheap.
    double ditObjectWeight = 4.0;
    // Training noise levels: σ = k·u / (1 + (k − 1)·u), u uniform. k > 1 favours the high-noise steps the
    // sampler spends most time in; k = 1 is uniform, which trains the mid and low noise levels where outlines
    // are decided as often as the rest.
    double ditSigmaShift = 3.0;
    // The model folder gets an exponential moving average of the trained weights (the DiT's, and the text encoder's
    // when it trains): the usual remedy for the step-to-step noise of raw diffusion weights. Decay per step, warmed up
    // as min(ditEma, (1 + k) / (10 + k)) over a run's k-th step; 0 saves the raw weights. In [0, 1).
    double ditEma = 0.999;
    // The DiT stage's forwards (DiT and a text encoder that trains with it) in bfloat16 mixed precision
    // (autocast; weights, optimiser and loss in float32). Off: float32 (TF32 matmuls on CUDA).
    bool ditBfloat16 = false;
    WanDiTConfig dit = defaultDiT();
    std::string trainingCommit;   // recorded in the manifest
    // The DiT stage over several ranks (ditBatch is per rank). Every earlier stage must be complete in outDir:
    // run them first with stopBeforeDiT (ditstudio-train --ranks does), the ranks only read their files.
    DataParallel parallel;
    bool stopBeforeDiT = false;   // stop once the dataset exists (the stages a data-parallel group reads)
    // Where a DiT training step's time goes: at step (first step of the run) + profileAfterSteps, past the warm-up,
    // the trainer calls profileSteps once with a function that runs the next real step of the run each time it is
    // called (ditstudio-train --profile times a few under the kernel profiler). Empty: no profile.
    std::function<void(const std::function<void()>& oneStep)> profileSteps;
    int64_t profileAfterSteps = 20;
    // The DiT stage saves a resumable checkpoint (weights, a training text encoder's, the moving average) every this
    // many steps; an interrupted run started again with the same settings goes on from the last one.
    int64_t ditCheckpointEvery = 1000;

    static WanDiTConfig defaultDiT();
};

// Runs every stage that is not already complete in outDir. Progress through spdlog.
void trainDemoModel(const DemoTrainSettings& settings);

// Makes the finished DiT in outDir the start of a further DiT stage (ditstudio-train --continue-dit): it becomes
// dit.start.safetensors and the manifest goes, so that trainDemoModel trains it on (a fresh schedule; the step count
// in the new file's metadata adds up). A continuation already prepared (dit.start.safetensors and no DiT: interrupted,
// or its data prepared first) is left to go on. ConfigError naming the file when outDir has neither.
void prepareDiTContinuation(const std::filesystem::path& outDir);

} // namespace ditstudio::training
