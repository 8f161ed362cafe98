// Test-only fault points. Each is a no-op unless its environment variable names it; tests set them on a real
// worker, rank or CLI process to land a fault at a chosen point (docs/reliability.md, "Fault points"):
//   DITSTUDIO_FAULT_PAUSE_AT=export        the process logs "fault point: paused at export" and sleeps there until it
//                                           is killed (exportVideo, after its first frame reached the temporary file)
//   DITSTUDIO_FAULT_OOM_AT=denoise|decode[:N]  throws a real c10::OutOfMemoryError there, the way LibTorch's CUDA
//                                           allocator does (Generator::generate: after the first denoising step,
//                                           before the VAE decode); with :N only for requests of N frames or more,
//                                           so that a test's "too large" job fails and its next, smaller one runs
// Adding a point: call pauseAtFaultPoint("name") or outOfMemoryAtFaultPoint("name", ...) where it should fire and
// list it above. Never set these in production.
#pragma once
#include <cstdint>
#include <string_view>

namespace ditstudio {

inline constexpr const char* kFaultPauseAtEnv = "DITSTUDIO_FAULT_PAUSE_AT";
inline constexpr const char* kFaultOomAtEnv = "DITSTUDIO_FAULT_OOM_AT";

// Blocks forever (until the process is killed) when DITSTUDIO_FAULT_PAUSE_AT equals `point`.
void pauseAtFaultPoint(std::string_view point);
// Throws c10::OutOfMemoryError when DITSTUDIO_FAULT_OOM_AT names `point` (and `frames` reaches its threshold);
// `device` goes into its message.
void outOfMemoryAtFaultPoint(std::string_view point, std::string_view device, int64_t frames);

} // namespace ditstudio
