#include "core/runtime/noise.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace ditstudio {

at::Tensor seededNoise(const std::vector<int64_t>& shape, uint64_t seed, at::ScalarType dtype, at::Device device) {
    at::Generator gen = at::detail::createCPUGenerator(seed);
    at::Tensor noise = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat).device(at::kCPU));
    return noise.to(device, dtype);
}

} // namespace ditstudio
