#include "parallel/usp_bench.h"

#include "core/io/weight_source.h"
#include "core/runtime/pipeline.h"
#include "core/util/error.h"
#include "core/util/json_file.h"
#include "parallel/comm_timing.h"
#include "parallel/launcher.h"
#include "parallel/nccl_communicator.h"
#include "parallel/usp.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>

#if DITSTUDIO_HAVE_NCCL // the CUDA builds
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace ditstudio::parallel {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The labels of the timed groups, in the order of the gathered numbers.
constexpr std::array<const char*, 4> kGroups{"ulysses", "ring", "sequence", "cfg"};

double median(std::vector<double> values) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double peakResidentGiB() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) * 1024.0 / double(1ull << 30); // ru_maxrss is in KiB on Linux
}

double peakCudaAllocatedGiB(at::Device device) {
#if DITSTUDIO_HAVE_NCCL
    if (device.is_cuda()) {
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
        const auto aggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
        return double(stats.allocated_bytes[aggregate].peak) / double(1ull << 30);
    }
#endif
    (void)device;
    return -1; // not a CUDA device
}

std::string deviceName(at::Device device) {
#if DITSTUDIO_HAVE_NCCL
    if (device.is_cuda()) {
        return at::cuda::getDeviceProperties(device.index())->name;
    }
#endif
    return device.str();
}

void synchronize(at::Device device) {
#if DITSTUDIO_HAVE_NCCL
    if (device.is_cuda()) {
        at::cuda::getCurrentCUDAStream(device.index()).synchronize();
    }
#endif
    (void)device;
}

} // namespace

// ---------------------------------------------------------------------------------------------- settings

// The compile group as in a preset (the same keys, through GenerationSettings' own JSON).
static nlohmann::json compileJson(const CompileSettings& compile) {
    GenerationSettings holder;
    holder.compile = compile;
    return holder.toJson().at("compile");
}

nlohmann::json UspBenchSettings::toJson() const {
    return {{"model", modelConfig}, {"frames", frames},       {"height", height},   {"width", width},
            {"text_len", textLength}, {"layers", layers},     {"iters", iterations}, {"warmup", warmup},
            {"dtype", dtype},        {"cfg_scale", cfgScale},   {"compile", compileJson(compile)}};
}

UspBenchSettings UspBenchSettings::fromJson(const nlohmann::json& json) {
    UspBenchSettings s;
    try {
        s.modelConfig = json.at("model").get<std::string>();
        s.frames = json.at("frames").get<int64_t>();
        s.height = json.at("height").get<int64_t>();
        s.width = json.at("width").get<int64_t>();
        s.textLength = json.at("text_len").get<int64_t>();
        s.layers = json.at("layers").get<int64_t>();
        s.iterations = json.at("iters").get<int>();
        s.warmup = json.at("warmup").get<int>();
        s.dtype = json.at("dtype").get<std::string>();
        s.cfgScale = json.at("cfg_scale").get<double>();
        if (json.contains("compile")) { // the same keys as a preset's compile group
            s.compile = GenerationSettings::fromJson({{"compile", json.at("compile")}}).compile;
        }
    } catch (const nlohmann::json::exception& e) {
        throw ConfigError(fmt::format("bench-usp settings {}: {}", json.dump(), e.what()));
    }
    return s;
}

WanDiTConfig UspBenchSettings::modelConfigChecked() const {
    WanDiTConfig cfg;
    if (modelConfig == "1.3B") {
        cfg = WanDiTConfig::wan13B();
    } else if (modelConfig == "14B") {
        cfg = WanDiTConfig::wan14B();
    } else {
        throw ConfigError(fmt::format("bench-usp --model-config: unknown config '{}' (expected 1.3B or 14B)",
                                      modelConfig));
    }
    if (layers < 0) {
        throw ConfigError(fmt::format("bench-usp --layers must be ≥ 0 (0: the config's {}), got {}", cfg.numLayers,
                                      layers));
    }
    if (layers > 0) {
        cfg.numLayers = layers;
    }
    if (height <= 0 || width <= 0 || height % 16 != 0 || width % 16 != 0) {
        throw ConfigError(fmt::format("bench-usp: --height {} and --width {} must be positive multiples of 16",
                                      height, width));
    }
    if (frames < 1 || (frames - 1) % 4 != 0) {
        throw ConfigError(fmt::format("bench-usp --frames: {} is not of the form 4k+1", frames));
    }
    if (textLength < 1) {
        throw ConfigError(fmt::format("bench-usp --text-len must be ≥ 1, got {}", textLength));
    }
    if (iterations < 1 || warmup < 0) {
        throw ConfigError(fmt::format("bench-usp: --iters must be ≥ 1 (got {}) and --warmup ≥ 0 (got {})",
                                      iterations, warmup));
    }
    if (dtype != "bfloat16" && dtype != "float32") {
        throw ConfigError(fmt::format("bench-usp --dtype: '{}' (expected bfloat16 or float32)", dtype));
    }
    return cfg;
}

