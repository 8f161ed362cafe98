// Hands out a model's weights by declared name and shape, in the model's dtype and device, converting once.
// Each model asks for every tensor it owns (`take`, or `takeOptional`); `finish()` then fails on any tensor of
// the source that no module asked for under the given prefix. Messages follow "tensor 'X' has wrong shape;
// expected [..], got [..] (file)".
#pragma once
#include "core/io/weight_source.h"

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ditstudio::io {

class WeightLoader {
public:
    WeightLoader(const WeightSource& source, at::ScalarType dtype, at::Device device, std::string prefix = "");

    // Training from scratch: a tensor the source lacks is created by `init(name, shape)` (on the loader's device
    // and dtype) and recorded in `created` under its full name, instead of being an error.
    using Initializer = std::function<at::Tensor(const std::string& name, const std::vector<int64_t>& shape)>;
    void createMissing(Initializer init, std::map<std::string, at::Tensor>* created);

    at::Tensor take(const std::string& name, std::vector<int64_t> expectedShape);
    at::Tensor takeOptional(const std::string& name, std::vector<int64_t> expectedShape);
    bool has(const std::string& name) const;
    // Fails with the list of tensors under the prefix that nothing asked for.
    void finish() const;

    at::ScalarType dtype() const { return dtype_; }
    at::Device device() const { return device_; }

private:
    friend class ScopedWeightInit;
    const WeightSource& source_;
    at::ScalarType dtype_;
    at::Device device_;
    std::string prefix_;
    std::set<std::string> taken_;
    Initializer init_;
    std::map<std::string, at::Tensor>* created_ = nullptr;
};

// While alive, every WeightLoader constructed on this thread creates the tensors its source lacks (training a
// model from scratch through the same model classes as inference). Not for inference paths.
class ScopedWeightInit {
public:
    ScopedWeightInit(WeightLoader::Initializer init, std::map<std::string, at::Tensor>* created);
    ~ScopedWeightInit();
    ScopedWeightInit(const ScopedWeightInit&) = delete;
    ScopedWeightInit& operator=(const ScopedWeightInit&) = delete;

    static const ScopedWeightInit* current();
    const WeightLoader::Initializer& init() const { return init_; }
    std::map<std::string, at::Tensor>* created() const { return created_; }

private:
    WeightLoader::Initializer init_;
    std::map<std::string, at::Tensor>* created_;
    const ScopedWeightInit* previous_;
};

} // namespace ditstudio::io
