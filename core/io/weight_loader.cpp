#include "core/io/weight_loader.h"

#include "core/util/error.h"
#include "core/util/shape.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace ditstudio::io {

namespace {
thread_local const ScopedWeightInit* tlsWeightInit = nullptr;
}

ScopedWeightInit::ScopedWeightInit(WeightLoader::Initializer init, std::map<std::string, at::Tensor>* created)
    : init_(std::move(init)), created_(created), previous_(tlsWeightInit) {
    tlsWeightInit = this;
}

ScopedWeightInit::~ScopedWeightInit() { tlsWeightInit = previous_; }

const ScopedWeightInit* ScopedWeightInit::current() { return tlsWeightInit; }

WeightLoader::WeightLoader(const WeightSource& source, at::ScalarType dtype, at::Device device, std::string prefix)
    : source_(source), dtype_(dtype), device_(device), prefix_(std::move(prefix)) {
    if (const auto* scoped = ScopedWeightInit::current()) {
        init_ = scoped->init();
        created_ = scoped->created();
    }
}

bool WeightLoader::has(const std::string& name) const {
    return source_.contains(prefix_ + name) || (created_ && created_->count(prefix_ + name));
}

void WeightLoader::createMissing(Initializer init, std::map<std::string, at::Tensor>* created) {
    init_ = std::move(init);
    created_ = created;
}

at::Tensor WeightLoader::take(const std::string& name, std::vector<int64_t> expectedShape) {
    const std::string key = prefix_ + name;
    if (!source_.contains(key) && init_ && created_) {
        at::Tensor t = init_(key, expectedShape).to(device_, dtype_).contiguous();
        (*created_)[key] = t;
        taken_.insert(key);
        return t;
    }
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
