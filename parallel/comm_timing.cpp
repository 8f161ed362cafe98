#include "parallel/comm_timing.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <type_traits>

// NCCL builds are the CUDA builds (parallel/CMakeLists.txt defines DITSTUDIO_HAVE_NCCL only with DITSTUDIO_CUDA).
#if DITSTUDIO_HAVE_NCCL
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#endif

namespace ditstudio::parallel {

struct CommTimer::Interval {
    std::string label;
    std::chrono::steady_clock::time_point hostStart, hostStop;
#if DITSTUDIO_HAVE_NCCL
    std::optional<at::cuda::CUDAEvent> start, stop;
#endif
};

CommTimer::CommTimer(at::Device device) : device_(device) {
#if !DITSTUDIO_HAVE_NCCL
    if (device.is_cuda()) {
        throw ConfigError("CommTimer: a CUDA device needs a build with DITSTUDIO_CUDA=ON");
    }
#endif
}

CommTimer::~CommTimer() = default;

std::string CommTimer::method() const { return device_.is_cuda() ? "cuda-events" : "host-clock"; }

size_t CommTimer::begin(const std::string& label) {
    auto interval = std::make_unique<Interval>();
    interval->label = label;
#if DITSTUDIO_HAVE_NCCL
    if (device_.is_cuda()) {
        interval->start.emplace(cudaEventDefault); // timing enabled
        interval->stop.emplace(cudaEventDefault);
        interval->start->record(at::cuda::getCurrentCUDAStream(device_.index()));
    }
#endif
    interval->hostStart = std::chrono::steady_clock::now();
    open_.push_back(std::move(interval));
    return open_.size() - 1;
}

void CommTimer::end(size_t id) {
    Interval& interval = *open_.at(id);
    interval.hostStop = std::chrono::steady_clock::now();
#if DITSTUDIO_HAVE_NCCL
    if (device_.is_cuda()) {
        interval.stop->record(at::cuda::getCurrentCUDAStream(device_.index()));
    }
#endif
}

std::map<std::string, double> CommTimer::collect() {
    std::map<std::string, double> seconds;
    for (const auto& interval : open_) {
        double s = std::chrono::duration<double>(interval->hostStop - interval->hostStart).count();
#if DITSTUDIO_HAVE_NCCL
        if (device_.is_cuda()) {
            interval->stop->synchronize();
            s = interval->start->elapsed_time(*interval->stop) / 1e3; // ms → s
        }
#endif
        seconds[interval->label] += s;
    }
    open_.clear();
    return seconds;
}

// ---------------------------------------------------------------------------------------------- wrapper

namespace {

// The Work of a non-blocking operation: only the time spent in wait() is counted (the transfer behind the
// caller's compute is not exposed).
class TimedWork final : public Work {
public:
    TimedWork(WorkPtr inner, CommTimer& timer, std::string label)
        : inner_(std::move(inner)), timer_(timer), label_(std::move(label)) {}
    void wait() override {
        const size_t id = timer_.begin(label_);
        inner_->wait();
        timer_.end(id);
    }

private:
    WorkPtr inner_;
    CommTimer& timer_;
    std::string label_;
};

} // namespace

TimedCommunicator::TimedCommunicator(std::unique_ptr<Communicator> inner, CommTimer& timer, std::string label)
    : Communicator(inner->name()), inner_(std::move(inner)), timer_(timer), label_(std::move(label)) {}

template <typename F>
auto TimedCommunicator::timed(F&& call) {
    const size_t id = timer_.begin(label_);
    if constexpr (std::is_void_v<decltype(call())>) {
        call();
        timer_.end(id);
    } else {
        auto result = call();
        timer_.end(id);
        return result;
    }
}

at::Tensor TimedCommunicator::allToAll(const at::Tensor& input) {
    return timed([&] { return inner_->allToAll(input); });
}

at::Tensor TimedCommunicator::allGather(const at::Tensor& input) {
    return timed([&] { return inner_->allGather(input); });
}

void TimedCommunicator::allReduceSum(at::Tensor& tensor) {
    timed([&] { inner_->allReduceSum(tensor); });
}

void TimedCommunicator::broadcast(at::Tensor& tensor, int root) {
    timed([&] { inner_->broadcast(tensor, root); });
}

void TimedCommunicator::barrier() {
    timed([&] { inner_->barrier(); });
}

WorkPtr TimedCommunicator::isend(const at::Tensor& tensor, int dst) {
    WorkPtr work = timed([&] { return inner_->isend(tensor, dst); });
    return std::make_shared<TimedWork>(std::move(work), timer_, label_);
}

WorkPtr TimedCommunicator::irecv(at::Tensor& tensor, int src) {
    WorkPtr work = timed([&] { return inner_->irecv(tensor, src); });
    return std::make_shared<TimedWork>(std::move(work), timer_, label_);
}

WorkPtr TimedCommunicator::isendRecv(const at::Tensor& send, int dst, at::Tensor& recv, int src) {
    // The inner isendRecv (one NCCL group; the CPU transport's I/O threads), not the base's send-then-receive.
    WorkPtr work = timed([&] { return inner_->isendRecv(send, dst, recv, src); });
    return std::make_shared<TimedWork>(std::move(work), timer_, label_);
}

std::unique_ptr<Communicator> TimedCommunicator::makeSubgroup(const std::vector<int>&, int, const std::string&) {
    throw Error(fmt::format("communicator '{}' is wrapped for timing and cannot be split; split first, then wrap",
                            name()));
}

} // namespace ditstudio::parallel
