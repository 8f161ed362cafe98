// Hands out a model's weights by declared name and shape, in the model's dtype and device, converting once.
// Each model asks for every tensor it owns (`take`, or `takeOptional`); `finish()` then fails on any tensor of
// the source that no module asked for under the given prefix. Messages follow "tensor 'X' has wrong shape;
// expected [..], got [..] (file)".
#pragma once
#include "core/io/weight_source.h"

#include <ATen/core/Tensor.h>

#include <set>
#include <string>
#include <vector>

namespace ditstudio::io {

class WeightLoader {
public:
    WeightLoader(const WeightSource& source, at::ScalarType dtype, at::Device device, std::string prefix = "");

    at::Tensor take(const std::string& name, std::vector<int64_t> expectedShape);
    at::Tensor takeOptional(const std::string& name, std::vector<int64_t> expectedShape);
    bool has(const std::string& name) const;
    // Fails with the list of tensors under the prefix that nothing asked for.
    void finish() const;

    at::ScalarType dtype() const { return dtype_; }
    at::Device device() const { return device_; }

private:
    const WeightSource& source_;
    at::ScalarType dtype_;
    at::Device device_;
    std::string prefix_;
    std::set<std::string> taken_;
};

} // namespace ditstudio::io
