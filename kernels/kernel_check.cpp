#include "kernels/kernel_check.h"

#include "core/models/wan_dit.h"
#include "core/models/wan_vae.h"
#include "core/util/shape.h"
#include "kernels/fused_ops.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>

namespace ditstudio::kernels {

namespace {

double relL2(const at::Tensor& out, const at::Tensor& ref) {
    const at::Tensor o = out.to(at::kCPU, at::kDouble), r = ref.to(at::kCPU, at::kDouble);
    const double denom = r.norm().item<double>();
    return (o - r).norm().item<double>() / (denom > 0 ? denom : 1.0);
}

KernelCheckResult judge(std::string op, at::ScalarType dtype, std::string shape, const at::Tensor& fused,
                        const at::Tensor& eager, const at::Tensor& ref) {
    KernelCheckResult r;
    r.op = std::move(op);
    r.dtype = c10::toString(dtype);
    r.shape = std::move(shape);
    r.fusedError = relL2(fused, ref);
    r.eagerError = relL2(eager, ref);
    r.tolerance = 2 * r.eagerError + 1e-6;
    r.passed = fused.sizes() == ref.sizes() && std::isfinite(r.fusedError) && r.fusedError <= r.tolerance;
    return r;
}

struct Shape {
    int64_t B, L, D, H;
};

// x [B, C, …], gamma [C, 1, …] of x's rank. Outside fp16 the first column of item 0 is all zeros (the 1e-12 clamp);
// in fp16 the eager clamp's 1e-12 rounds to 0 and the eager path gives 0/0.
std::pair<at::Tensor, at::Tensor> vaeNormInputs(const std::vector<int64_t>& shape, const at::TensorOptions& opts) {
    at::Tensor x = at::randn(shape, opts) * 3 + 0.25;
    if (opts.dtype() != at::kHalf) {
        x.narrow(-1, 0, 1).narrow(0, 0, 1).zero_();
    }
    std::vector<int64_t> gammaShape(shape.size() - 1, 1);
    gammaShape[0] = shape[1];
    return {x, at::rand(gammaShape, opts) + 0.5};
}

// The VAE's RMS norm with and without SiLU: the decoder's levels ([1, 96, 1, 480, 832] as a 120-row slice), the
// attention block's 4-D frames, odd position counts (unvectorised), a partial last tile of packed positions, channel
// counts that are no multiple of 4, a tiny one, and more than 512 channels (the two-pass kernel, single and packed).
void checkVaeNorm(at::Device device, std::vector<KernelCheckResult>& results) {
    const std::vector<std::vector<int64_t>> shapes = {
        {1, 384, 2, 60, 104}, {1, 96, 1, 120, 832}, {2, 192, 3, 17, 23}, {2, 384, 30, 52},    {1, 32, 2, 97, 90},
        {1, 99, 2, 5, 7},     {1, 3, 1, 2, 3},      {1, 600, 1, 9, 14},  {1, 520, 1, 130, 132}};
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
        const auto opts = at::TensorOptions().device(device).dtype(dtype);
        for (const auto& shape : shapes) {
            at::manual_seed(4321 + shape[1]);
            const auto [x, gamma] = vaeNormInputs(shape, opts);
            for (bool silu : {false, true}) {
                results.push_back(judge(silu ? "vae_rmsnorm_silu" : "vae_rmsnorm", dtype, shapeString(shape),
                                        vaeRmsNormSilu(x, gamma, silu), eagerVaeNorm(x, gamma, silu),
                                        eagerVaeNorm(x.to(at::kDouble), gamma.to(at::kDouble), silu)));
            }
        }
    }
    if (!device.is_cuda()) {
        return;
    }
    // More than 2^31 elements (8.6 GB in and out): the last 4096 positions of every channel against the eager path
    // on the same slice; both kernels (96 channels cached in registers, 520 two-pass).
    for (const auto& shape : std::vector<std::vector<int64_t>>{{1, 96, 22400000}, {1, 520, 4200000}}) {
        at::manual_seed(99);
        const auto opts = at::TensorOptions().device(device).dtype(at::kBFloat16);
        const auto [x, gamma] = vaeNormInputs(shape, opts);
        const int64_t tail = 4096, start = shape[2] - tail;
        const at::Tensor fused = vaeRmsNormSilu(x, gamma, true).narrow(2, start, tail); // [1, C, 4096]
        const at::Tensor xt = x.narrow(2, start, tail);
        results.push_back(judge("vae_rmsnorm_silu", at::kBFloat16, shapeString(shape) + " tail", fused,
                                eagerVaeNorm(xt, gamma, true),
                                eagerVaeNorm(xt.to(at::kDouble), gamma.to(at::kDouble), true)));
    }
}

} // namespace

