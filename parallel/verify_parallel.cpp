#include "parallel/verify_parallel.h"

#include "core/io/weight_source.h"
#include "core/models/wan_dit.h"
#include "core/models/wan_vae.h"
#include "core/runtime/noise.h"
#include "core/runtime/pipeline.h"
#include "core/runtime/trace.h"
#include "core/util/error.h"
#include "core/util/json_file.h"
#include "parallel/launcher.h"
#include "parallel/usp.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>

namespace ditstudio::parallel {

namespace fs = std::filesystem;

namespace {

// The entry of a case that runs on ranks (kind dit or pipeline).
const nlohmann::json& rankEntry(const nlohmann::json& manifest, const fs::path& dir, const std::string& name) {
    const auto& cases = manifest["cases"];
    if (!cases.contains(name)) {
        throw ConfigError(fmt::format("{}: no case '{}'", (dir / "manifest.json").string(), name));
    }
    const auto& entry = cases[name];
    if (!entry.is_object() || !runsOnRanks(entry.value("kind", ""))) {
        throw ConfigError(fmt::format("case '{}' is of kind '{}': only kinds 'dit' and 'pipeline' run on a rank group",
                                      name, entry.is_object() ? entry.value("kind", "") : ""));
    }
    return entry;
}

WanDiTConfig configOf(const nlohmann::json& entry, const io::WeightSource& weights) {
    return entry.contains("config") ? WanDiTConfig::fromJson(entry["config"]) : WanDiTConfig::fromWeights(weights);
}

// The DiT entry of a case: itself (dit) or the case its "dit" key names (pipeline).
const nlohmann::json& ditEntryOf(const nlohmann::json& manifest, const std::string& name, const nlohmann::json& entry) {
    if (entry.value("kind", "") == "dit") {
        return entry;
    }
    const std::string dit = entry.at("dit").get<std::string>();
    if (!manifest["cases"].contains(dit)) {
        throw FormatError(fmt::format("case '{}' refers to dit case '{}', which the manifest does not list", name, dit));
    }
    return manifest["cases"][dit];
}

bool usesCfgOf(const nlohmann::json& entry) {
    return entry.value("kind", "") != "pipeline" || entry.value("cfg_scale", 1.0) != 1.0;
}

} // namespace

bool runsOnRanks(const std::string& kind) { return kind == "dit" || kind == "pipeline"; }

std::vector<std::pair<std::string, std::string>> listCases(const fs::path& dir, const std::vector<std::string>& names) {
    if (!fs::is_directory(dir)) {
        throw FormatError(fmt::format("{}: no such directory", dir.string()));
    }
    const auto manifest = readGoldenManifest(dir);
    const auto& cases = manifest["cases"];
    std::vector<std::pair<std::string, std::string>> result;
    if (names.empty()) {
        for (auto it = cases.begin(); it != cases.end(); ++it) {
            result.emplace_back(it.key(), it.value().is_object() ? it.value().value("kind", "") : "");
        }
        return result;
    }
    for (const auto& name : names) {
        if (!cases.contains(name)) {
            throw ConfigError(fmt::format("{}: no case '{}'", (dir / "manifest.json").string(), name));
        }
        result.emplace_back(name, cases[name].is_object() ? cases[name].value("kind", "") : "");
    }
    return result;
}

void checkDegreesForCase(const fs::path& dir, const std::string& caseName, const ParallelVerifyOptions& options) {
    const auto manifest = readGoldenManifest(dir);
    const auto& entry = rankEntry(manifest, dir, caseName);
    const auto& ditEntry = ditEntryOf(manifest, caseName, entry);
    const auto weights = io::WeightSource::open(dir / ditEntry.at("weights").get<std::string>());
    const auto cfg = configOf(ditEntry, weights);
    try {
        options.degrees.validate(cfg.numHeads, 0, usesCfgOf(entry));
    } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("case '{}': {}", caseName, e.what()));
    }
    if (options.device == "cuda") {
        const auto gpus = static_cast<int64_t>(at::getNumGPUs());
        if (gpus < options.degrees.world()) {
            throw ConfigError(fmt::format("{} needs {} GPUs (one per rank), this machine has {}",
                                          options.degrees.describe(), options.degrees.world(), gpus));
        }
    }
}

