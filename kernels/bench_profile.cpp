#include "kernels/bench_profile.h"

#include "core/export/sidecar.h"
#include "core/util/error.h"
#include "kernels/bench_timing.h"

#include <ATen/record_function.h>
#include <fmt/format.h>
#include <kineto/ActivityType.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <vector>

#include <unistd.h>

#if DITSTUDIO_HAVE_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace ditstudio::kernels {

namespace {

namespace fs = std::filesystem;
namespace profiler = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

constexpr std::string_view kOther = "elementwise/other";

struct CategoryPattern {
    std::string_view pattern; // lower case, matched as a substring of the lower-cased name
    std::string_view category;
};

// First match wins. Our own kernels first; attention before GEMM (FlashAttention and cuDNN SDPA run GEMMs inside,
// "fmha_cutlassF…" names CUTLASS; cuDNN's attention kernels carry "sdpa"/"flash" in their names, so "cudnn" alone is
// not a pattern: cuDNN's convolutions, the VAE's bulk, are not attention). Convolutions count as GEMM (implicit
// GEMM on the GPU). ATen op names are matched with their "aten::" prefix: a bare "mm" would match "wgmma".
constexpr std::array kCategoryPatterns{
    CategoryPattern{"layernormmodulatekernel", "fused"}, // kernels/cuda/layernorm_modulate.cu
    CategoryPattern{"rmsnormropekernel", "fused"},       // kernels/cuda/rmsnorm_rope.cu
    CategoryPattern{"gatedresidualkernel", "fused"},     // kernels/cuda/gated_residual.cu
    CategoryPattern{"vaenorm", "fused"},                 // kernels/cuda/vae_norm.cu (both kernels)
    CategoryPattern{"flash", "attention"},
    CategoryPattern{"fmha", "attention"},
    CategoryPattern{"sdpa", "attention"},
    CategoryPattern{"attention", "attention"},
    CategoryPattern{"gemm", "gemm"},
    CategoryPattern{"cutlass", "gemm"},
    CategoryPattern{"nvjet", "gemm"},
    CategoryPattern{"sm90_xmma", "gemm"},
    CategoryPattern{"cublas", "gemm"},
    CategoryPattern{"aten::addmm", "gemm"},
    CategoryPattern{"aten::_addmm_activation", "gemm"},
    CategoryPattern{"aten::mm", "gemm"},
    CategoryPattern{"aten::bmm", "gemm"},
    CategoryPattern{"aten::matmul", "gemm"},
    CategoryPattern{"aten::linear", "gemm"},
    CategoryPattern{"mmbackward", "gemm"}, // autograd's backward of mm/addmm/bmm (a training step on the CPU)
    CategoryPattern{"aten::conv", "gemm"},
    CategoryPattern{"convolutionbackward", "gemm"},
    CategoryPattern{"aten::_convolution", "gemm"},
    CategoryPattern{"convolve", "gemm"},
    CategoryPattern{"memcpy", "copy"},
    CategoryPattern{"memset", "copy"},
    CategoryPattern{"copy", "copy"}, // aten::copy_, direct_copy_kernel_cuda, CatArrayBatchedCopy
    CategoryPattern{"aten::cat", "copy"},
    CategoryPattern{"aten::stack", "copy"},
    CategoryPattern{"contiguous", "copy"},
    CategoryPattern{"aten::clone", "copy"},
};

constexpr std::array<std::string_view, 5> kCategories{"gemm", "attention", "fused", "copy", kOther};

std::string lowerCase(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
}

bool isDeviceActivity(const profiler::KinetoEvent& e) {
    const auto type = static_cast<libkineto::ActivityType>(e.activityType());
    return e.deviceType() == c10::DeviceType::CUDA &&
           (type == libkineto::ActivityType::CONCURRENT_KERNEL || type == libkineto::ActivityType::GPU_MEMCPY ||
            type == libkineto::ActivityType::GPU_MEMSET);
}

struct Span {
    uint64_t startNs, endNs;
    const profiler::KinetoEvent* event;
};

// The CPU ops of `threadId` that no other op of that thread encloses.
std::vector<const profiler::KinetoEvent*> topLevelCpuOps(const std::vector<profiler::KinetoEvent>& events,
                                                         uint64_t threadId) {
    std::vector<Span> spans;
    for (const auto& e : events) {
        if (e.deviceType() == c10::DeviceType::CPU &&
            static_cast<libkineto::ActivityType>(e.activityType()) == libkineto::ActivityType::CPU_OP &&
            e.startThreadId() == threadId) {
            spans.push_back({e.startNs(), e.endNs(), &e});
        }
    }
    // Parents before their children: earlier start first, and of two that start together the longer.
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
        return a.startNs != b.startNs ? a.startNs < b.startNs : a.endNs > b.endNs;
    });
    std::vector<const profiler::KinetoEvent*> top;
    uint64_t coveredUntilNs = 0;
    for (const Span& s : spans) {
        if (top.empty() || s.startNs >= coveredUntilNs) {
            top.push_back(s.event);
            coveredUntilNs = s.endNs;
        }
    }
    return top;
}

