// The compile knobs (DiffSynth's `compile_pipeline(mode, dynamic, fullgraph, compile_models)`) with their C++
// meanings (design/architecture.md, "Compile"): names, parsing and validation. The settings struct itself is
// core's CompileSettings (core/presets/generation_settings.h), which presets and jobs carry.
//   mode none                       eager ATen ops (the reference)
//   mode default                    fused kernels around the GEMMs and attention, fused QKV, cuDNN attention
//   mode reduce-overhead            default + CUDA graphs (per block; the whole block stack with fullgraph)
//   mode max-autotune               reduce-overhead + per-shape measurement of attention backends, cached on disk
//   mode max-autotune-no-cudagraphs max-autotune without graphs
//   dynamic  true: graphs captured lazily per shape and kept; false: one shape, re-captured when it changes
//   fullgraph  one graph for all repeated blocks instead of one per block (only with graph modes)
//   models   which models: dit (default); vae (on CUDA, applied by Generator's decode: its convolutions autotuned
//            per shape by cuDNN, its RMS norms + SiLU fused, kernels::vaeRmsNormSilu); text_encoder (no compiled path
//            yet: eager, with a warning)
#pragma once
#include "core/presets/generation_settings.h"

#include <string>
#include <vector>

namespace ditstudio::kernels {

std::string compileModeName(CompileMode mode);
CompileMode compileModeFromName(const std::string& name); // ConfigError listing the valid names
// "dit,vae" → {"dit", "vae"}; ConfigError naming an unknown or duplicated model, or an empty list.
std::vector<std::string> parseCompileModels(const std::string& commaSeparated);
// Throws ConfigError naming the offending knob (compile.models entries, empty models with a compiling mode).
void validateCompileSettings(const CompileSettings& settings);

bool usesFusedKernels(CompileMode mode);
bool usesCudaGraphs(CompileMode mode);
bool usesAutotune(CompileMode mode);
bool compilesModel(const CompileSettings& settings, const std::string& model);

// One line for logs and bench JSON: "max-autotune dynamic fullgraph models=dit".
std::string describe(const CompileSettings& settings);

} // namespace ditstudio::kernels