int64_t UspBenchSettings::tokens() const {
    const WanDiTConfig cfg = modelConfigChecked();
    const int64_t F = (frames - 1) / 4 + 1, H = height / 8, W = width / 8;
    return (F / cfg.patchSize[0]) * (H / cfg.patchSize[1]) * (W / cfg.patchSize[2]);
}

// ---------------------------------------------------------------------------------------------- rank side

nlohmann::json runUspStepBench(Communicator& world, const ParallelDegrees& degrees, at::Device device,
                               const UspBenchSettings& s, const RandomWeightsFn& randomWeights,
                               const Generator::DiTCompiler& compiler) {
    const WanDiTConfig cfg = s.modelConfigChecked();
    const at::ScalarType dtype = s.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
    const auto setupStart = Clock::now();

    auto source = io::WeightSource::fromTensors(randomWeights(cfg, dtype, device), "random weights");
    WanDiT dit(source, cfg, dtype, device);
    source = io::WeightSource::fromTensors({}, "released");
    std::string compileReport = "eager";
    if (s.compile.mode != CompileMode::None) {
        if (!compiler) {
            throw ConfigError(fmt::format("bench-usp --compile {}: this rank program has no compiled DiT path",
                                          toString(s.compile.mode)));
        }
        compileReport = compiler(dit, s.compile);
    }
    UspGroups groups = UspGroups::create(world, degrees, cfg.numHeads, true);
    // The benchmark-only hook: the groups the USP code talks to, wrapped (the forward itself is unchanged).
    CommTimer timer(device);
    groups.ulysses = std::make_unique<TimedCommunicator>(std::move(groups.ulysses), timer, kGroups[0]);
    groups.ring = std::make_unique<TimedCommunicator>(std::move(groups.ring), timer, kGroups[1]);
    groups.sequence = std::make_unique<TimedCommunicator>(std::move(groups.sequence), timer, kGroups[2]);
    groups.cfg = std::make_unique<TimedCommunicator>(std::move(groups.cfg), timer, kGroups[3]);

    // The same inputs on every rank (same seed, same device type): the latents are replicated, as in generation.
    at::manual_seed(1);
    const auto opts = at::TensorOptions().dtype(dtype).device(device);
    const int64_t F = (s.frames - 1) / 4 + 1, H = s.height / 8, W = s.width / 8;
    at::Tensor latents = at::randn({1, cfg.inDim, F, H, W}, opts);               // [1, 16, F, H/8, W/8]
    const at::Tensor contextPositive = at::randn({1, s.textLength, cfg.textDim}, opts); // [1, 512, 4096]
    const at::Tensor contextNegative = at::randn({1, s.textLength, cfg.textDim}, opts);
    const VelocityFn velocity = makeParallelVelocity(dit, groups, contextPositive, contextNegative, s.cfgScale);
    const FlowMatchScheduler scheduler(s.warmup + s.iterations, 5.0, 1.0);
    synchronize(device);
    world.barrier();
    const double setupSeconds = std::chrono::duration<double>(Clock::now() - setupStart).count();

    // The generation loop; denoise syncs the device before each step's callback, so stepSeconds is the real one.
    std::vector<double> stepSeconds;
    std::vector<std::map<std::string, double>> commSeconds;
    latents = denoise(latents, scheduler, velocity, dtype, [&](const StepInfo& info) {
        stepSeconds.push_back(info.stepSeconds);
        commSeconds.push_back(timer.collect());
        spdlog::debug("bench-usp: rank {} step {}/{} {:.4f} s", world.rank(), info.index + 1, info.total,
                      info.stepSeconds);
        return true;
    });
    const bool finite = at::isfinite(latents).all().item<bool>();

    // Per rank: for every timed step its time and the seconds of each group; then peak memory. Gathered to all.
    std::vector<double> mine;
    for (int i = s.warmup; i < s.warmup + s.iterations; ++i) {
        mine.push_back(stepSeconds.at(static_cast<size_t>(i)));
        for (const char* group : kGroups) {
            const auto& perGroup = commSeconds.at(static_cast<size_t>(i));
            const auto it = perGroup.find(group);
            mine.push_back(it == perGroup.end() ? 0.0 : it->second);
        }
    }
    mine.push_back(peakCudaAllocatedGiB(device));
    mine.push_back(peakResidentGiB());
    mine.push_back(finite ? 1.0 : 0.0);
    const auto K = static_cast<int64_t>(mine.size());
    const at::Tensor gathered =
        world.allGather(at::tensor(mine, at::kDouble).view({1, K}).to(world.device())).to(at::kCPU); // [world, K]
    const int n = world.size();
    auto at2 = [&](int rank, int64_t column) { return gathered[rank][column].item<double>(); };

    nlohmann::json result;
    result["model"] = s.modelConfig;
    result["layers"] = cfg.numLayers;
    result["heads"] = cfg.numHeads;
    result["frames"] = s.frames;
    result["height"] = s.height;
    result["width"] = s.width;
    result["latent"] = {1, cfg.inDim, F, H, W};
    result["tokens"] = s.tokens();
    result["text_tokens"] = s.textLength;
    result["dtype"] = s.dtype;
    result["cfg_scale"] = s.cfgScale;
    result["compile"] = compileReport;
    result["world"] = n;
    result["ulysses"] = degrees.ulysses;
    result["ring"] = degrees.ring;
    result["cfg"] = degrees.cfg;
    result["split"] = fmt::format("u{}r{}c{}", degrees.ulysses, degrees.ring, degrees.cfg);
    result["device"] = deviceName(device);
    result["backend"] = world.backend();
    result["comm_method"] = timer.method() + (device.is_cuda() ? " (exposed: compute stream blocked)" : "");
    result["iters"] = s.iterations;
    result["warmup"] = s.warmup;
    result["setup_s"] = setupSeconds;

    constexpr int64_t perStep = 1 + static_cast<int64_t>(kGroups.size());
    std::vector<double> stepMax, stepRank0, commMean, commMax;
    std::map<std::string, std::vector<double>> groupMean;
    for (int i = 0; i < s.iterations; ++i) {
        const int64_t base = i * perStep;
        double slowest = 0, sum = 0, most = 0;
        for (int r = 0; r < n; ++r) {
            slowest = std::max(slowest, at2(r, base));
            double total = 0;
            for (size_t g = 0; g < kGroups.size(); ++g) {
                total += at2(r, base + 1 + static_cast<int64_t>(g));
            }
            sum += total;
            most = std::max(most, total);
        }
        for (size_t g = 0; g < kGroups.size(); ++g) {
            double groupSum = 0;
            for (int r = 0; r < n; ++r) {
                groupSum += at2(r, base + 1 + static_cast<int64_t>(g));
            }
            groupMean[kGroups[g]].push_back(groupSum / n);
        }
        stepMax.push_back(slowest);
        stepRank0.push_back(at2(0, base));
        commMean.push_back(sum / n);
        commMax.push_back(most);
    }
    result["step_s"] = median(stepMax);
    result["all_step_s"] = stepMax;
    result["step_s_rank0"] = median(stepRank0);
    result["comm_s"] = median(commMean);
    result["comm_s_max_rank"] = median(commMax);
    result["comm_fraction"] = median(stepMax) > 0 ? median(commMean) / median(stepMax) : 0.0;
    nlohmann::json byGroup = nlohmann::json::object();
    for (const auto& [group, values] : groupMean) {
        byGroup[group] = median(values);
    }
    result["comm_s_by_group"] = byGroup;
    std::vector<double> commPerRank, peakMem, peakRss;
    bool allFinite = true;
    for (int r = 0; r < n; ++r) {
        std::vector<double> rankComm;
        for (int i = 0; i < s.iterations; ++i) {
            double total = 0;
            for (size_t g = 0; g < kGroups.size(); ++g) {
                total += at2(r, i * perStep + 1 + static_cast<int64_t>(g));
            }
            rankComm.push_back(total);
        }
        commPerRank.push_back(median(rankComm));
        peakMem.push_back(at2(r, K - 3));
        peakRss.push_back(at2(r, K - 2));
        allFinite = allFinite && at2(r, K - 1) == 1.0;
    }
    result["comm_s_per_rank"] = commPerRank;
    if (device.is_cuda()) {
        result["peak_mem_GiB"] = peakMem;
        result["peak_mem_GiB_max"] = *std::max_element(peakMem.begin(), peakMem.end());
    }
    result["peak_rss_GiB"] = peakRss;
    result["output_finite"] = allFinite;
    return result;
}

