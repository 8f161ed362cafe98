// `ditstudio-cli bench --profile FILE`: where the time of one bench forward goes. The forward runs N times under
// LibTorch's Kineto profiler; on a GPU its kernels (and memcpy/memset as rows of their own) are summed by kernel
// name, on a CPU the top-level ATen ops of the calling thread are (an op nested in another is counted in its
// parent, so no time is counted twice). Every row gets a category from one pattern table in bench_profile.cpp:
// "fused" (this repo's kernels in kernels/cuda/*.cu), "attention", "gemm", "copy", else "elementwise/other".
// To file a new kernel family under a category, add its name pattern to that table.
#pragma once
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace ditstudio::kernels {

// The category of a kernel or op name: the first pattern of the table that the lower-cased name contains.
std::string_view profileCategory(std::string_view name);

// Runs `call` `iterations` times under the profiler (the device synchronised before it stops) and returns
// {"device", "iterations", "total_ms", "wall_ms", "kernels": [{"name", "category", "count", "total_ms", "mean_us",
// "share"}, …] (total descending), "categories": {name: {"total_ms", "share"}}}. count, total_ms and wall_ms are
// per iteration; total_ms is the sum of the rows (GPU busy time on a GPU), wall_ms the host clock around the calls.
// Throws ConfigError when iterations < 1.
nlohmann::json profileCalls(at::Device device, int iterations, const std::function<void()>& call);

// The top `rows` rows and the category totals of a profileCalls result as markdown tables (docs/performance.md).
std::string formatProfileMarkdown(const nlohmann::json& profile, size_t rows = 15);

// Refuses a profile request before the bench starts: ConfigError naming --profile-iters when iterations < 1, and
// naming --profile when `output`'s folder does not exist or is not writable, or `output` is a folder.
void checkProfileRequest(const std::filesystem::path& output, int iterations);
// Writes the profile to `output` atomically (temporary beside it, then rename); ConfigError naming --profile when
// that fails.
void writeProfile(const std::filesystem::path& output, const nlohmann::json& profile);

} // namespace ditstudio::kernels
