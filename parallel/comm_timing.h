// Benchmark-only instrumentation: how long the USP code waits on its communicators.
//
// TimedCommunicator wraps a communicator (it owns it) and forwards every call, timing it under a label ("ulysses",
// "ring", ...) in a CommTimer. The bench swaps the groups of a UspGroups for wrapped ones after
// UspGroups::create, so the forward that runs is the generation one, unchanged; nothing is timed outside a bench.
//
// What a timed interval means:
//   CUDA  two CUDA events on the current stream of the device, one before the call and one after it returns (after
//         Work::wait() for a non-blocking operation). NCCL runs on its own stream, and wait() makes the current
//         stream wait for it, so the interval is how long the compute stream stood still for the collective:
//         the transfer plus any wait for a slower peer, minus whatever overlapped earlier compute. For the ring
//         step (isendRecv, waited after the block's attention) this is the *exposed* part of the transfer only.
//   CPU   the host clock around the call (the CPU transport's collectives block; a ring step's transfer runs on
//         the transport's I/O threads, and only the time spent in wait() counts, i.e. again the exposed part).
#pragma once
#include "parallel/communicator.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ditstudio::parallel {

class CommTimer {
public:
    explicit CommTimer(at::Device device);
    ~CommTimer();
    CommTimer(const CommTimer&) = delete;
    CommTimer& operator=(const CommTimer&) = delete;

    // One interval: begin() before the call, end(id) after it. Not thread-safe (a communicator is used from one
    // thread at a time; every wrapped group of one rank runs on the same thread).
    size_t begin(const std::string& label);
    void end(size_t id);
    // Seconds per label since the last collect() (labels that saw no call are absent). On CUDA this synchronises
    // with the events; call it where the stream is idle anyway (the end of a step).
    std::map<std::string, double> collect();
    // "cuda-events" or "host-clock".
    std::string method() const;

private:
    struct Interval;
    at::Device device_;
    std::vector<std::unique_ptr<Interval>> open_;
};

class TimedCommunicator final : public Communicator {
public:
    TimedCommunicator(std::unique_ptr<Communicator> inner, CommTimer& timer, std::string label);

    int rank() const override { return inner_->rank(); }
    int size() const override { return inner_->size(); }
    std::string backend() const override { return inner_->backend(); }
    at::Device device() const override { return inner_->device(); }

    at::Tensor allToAll(const at::Tensor& input) override;
    at::Tensor allGather(const at::Tensor& input) override;
    void allReduceSum(at::Tensor& tensor) override;
    void broadcast(at::Tensor& tensor, int root) override;
    void barrier() override;
    WorkPtr isend(const at::Tensor& tensor, int dst) override;
    WorkPtr irecv(at::Tensor& tensor, int src) override;
    WorkPtr isendRecv(const at::Tensor& send, int dst, at::Tensor& recv, int src) override;

protected:
    // Splitting a wrapped communicator is not supported (wrap the groups after they are split): throws Error.
    std::unique_ptr<Communicator> makeSubgroup(const std::vector<int>& members, int indexInGroup,
                                               const std::string& name) override;

private:
    template <typename F>
    auto timed(F&& call);

    std::unique_ptr<Communicator> inner_;
    CommTimer& timer_;
    std::string label_;
};

} // namespace ditstudio::parallel