// ---------------------------------------------------------------------------------------------- launcher side

void checkUspBench(const UspBenchOptions& options) {
    const WanDiTConfig cfg = options.settings.modelConfigChecked();
    try {
        options.degrees.validate(cfg.numHeads, 0, true);
    } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("bench-usp: model {}: {}", options.settings.modelConfig, e.what()));
    }
    if (options.device == "cuda") {
        if (!haveNccl()) {
            throw ConfigError("bench-usp --device cuda needs a build with DITSTUDIO_CUDA=ON (NCCL)");
        }
        const auto gpus = static_cast<int64_t>(at::getNumGPUs());
        if (gpus < options.degrees.world()) {
            throw ConfigError(fmt::format("bench-usp: {} needs {} GPUs (one per rank), this machine has {}",
                                          options.degrees.describe(), options.degrees.world(), gpus));
        }
    } else if (options.device != "cpu") {
        throw ConfigError(fmt::format("bench-usp --device: '{}' (expected cuda or cpu)", options.device));
    }
}

nlohmann::json runUspBenchOnRanks(const UspBenchOptions& options) {
    checkUspBench(options);
    static std::atomic<int> counter{0};
    const fs::path resultPath = fs::temp_directory_path() /
                                fmt::format("ditstudio-bench-usp-{}-{}.json", ::getpid(), counter++);
    fs::remove(resultPath);
    const int world = static_cast<int>(options.degrees.world());
    LaunchSpec spec;
    spec.executable = options.rankExecutable.empty() ? findRankExecutable() : options.rankExecutable;
    spec.arguments = {"--bench-usp", options.settings.toJson().dump(), "--result", resultPath.string()};
    spec.worldSize = world;
    spec.degrees = options.degrees;
    for (int r = 0; r < world; ++r) {
        spec.devices.push_back(options.device == "cuda" ? fmt::format("cuda:{}", r) : "cpu");
    }
    spec.environment["DITSTUDIO_LOG_LEVEL"] = options.logLevel;
    spec.heartbeatTimeout = options.heartbeatTimeout;
    spec.logName = "bench-usp rank";

    const auto start = Clock::now();
    RankGroup group;
    group.start(spec);
    const auto outcome = group.waitForExit(options.timeout);
    std::string failure;
    if (outcome == RankGroup::Outcome::Running) {
        group.stop();
        failure = fmt::format("bench-usp: {} ranks did not finish within {:.0f} s; stopped", world,
                              options.timeout.count() / 1000.0);
    } else if (outcome != RankGroup::Outcome::Succeeded) {
        failure = fmt::format("bench-usp: rank group ({}) failed: {}", options.degrees.describe(),
                              group.failureReason());
    }
    if (!failure.empty()) {
        fs::remove(resultPath);
        throw Error(failure);
    }
    nlohmann::json result = readJsonFile(resultPath, "bench-usp: rank 0 finished but wrote no result");
    fs::remove(resultPath);
    result["wall_s"] = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

std::string formatUspBench(const nlohmann::json& r) {
    std::string memory = "n/a";
    if (r.contains("peak_mem_GiB_max")) {
        memory = fmt::format("{:.2f} GiB/GPU (max over ranks)", r["peak_mem_GiB_max"].get<double>());
    } else if (r.contains("peak_rss_GiB") && !r["peak_rss_GiB"].empty()) {
        const auto rss = r["peak_rss_GiB"].get<std::vector<double>>();
        memory = fmt::format("{:.2f} GiB RSS (max over ranks)", *std::max_element(rss.begin(), rss.end()));
    }
    return fmt::format("bench-usp {} {}x{}x{} ({} tokens, {} layers) ulysses {} × ring {} × cfg {} = {} on {}: "
                       "step {:.4f} s, comm {:.4f} s ({:.1f}%, {}), peak {}",
                       r.value("model", "?"), r.value("frames", 0), r.value("height", 0), r.value("width", 0),
                       r.value("tokens", 0), r.value("layers", 0), r.value("ulysses", 0), r.value("ring", 0),
                       r.value("cfg", 0), r.value("world", 0), r.value("device", "?"), r.value("step_s", 0.0),
                       r.value("comm_s", 0.0), 100.0 * r.value("comm_fraction", 0.0), r.value("comm_method", "?"),
                       memory);
}

} // namespace ditstudio::parallel