std::vector<KernelCheckResult> runKernelChecks(at::Device device) {
    std::vector<KernelCheckResult> results;
    const DiTBlockOps eager = DiTBlockOps::eager();
    const Shape shapes[] = {{2, 300, 1536, 12}, {1, 77, 256, 2}, {1, 33, 40, 2}, {2, 19, 100, 5}};
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
        const auto opts = at::TensorOptions().device(device).dtype(dtype);
        for (const auto& s : shapes) {
            const std::string shape = fmt::format("B{} L{} D{} H{}", s.B, s.L, s.D, s.H);
            at::manual_seed(1234 + s.D);
            // LayerNorm + modulate: shift/scale as chunks of a [B, 6, D] modulation, as in the block.
            at::Tensor x = at::randn({s.B, s.L, s.D}, opts) * 2 + 0.5; // [B, L, D]
            auto mod = at::randn({s.B, 6, s.D}, opts).chunk(6, 1);    // six [B, 1, D]
            results.push_back(judge("layernorm_modulate", dtype, shape, layerNormModulate(x, mod[0], mod[1], 1e-6),
                                    eager.layerNormModulate(x, mod[0], mod[1], 1e-6),
                                    eager.layerNormModulate(x.to(at::kDouble), mod[0].to(at::kDouble),
                                                            mod[1].to(at::kDouble), 1e-6)));
            // Gated residual.
            at::Tensor y = at::randn({s.B, s.L, s.D}, opts);
            results.push_back(judge("gated_residual", dtype, shape, gatedResidual(x, mod[2], y),
                                    eager.gatedResidual(x, mod[2], y),
                                    eager.gatedResidual(x.to(at::kDouble), mod[2].to(at::kDouble),
                                                        y.to(at::kDouble))));
            // q/k RMSNorm + RoPE, rows strided as a slice of a fused [B, L, 3D] QKV output; and without RoPE.
            const int64_t d = s.D / s.H;
            if (d % 2 != 0) {
                continue;
            }
            const int64_t f = 1, hh = 1, ww = s.L; // a 1×1×L grid: every position distinct
            const RopeTable rope = RopeTable::build(d, f, hh, ww, device);
            at::Tensor qkv = at::randn({s.B, s.L, 3 * s.D}, opts) * 3; // [B, L, 3D]
            at::Tensor q = qkv.narrow(2, s.D, s.D);                     // [B, L, D], row stride 3D
            at::Tensor w = at::rand({s.D}, opts) + 0.5;
            at::Tensor fusedQ = qkNormRope(q, w, &rope, s.H, 1e-6);
            at::Tensor eagerQ = eager.qkNormRope(q, w, &rope, s.H, 1e-6);
            auto r = judge("rmsnorm_rope", dtype, shape + " strided", fusedQ, eagerQ,
                           eager.qkNormRope(q.to(at::kDouble), w.to(at::kDouble), &rope, s.H, 1e-6));
            // The deviation from the reference's float64 rotation (rounding only): how many outputs differ.
            const at::Tensor diff = (fusedQ.to(at::kDouble) - eagerQ.to(at::kDouble)).abs();
            const int64_t differing = (diff > 0).sum().item<int64_t>();
            r.note = fmt::format("vs float64 rotation: {} of {} outputs differ, max |Δ| {:.3g}, rel L2 {:.3g}",
                                 differing, diff.numel(), diff.max().item<double>(), relL2(fusedQ, eagerQ));
            results.push_back(r);
            results.push_back(judge("rmsnorm", dtype, shape, qkNormRope(q, w, nullptr, s.H, 1e-6),
                                    eager.qkNormRope(q, w, nullptr, s.H, 1e-6),
                                    eager.qkNormRope(q.to(at::kDouble), w.to(at::kDouble), nullptr, s.H, 1e-6)));
            // FFN with bias + GELU(tanh) in the GEMM epilogue.
            if (s.D >= 64) {
                Linear ffn0{at::randn({2 * s.D, s.D}, opts) / std::sqrt(double(s.D)), at::randn({2 * s.D}, opts)};
                Linear ffn2{at::randn({s.D, 2 * s.D}, opts) / std::sqrt(2.0 * s.D), at::randn({s.D}, opts)};
                Linear ffn0d{ffn0.weight.to(at::kDouble), ffn0.bias.to(at::kDouble)};
                Linear ffn2d{ffn2.weight.to(at::kDouble), ffn2.bias.to(at::kDouble)};
                results.push_back(judge("ffn_bias_gelu", dtype, shape, ffnGeluTanh(x, ffn0, ffn2),
                                        eager.ffnGeluTanh(x, ffn0, ffn2),
                                        eager.ffnGeluTanh(x.to(at::kDouble), ffn0d, ffn2d)));
            }
        }
    }
    checkVaeNorm(device, results);
    return results;
}

std::string formatKernelCheck(const KernelCheckResult& r) {
    return fmt::format("{} {:<20} {:<9} {:<24} fused {:.3e} eager {:.3e} tol {:.3e}{}{}", r.passed ? "PASS" : "FAIL",
                       r.op, r.dtype, r.shape, r.fusedError, r.eagerError, r.tolerance, r.note.empty() ? "" : "  ",
                       r.note);
}

} // namespace ditstudio::kernels
