// Seeded initial noise, bitwise the reference's: a fresh CPU generator seeded with `seed`, float32 randn in
// memory order (LibTorch's own CPU kernel, so the same vectorised Box–Muller as PyTorch), then cast and moved.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace ditstudio {

at::Tensor seededNoise(const std::vector<int64_t>& shape, uint64_t seed, at::ScalarType dtype = at::kFloat,
                       at::Device device = at::kCPU);

} // namespace ditstudio
