// Built only with DITSTUDIO_CUDA (see parallel/CMakeLists.txt); nccl_unavailable.cpp stands in otherwise.
#include "parallel/nccl_communicator.h"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

namespace ditstudio::parallel {

namespace {

// Runs a c10d call and turns its exceptions into CommError naming the operation (style: wrap every library call).
template <typename F>
auto ncclCall(const std::string& what, F&& call) {
    try {
        return call();
    } catch (const std::exception& e) {
        throw CommError(fmt::format("{}: {}", what, e.what()));
    }
}

class NcclWork final : public Work {
public:
    NcclWork(c10::intrusive_ptr<c10d::Work> work, std::string what) : work_(std::move(work)), what_(std::move(what)) {}
    void wait() override {
        ncclCall(what_, [&] { return work_->wait(); });
    }

private:
    c10::intrusive_ptr<c10d::Work> work_;
    std::string what_;
};

class NcclCommunicator final : public Communicator {
public:
    NcclCommunicator(c10::intrusive_ptr<c10d::Store> store, int rank, int size, at::Device device,
                     std::chrono::milliseconds timeout, std::string name)
        : Communicator(std::move(name)), store_(std::move(store)), rank_(rank), size_(size), device_(device),
          timeout_(timeout) {
        if (!device.is_cuda() || !device.has_index()) {
            throw ConfigError(fmt::format("NCCL communicator '{}' needs a device cuda:<i>, got {}", this->name(),
                                          device.str()));
        }
        c10::cuda::set_device(device.index());
        auto options = c10d::ProcessGroupNCCL::Options::create();
        options->timeout = timeout;
        auto prefixed = c10::make_intrusive<c10d::PrefixStore>("ditstudio/nccl/" + this->name(), store_);
        pg_ = ncclCall(what("create process group"),
                       [&] { return c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, size, options); });
        pg_->setBoundDeviceId(device);
        spdlog::debug("nccl '{}': rank {} of {} on {}", this->name(), rank_, size_, device_.str());
    }

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    std::string backend() const override { return "nccl"; }
    at::Device device() const override { return device_; }

    at::Tensor allToAll(const at::Tensor& input) override {
        checkAllToAllInput(input);
        c10::cuda::CUDAGuard guard(device_);
        at::Tensor in = onDevice(input);
        at::Tensor out = at::empty_like(in);
        std::vector<int64_t> equalSplits; // empty: equal chunks of dim 0
        ncclCall(what("allToAll"), [&] { return pg_->alltoall_base(out, in, equalSplits, equalSplits)->wait(); });
        return out;
    }

    at::Tensor allGather(const at::Tensor& input) override {
        c10::cuda::CUDAGuard guard(device_);
        at::Tensor in = onDevice(input.dim() == 0 ? input.view({1}) : input);
        std::vector<int64_t> sizes = in.sizes().vec();
        sizes[0] *= size_;
        at::Tensor out = at::empty(sizes, in.options());
        ncclCall(what("allGather"), [&] { return pg_->_allgather_base(out, in)->wait(); });
        return out;
    }

    void allReduceSum(at::Tensor& tensor) override {
        c10::cuda::CUDAGuard guard(device_);
        std::vector<at::Tensor> tensors{onDevice(tensor)};
        ncclCall(what("allReduceSum"), [&] { return pg_->allreduce(tensors, c10d::AllreduceOptions{})->wait(); });
        if (!tensors[0].is_same(tensor)) {
            tensor.copy_(tensors[0]);
        }
    }

    void broadcast(at::Tensor& tensor, int root) override {
        checkPeer(root, "broadcast");
        c10::cuda::CUDAGuard guard(device_);
        std::vector<at::Tensor> tensors{onDevice(tensor)};
        c10d::BroadcastOptions options;
        options.rootRank = root;
        ncclCall(what("broadcast"), [&] { return pg_->broadcast(tensors, options)->wait(); });
        if (!tensors[0].is_same(tensor)) {
            tensor.copy_(tensors[0]);
        }
    }

    void barrier() override {
        c10::cuda::CUDAGuard guard(device_);
        at::Tensor token = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(device_));
        allReduceSum(token);
        at::cuda::getCurrentCUDAStream().synchronize(); // a barrier for the host, not only for the stream
    }

    WorkPtr isend(const at::Tensor& tensor, int dst) override {
        checkPeer(dst, "isend");
        c10::cuda::CUDAGuard guard(device_);
        std::vector<at::Tensor> tensors{onDevice(tensor)};
        auto work = ncclCall(what("isend"), [&] { return pg_->send(tensors, dst, 0); });
        return std::make_shared<NcclWork>(work, what(fmt::format("isend to rank {}", dst)));
    }

    WorkPtr irecv(at::Tensor& tensor, int src) override {
        checkPeer(src, "irecv");
        checkReceiveBuffer(tensor);
        c10::cuda::CUDAGuard guard(device_);
        std::vector<at::Tensor> tensors{tensor};
        auto work = ncclCall(what("irecv"), [&] { return pg_->recv(tensors, src, 0); });
        return std::make_shared<NcclWork>(work, what(fmt::format("irecv from rank {}", src)));
    }

    // One NCCL group (ncclGroupStart/End through c10d's coalescing), so that both directions of a ring step
    // progress together even when dst == src.
    WorkPtr isendRecv(const at::Tensor& send, int dst, at::Tensor& recv, int src) override {
        checkPeer(dst, "isendRecv");
        checkPeer(src, "isendRecv");
        checkReceiveBuffer(recv);
        c10::cuda::CUDAGuard guard(device_);
        std::vector<at::Tensor> sendTensors{onDevice(send)}, recvTensors{recv};
        auto work = ncclCall(what("isendRecv"), [&] {
            pg_->startCoalescing();
            pg_->send(sendTensors, dst, 0);
            pg_->recv(recvTensors, src, 0);
            return pg_->endCoalescing();
        });
        return std::make_shared<NcclWork>(work, what(fmt::format("ring step (send to {}, receive from {})", dst, src)));
    }

protected:
    std::unique_ptr<Communicator> makeSubgroup(const std::vector<int>& members, int indexInGroup,
                                               const std::string& name) override {
        return std::make_unique<NcclCommunicator>(store_, indexInGroup, static_cast<int>(members.size()), device_,
                                                  timeout_, name);
    }

private:
    std::string what(const std::string& operation) const {
        return fmt::format("NCCL {} on '{}' (rank {} of {}, {})", operation, name(), rank_, size_, device_.str());
    }
    at::Tensor onDevice(const at::Tensor& t) const { return t.to(device_).contiguous(); }
    void checkReceiveBuffer(const at::Tensor& t) const {
        if (t.device() != device_ || !t.is_contiguous()) {
            throw CommError(fmt::format("{}: the receive buffer must be a contiguous tensor on {}, got {} on {}",
                                        what("receive"), device_.str(), c10::str(t.sizes()), t.device().str()));
        }
    }

    c10::intrusive_ptr<c10d::Store> store_;
    int rank_, size_;
    at::Device device_;
    std::chrono::milliseconds timeout_;
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> pg_;
};

} // namespace

std::unique_ptr<Communicator> makeNcclCommunicator(c10::intrusive_ptr<c10d::Store> store, int rank, int size,
                                                   at::Device device, std::chrono::milliseconds timeout) {
    return std::make_unique<NcclCommunicator>(std::move(store), rank, size, device, timeout, "world");
}

bool haveNccl() { return true; }

} // namespace ditstudio::parallel
