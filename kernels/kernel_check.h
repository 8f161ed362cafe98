// Fused-vs-eager checks of every fused op on random inputs (ggml's test-backend-ops, FA's tolerance rule): each op
// runs fused and eager in the model dtype and eagerly in float64; the fused error vs float64 (relative L2) must be
// at most 2× the eager path's own error plus 1e-6. Shapes cover the real 1.3B width, a tiny one, strided rows (a
// slice of a fused QKV output) and widths that take the unvectorised kernels; for the VAE norm the decoder's levels,
// odd position counts, odd channel counts, more channels than one block keeps, and (CUDA only) tensors of more than
// 2^31 elements, compared on their last positions. Used by the GPU test
// (tests/kernels/test_fused_kernels.cpp) and by `ditstudio-cli bench --check-kernels` on machines without Qt.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace ditstudio::kernels {

struct KernelCheckResult {
    std::string op;
    std::string dtype;
    std::string shape;
    double fusedError = 0; // relative L2 vs the float64 path
    double eagerError = 0;
    double tolerance = 0;
    bool passed = false;
    std::string note; // e.g. the RoPE rounding deviation from the float64 rotation
};

std::vector<KernelCheckResult> runKernelChecks(at::Device device);
std::string formatKernelCheck(const KernelCheckResult& r);

} // namespace ditstudio::kernels