void synchronizeWholeDevice(at::Device device) {
#if DITSTUDIO_HAVE_CUDA
    if (device.is_cuda()) {
        c10::cuda::device_synchronize();
        return;
    }
#endif
    synchronizeDevice(device);
}

// A name fit for a markdown table cell: pipes escaped, templated CUDA names cut to `width` characters.
std::string tableCell(const std::string& name, size_t width) {
    std::string cell = name.size() > width ? name.substr(0, width - 3) + "..." : name;
    std::string escaped;
    for (char c : cell) {
        if (c == '|') {
            escaped += '\\';
        }
        escaped += c;
    }
    return escaped;
}

} // namespace

std::string_view profileCategory(std::string_view name) {
    const std::string lower = lowerCase(name);
    for (const auto& p : kCategoryPatterns) {
        if (lower.find(p.pattern) != std::string::npos) {
            return p.category;
        }
    }
    return kOther;
}

nlohmann::json profileCalls(at::Device device, int iterations, const std::function<void()>& call) {
    if (iterations < 1) {
        throw ConfigError(fmt::format("profile: iterations {} must be ≥ 1", iterations));
    }
    std::set<ActivityType> activities{ActivityType::CPU};
    if (device.is_cuda()) {
        activities.insert(ActivityType::CUDA);
    }
    const ProfilerConfig config(ProfilerState::KINETO);
    synchronizeWholeDevice(device); // nothing queued before the profile is counted in it
    profiler::prepareProfiler(config, activities);
    profiler::enableProfiler(config, activities);
    const uint64_t threadId = at::RecordFunction::currentThreadId();
    const double t0 = nowSeconds();
    try {
        for (int i = 0; i < iterations; ++i) {
            call();
        }
        synchronizeWholeDevice(device);
    } catch (...) {
        profiler::disableProfiler();
        throw;
    }
    const double wallSeconds = nowSeconds() - t0;
    const std::unique_ptr<profiler::ProfilerResult> result = profiler::disableProfiler();

    struct Row {
        uint64_t count = 0;
        uint64_t totalNs = 0;
    };
    std::map<std::string, Row> rows;
    auto add = [&](const profiler::KinetoEvent& e) {
        Row& row = rows[e.name()];
        row.count += 1;
        row.totalNs += e.durationNs();
    };
    if (device.is_cuda()) {
        for (const auto& e : result->events()) {
            if (isDeviceActivity(e)) {
                add(e);
            }
        }
    } else {
        for (const profiler::KinetoEvent* e : topLevelCpuOps(result->events(), threadId)) {
            add(*e);
        }
    }

    uint64_t totalNs = 0;
    for (const auto& [name, row] : rows) {
        totalNs += row.totalNs;
    }
    const double perIteration = 1.0 / iterations;
    const double sharePerNs = totalNs > 0 ? 1.0 / double(totalNs) : 0.0;
    std::vector<std::pair<std::string, Row>> sorted(rows.begin(), rows.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second.totalNs > b.second.totalNs; });
    std::map<std::string_view, uint64_t> categoryNs;
    for (const auto c : kCategories) {
        categoryNs[c] = 0;
    }
    nlohmann::json kernels = nlohmann::json::array();
    for (const auto& [name, row] : sorted) {
        const std::string_view category = profileCategory(name);
        categoryNs[category] += row.totalNs;
        kernels.push_back({{"name", name},
                           {"category", category},
                           {"count", double(row.count) * perIteration},
                           {"total_ms", double(row.totalNs) * 1e-6 * perIteration},
                           {"mean_us", double(row.totalNs) * 1e-3 / double(row.count)},
                           {"share", double(row.totalNs) * sharePerNs}});
    }
    nlohmann::json categories = nlohmann::json::object();
    for (const auto& [category, ns] : categoryNs) {
        categories[std::string(category)] = {{"total_ms", double(ns) * 1e-6 * perIteration},
                                             {"share", double(ns) * sharePerNs}};
    }
    return {{"device", deviceName(device)},
            {"iterations", iterations},
            {"events", device.is_cuda() ? "gpu kernels, memcpy, memset" : "top-level cpu ops"},
            {"total_ms", double(totalNs) * 1e-6 * perIteration},
            {"wall_ms", wallSeconds * 1e3 * perIteration},
            {"kernels", std::move(kernels)},
            {"categories", std::move(categories)}};
}

