#include "core/io/weight_loader.h"

#include "core/util/error.h"
#include "core/util/shape.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace ditstudio::io {

WeightLoader::WeightLoader(const WeightSource& source, at::ScalarType dtype, at::Device device, std::string prefix)
    : source_(source), dtype_(dtype), device_(device), prefix_(std::move(prefix)) {}

bool WeightLoader::has(const std::string& name) const { return source_.contains(prefix_ + name); }

at::Tensor WeightLoader::take(const std::string& name, std::vector<int64_t> expectedShape) {
    const std::string key = prefix_ + name;
    if (!source_.contains(key)) {
        throw ModelError(fmt::format("missing tensor '{}' (expected shape {}) in {}", key, shapeString(expectedShape),
                                     source_.origin()));
    }
    const auto actual = source_.shape(key);
    if (actual != expectedShape) {
        throw ModelError(fmt::format("tensor '{}' has wrong shape; expected {}, got {} ({})", key,
                                     shapeString(expectedShape), shapeString(actual), source_.fileOf(key)));
    }
    at::Tensor t = source_.tensor(key);
    if (!at::isFloatingType(t.scalar_type())) {
        throw ModelError(fmt::format("tensor '{}' has dtype {}, expected a floating-point type ({})", key,
                                     c10::toString(t.scalar_type()), source_.fileOf(key)));
    }
    taken_.insert(key);
    return t.to(device_, dtype_).contiguous();
}

at::Tensor WeightLoader::takeOptional(const std::string& name, std::vector<int64_t> expectedShape) {
    return has(name) ? take(name, std::move(expectedShape)) : at::Tensor();
}

void WeightLoader::finish() const {
    std::vector<std::string> unexpected;
    for (const auto& name : source_.names()) {
        if (name.rfind(prefix_, 0) == 0 && !taken_.count(name)) {
            unexpected.push_back(name);
        }
    }
    if (!unexpected.empty()) {
        std::string list;
        for (size_t i = 0; i < unexpected.size() && i < 8; ++i) {
            list += (i ? ", '" : "'") + unexpected[i] + "'";
        }
        if (unexpected.size() > 8) {
            list += fmt::format(" and {} more", unexpected.size() - 8);
        }
        throw ModelError(fmt::format("{} unexpected tensor(s) in {}: {}", unexpected.size(),
                                     source_.fileOf(unexpected.front()), list));
    }
}

} // namespace ditstudio::io