verify::CaseResult verifyDitOnRanks(Communicator& world, const ParallelDegrees& degrees, const fs::path& dir,
                                    const std::string& caseName, const verify::Options& options) {
    verify::CaseResult result;
    result.name = caseName;
    result.kind = "dit";
    const auto start = std::chrono::steady_clock::now();
    const auto manifest = readGoldenManifest(dir);
    const auto& entry = rankEntry(manifest, dir, caseName);
    if (entry.value("kind", "") == "pipeline") {
        return verifyPipelineOnRanks(world, degrees, dir, caseName, options);
    }
    const verify::CaseContext ctx{caseName, entry, dir, options, manifest};
    const auto weights = io::WeightSource::open(dir / entry.at("weights").get<std::string>());
    const auto cfg = configOf(entry, weights);
    const auto caseFile = ctx.file("case");
    WanDiT dit(weights, cfg, options.dtype, options.device);
    UspGroups groups = UspGroups::create(world, degrees, cfg.numHeads, true);
    SequenceParallelHooks hooks = makeUspHooks(groups);

    const at::Tensor x = caseFile.tensor("input.x"), t = caseFile.tensor("input.timestep");
    const at::Tensor context = caseFile.tensor("input.context");
    const at::Tensor contextNegative = context.flip({1}) * 0.5; // a second, different context for the CFG check
    constexpr double kCfgScale = 5.0;

    std::map<std::string, at::Tensor> inter;
    at::Tensor out;
    {
        ScopedTrace scope([&](const std::string& name, const at::Tensor& v) { inter[name] = v.to(at::kCPU); });
        out = dit.forward(x, t, context, &hooks); // [1, 16, F, H, W], gathered on every rank
    }
    at::Tensor guided = makeParallelVelocity(dit, groups, context, contextNegative, kCfgScale)(x, t);
    const int64_t length = inter.at("head_out").size(1);
    const ShardLayout layout{length, degrees.sequenceParallel(), groups.shardIndex()};

    if (world.rank() == 0) {
        const bool reduced = options.dtype != at::kFloat;
        const double tolerance = reduced ? 2e-2 : verify::kRelL2Tolerance; // vs one rank in the same dtype
        at::Tensor reference = dit.forward(x, t, context);                 // one process, no hooks
        at::Tensor referenceNegative = dit.forward(x, t, contextNegative);
        at::Tensor referenceGuided = referenceNegative + kCfgScale * (reference - referenceNegative);
        if (!reduced) {
            checkRelL2(result, "output", out, caseFile.tensor("output"), verify::kRelL2Tolerance);
            for (const auto& info : caseFile.tensors()) {
                if (info.name.rfind("inter.", 0) != 0) {
                    continue;
                }
                const std::string key = info.name.substr(6);
                if (!inter.count(key)) {
                    throw FormatError(fmt::format("case has {} but the model produced no such intermediate",
                                                  info.name));
                }
                if (key.rfind("block", 0) == 0) { // a sequence shard here: compare shard 0's real tokens
                    const int64_t valid = layout.validIn(0);
                    checkRelL2(result, info.name + "[shard 0]", inter[key].narrow(1, 0, valid),
                               caseFile.tensor(info.name).narrow(1, 0, valid), verify::kRelL2Tolerance);
                } else {
                    checkRelL2(result, info.name, inter[key], caseFile.tensor(info.name), verify::kRelL2Tolerance);
                }
            }
        } else {
            const double drift = entry.value("bf16_cuda_rel_l2_vs_fp32", 0.0);
            checkRelL2(result, "output(vs fp32)", out, caseFile.tensor("output"), 1.25 * drift + 0.01);
        }
        checkRelL2(result, "output vs 1 rank", out, reference, tolerance);
        checkRelL2(result, fmt::format("guided(cfg {}) vs 1 rank", kCfgScale), guided, referenceGuided, tolerance);
    }
    world.barrier(); // nobody leaves while rank 0 still needs the group
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

verify::CaseResult verifyPipelineOnRanks(Communicator& world, const ParallelDegrees& degrees, const fs::path& dir,
                                         const std::string& caseName, const verify::Options& options) {
    // Spec §7.2 as in verify_pipeline.cpp, with the velocity from makeParallelVelocity: every rank runs the same loop
    // (each ends every step with the whole guided velocity); rank 0 checks the latents and decodes.
    verify::CaseResult result;
    result.name = caseName;
    result.kind = "pipeline";
    const auto start = std::chrono::steady_clock::now();
    const auto manifest = readGoldenManifest(dir);
    const auto& entry = rankEntry(manifest, dir, caseName);
    const auto& ditEntry = ditEntryOf(manifest, caseName, entry);
    const verify::CaseContext ctx{caseName, entry, dir, options, manifest};
    const auto file = ctx.file("case");
    const auto ditWeights = io::WeightSource::open(dir / ditEntry.at("weights").get<std::string>());
    const WanDiT dit(ditWeights, configOf(ditEntry, ditWeights), options.dtype, options.device);
    const double cfgScale = entry.at("cfg_scale").get<double>();
    UspGroups groups = UspGroups::create(world, degrees, dit.config().numHeads, cfgScale != 1.0);

    const int64_t height = entry.at("height"), width = entry.at("width"), frames = entry.at("num_frames");
    at::Tensor latents = seededNoise(latentShape(height, width, frames), entry.at("seed").get<uint64_t>(),
                                     options.dtype, options.device);
    const FlowMatchScheduler scheduler(entry.at("steps").get<int64_t>(), entry.value("shift", 5.0),
                                       entry.value("denoising_strength", 1.0));
    const auto velocity = makeParallelVelocity(dit, groups, file.tensor("input.context_posi"),
                                               file.tensor("input.context_nega"), cfgScale);
    const bool exact = options.dtype == at::kFloat;
    const double tolerance = exact ? verify::kRelL2Tolerance : 0.05;
    const bool leader = world.rank() == 0;
    latents = denoise(latents, scheduler, velocity, at::kFloat, [&](const StepInfo& s) {
        const std::string key = fmt::format("step{}.latents", s.index);
        if (leader && file.contains(key)) {
            checkRelL2(result, key, *s.latents, file.tensor(key), tolerance);
        }
        return true;
    });
    if (leader) {
        checkRelL2(result, "final.latents", latents, file.tensor("final.latents"), tolerance);
        const auto& vaeEntry = manifest["cases"].at(entry.at("vae").get<std::string>());
        const auto vaeWeights = io::WeightSource::open(dir / vaeEntry.at("weights").get<std::string>());
        const WanVAE vae(vaeWeights, WanVAEConfig::fromJson(vaeEntry), options.dtype, options.device);
        at::Tensor video = vae.decode(latents); // the decode needs no communication: rank 0 alone
        checkRelL2(result, "final.video", video, file.tensor("final.video"), tolerance);
        if (exact) {
            checkMaxAbsU8(result, "final.frames_uint8_THWC", videoToUint8Frames(video),
                          file.tensor("final.frames_uint8_THWC"), 1);
        }
    }
    world.barrier();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

nlohmann::json caseResultToJson(const verify::CaseResult& r) {
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& c : r.checks) {
        checks.push_back({{"name", c.name}, {"metric", c.metric}, {"value", c.value}, {"tolerance", c.tolerance},
                          {"passed", c.passed}});
    }
    const char* status = r.status == verify::Status::Pass ? "pass" : r.status == verify::Status::Fail ? "fail" : "skip";
    return {{"name", r.name}, {"kind", r.kind},     {"status", status},
            {"reason", r.reason}, {"seconds", r.seconds}, {"checks", checks}};
}

verify::CaseResult caseResultFromJson(const nlohmann::json& json) {
    verify::CaseResult r;
    try {
        r.name = json.at("name").get<std::string>();
        r.kind = json.at("kind").get<std::string>();
        const auto status = json.at("status").get<std::string>();
        r.status = status == "pass" ? verify::Status::Pass : status == "skip" ? verify::Status::Skip : verify::Status::Fail;
        r.reason = json.value("reason", "");
        r.seconds = json.value("seconds", 0.0);
        for (const auto& c : json.at("checks")) {
            r.checks.push_back(verify::Check{c.at("name").get<std::string>(), c.at("metric").get<std::string>(),
                                             c.at("value").get<double>(), c.at("tolerance").get<double>(),
                                             c.at("passed").get<bool>()});
        }
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(fmt::format("rank 0's case result is malformed: {}", e.what()));
    }
    return r;
}

verify::CaseResult runDitCaseOnRanks(const fs::path& dir, const std::string& caseName,
                                     const ParallelVerifyOptions& options) {
    static std::atomic<int> counter{0};
    const fs::path resultPath =
        fs::temp_directory_path() / fmt::format("ditstudio-verify-{}-{}.json", ::getpid(), counter++);
    const int world = static_cast<int>(options.degrees.world());

    LaunchSpec spec;
    spec.executable = options.rankExecutable.empty() ? findRankExecutable() : options.rankExecutable;
    spec.arguments = {"--verify-dit", fs::absolute(dir).string(), caseName, "--result", resultPath.string(),
                      "--dtype", options.dtype};
    spec.worldSize = world;
    spec.degrees = options.degrees;
    for (int r = 0; r < world; ++r) {
        spec.devices.push_back(options.device == "cuda" ? fmt::format("cuda:{}", r) : "cpu");
    }
    spec.environment["DITSTUDIO_LOG_LEVEL"] = options.logLevel;
    spec.heartbeatTimeout = options.heartbeatTimeout;

    verify::CaseResult failed;
    failed.name = caseName;
    failed.kind = "dit/pipeline";
    failed.status = verify::Status::Fail;
    const auto start = std::chrono::steady_clock::now();
    RankGroup group;
    group.start(spec);
    const auto outcome = group.waitForExit(options.timeout);
    if (outcome == RankGroup::Outcome::Running) {
        group.stop();
        failed.reason = fmt::format("{} ranks did not finish within {:.0f} s; stopped", world,
                                    options.timeout.count() / 1000.0);
    } else if (outcome != RankGroup::Outcome::Succeeded) {
        failed.reason = fmt::format("rank group ({}) failed: {}", options.degrees.describe(), group.failureReason());
    }
    failed.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!failed.reason.empty()) {
        fs::remove(resultPath);
        return failed;
    }
    nlohmann::json json;
    try {
        json = readJsonFile(resultPath, "rank 0 finished but wrote no result");
    } catch (const FormatError& e) {
        failed.reason = e.what();
        return failed;
    }
    fs::remove(resultPath);
    verify::CaseResult result = caseResultFromJson(json);
    result.name = fmt::format("{} [{}]", result.name, options.degrees.describe());
    result.seconds = failed.seconds;
    return result;
}

} // namespace ditstudio::parallel