std::string formatProfileMarkdown(const nlohmann::json& profile, size_t rows) {
    std::string text = fmt::format("Profile on {}, per iteration of {}: {:.3f} ms of {}, {:.3f} ms host wall time\n\n",
                                   profile.at("device").get<std::string>(), profile.at("iterations").get<int>(),
                                   profile.at("total_ms").get<double>(), profile.at("events").get<std::string>(),
                                   profile.at("wall_ms").get<double>());
    text += "| # | kernel | category | calls | total ms | mean µs | share |\n";
    text += "|---:|---|---|---:|---:|---:|---:|\n";
    const auto& kernels = profile.at("kernels");
    for (size_t i = 0; i < std::min(rows, kernels.size()); ++i) {
        const auto& k = kernels[i];
        text += fmt::format("| {} | `{}` | {} | {:g} | {:.3f} | {:.1f} | {:.1f} % |\n", i + 1,
                            tableCell(k.at("name").get<std::string>(), 90), k.at("category").get<std::string>(),
                            k.at("count").get<double>(), k.at("total_ms").get<double>(),
                            k.at("mean_us").get<double>(), 100 * k.at("share").get<double>());
    }
    if (kernels.size() > rows) {
        text += fmt::format("\n({} more rows in the JSON)\n", kernels.size() - rows);
    }
    text += "\n| category | total ms | share |\n|---|---:|---:|\n";
    std::vector<std::pair<std::string, nlohmann::json>> ordered;
    for (const auto& [name, totals] : profile.at("categories").items()) {
        ordered.emplace_back(name, totals);
    }
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
        return a.second.at("total_ms").template get<double>() > b.second.at("total_ms").template get<double>();
    });
    for (const auto& [name, totals] : ordered) {
        text += fmt::format("| {} | {:.3f} | {:.1f} % |\n", name, totals.at("total_ms").get<double>(),
                            100 * totals.at("share").get<double>());
    }
    return text;
}

void checkProfileRequest(const fs::path& output, int iterations) {
    if (iterations < 1) {
        throw ConfigError(fmt::format("bench --profile-iters: {} must be ≥ 1", iterations));
    }
    if (output.empty()) {
        throw ConfigError("bench --profile: empty file name");
    }
    std::error_code ec;
    if (fs::is_directory(output, ec)) {
        throw ConfigError(fmt::format("bench --profile: '{}' is a folder, not a file", output.string()));
    }
    const fs::path folder = output.has_parent_path() ? output.parent_path() : fs::path(".");
    if (!fs::is_directory(folder, ec)) {
        throw ConfigError(fmt::format("bench --profile: cannot write '{}': folder '{}' does not exist",
                                      output.string(), folder.string()));
    }
    if (::access(folder.c_str(), W_OK | X_OK) != 0) {
        throw ConfigError(fmt::format("bench --profile: cannot write '{}': folder '{}' is not writable",
                                      output.string(), folder.string()));
    }
}

void writeProfile(const fs::path& output, const nlohmann::json& profile) {
    try {
        writeJsonAtomically(output, profile);
    } catch (const ExportError& e) {
        throw ConfigError(fmt::format("bench --profile: {}", e.what()));
    }
}

} // namespace ditstudio::kernels
