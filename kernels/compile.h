// compileDiT: the C++ counterpart of DiffSynth's `compile_pipeline` for the DiT. It installs the fused op table on
// the model (regional: the repeated block is what changes), per the knobs in kernels/compile_settings.h:
//   none        DiTBlockOps::eager() (also when "dit" is not in compile.models)
//   default     fused LayerNorm+modulate, q/k RMSNorm+RoPE into [B, H, L, d], gated residual, bias+GELU(tanh) in
//               the GEMM epilogue, fused QKV weights (concatenated once here), cuDNN attention on CUDA bf16, the
//               rotary table cached per token grid
//   + graphs    reduce-overhead / max-autotune: BlockGraphRunner (per block, or the stack with fullgraph)
//   + autotune  max-autotune[-no-cudagraphs]: AttentionSelector measuring per shape, cached on disk
// On the CPU every fused op takes its eager twin and graphs are skipped, so a compiled model verifies on the CPU.
// DITSTUDIO_DISABLE_FUSION=1 keeps the modes but sends every fused op to its eager twin.
#pragma once
#include "core/models/wan_dit.h"
#include "core/presets/generation_settings.h"

#include <string>

namespace ditstudio::kernels {

class AutotuneCache;

struct CompileReport {
    bool fused = false;
    bool cudaGraphs = false;
    bool autotune = false;
    int fusedQkvBlocks = 0;
    std::string summary; // one line for logs
};

// Validates the settings (ConfigError) and applies them to `dit`. `cache` (autotune) defaults to the process cache
// at $XDG_CACHE_HOME/ditstudio/autotune.json. Call before the first forward; not concurrently with forward().
CompileReport compileDiT(WanDiT& dit, const CompileSettings& settings, AutotuneCache* cache = nullptr);

} // namespace ditstudio::kernels
