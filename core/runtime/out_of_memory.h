// A request too large for the device. Generator::generate turns LibTorch's c10::OutOfMemoryError (the CUDA caching
// allocator's "CUDA out of memory") into OutOfMemoryError, whose message names the request (frames, size, model,
// device, stage, parallel degrees) and says what to change; the worker's rank reports it as the job's failure and
// stays up for the next job (service/rank_control.cpp), the CLI prints it.
#pragma once
#include "core/presets/generation_settings.h"
#include "core/util/error.h"

#include <string>

namespace ditstudio {

class OutOfMemoryError : public Error {
public:
    using Error::Error;
};

struct OutOfMemoryContext {
    std::string stage;  // encode, denoise, decode
    std::string model;  // the model's name (manifest name or folder name)
    std::string device; // cuda:0, cpu
    std::string dtype;  // bfloat16, float32
};

// "out of GPU memory during denoise on cuda:0: 1025 frames of 8192x8192 with model '...' (bfloat16, world of 1: ulysses
// 1 × ring 1 × cfg 1) does not fit. Try ... (CUDA out of memory. Tried to allocate ...)". `libraryMessage` is the
// c10 error's what_without_backtrace(); only its first sentence or two are kept.
std::string describeOutOfMemory(const GenerationSettings& settings, const OutOfMemoryContext& context,
                                const std::string& libraryMessage);

} // namespace ditstudio
