// Communicators: the collectives that sequence parallelism needs, behind one interface, so that the model code
// never knows which transport runs it.
//
//   LocalCommunicator  a world of 1 (in-process): every collective is the identity.
//   CpuCommunicator    our own transport over TCP sockets between rank processes (cpu_communicator.h); its
//                      rendezvous goes through a c10d::Store (TCPStore between processes, HashStore in tests).
//   NcclCommunicator   c10d::ProcessGroupNCCL (nccl_communicator.h), compiled only with DITSTUDIO_CUDA.
//
// Collective calls must be issued by every member of a communicator in the same order with tensors of the same
// shape and dtype (the usual MPI/NCCL contract); the CPU transport detects a size mismatch and says so. Members
// are ranked 0..size−1. A communicator is used from one thread at a time.
#pragma once
#include "core/util/error.h"

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace ditstudio::parallel {

// A collective or point-to-point operation failed: a peer closed its connection, a timeout passed, or the ranks
// disagree on a shape. The message names the operation, the peer rank and the numbers.
class CommError : public Error {
public:
    using Error::Error;
};

// A pending non-blocking operation. `wait()` blocks until the operation is done (CPU transport) or until its result
// is ordered before later work on the current CUDA stream (NCCL); it throws CommError on failure or timeout.
// Calling wait() twice is allowed (the second returns at once or rethrows).
class Work {
public:
    virtual ~Work() = default;
    virtual void wait() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

class Communicator {
public:
    virtual ~Communicator() = default;
    Communicator(const Communicator&) = delete;
    Communicator& operator=(const Communicator&) = delete;

    virtual int rank() const = 0;
    virtual int size() const = 0;
    virtual std::string backend() const = 0; // "local", "cpu-tcp", "nccl"
    // Where the tensors of this communicator live (CUDA for NCCL; the CPU transport stages other devices).
    virtual at::Device device() const { return at::kCPU; }
    // A name unique among the communicators of one group: "world", "world/1.0" (split 1, colour 0), ...
    const std::string& name() const { return name_; }

    // input [size·n, ...], chunk j (rows j·n .. j·n+n−1) goes to rank j → output [size·n, ...] whose chunk j came
    // from rank j. Throws CommError when dim 0 does not split equally over the ranks.
    virtual at::Tensor allToAll(const at::Tensor& input) = 0;
    // input [n, ...] from every rank → [size·n, ...] in rank order.
    virtual at::Tensor allGather(const at::Tensor& input) = 0;
    // In place: every rank ends with the element-wise sum over ranks (the same bits on every rank).
    virtual void allReduceSum(at::Tensor& tensor) = 0;
    // In place: every rank ends with root's tensor.
    virtual void broadcast(at::Tensor& tensor, int root) = 0;
    virtual void barrier() = 0;

    // Point-to-point, non-blocking. The tensors must stay alive and untouched until wait() returns; `recv` must
    // have the sender's shape and dtype. Messages between two ranks arrive in the order they were sent.
    virtual WorkPtr isend(const at::Tensor& tensor, int dst) = 0;
    virtual WorkPtr irecv(at::Tensor& tensor, int src) = 0;
    // Sends to `dst` and receives from `src` as one operation: a ring step that cannot deadlock when every member
    // issues it at once (NCCL groups the two calls; the CPU transport runs them on its I/O threads).
    virtual WorkPtr isendRecv(const at::Tensor& send, int dst, at::Tensor& recv, int src);

    // Collective over this communicator: the members that pass the same colour form a new communicator, ranked by
    // (key, rank here). Every member must call split, in the same order as its other collectives.
    std::unique_ptr<Communicator> split(int colour, int key);

protected:
    explicit Communicator(std::string name) : name_(std::move(name)) {}
    // Builds the communicator of `members` (ranks here, in their new order) named `name`; called by every member
    // of that new group, never by others. `indexInGroup` is this rank's position in `members`.
    virtual std::unique_ptr<Communicator> makeSubgroup(const std::vector<int>& members, int indexInGroup,
                                                       const std::string& name) = 0;
    // Argument checks shared by the implementations (CommError with the operation and the numbers).
    void checkPeer(int peer, const char* operation) const;
    void checkAllToAllInput(const at::Tensor& input) const;

private:
    std::string name_;
    int splitCount_ = 0;
};

// A world of one rank: collectives return their input; isend to itself queues a copy for the next irecv.
class LocalCommunicator final : public Communicator {
public:
    explicit LocalCommunicator(std::string name = "world") : Communicator(std::move(name)) {}
    int rank() const override { return 0; }
    int size() const override { return 1; }
    std::string backend() const override { return "local"; }
    at::Tensor allToAll(const at::Tensor& input) override;
    at::Tensor allGather(const at::Tensor& input) override;
    void allReduceSum(at::Tensor&) override {}
    void broadcast(at::Tensor& tensor, int root) override;
    void barrier() override {}
    WorkPtr isend(const at::Tensor& tensor, int dst) override;
    WorkPtr irecv(at::Tensor& tensor, int src) override;

protected:
    std::unique_ptr<Communicator> makeSubgroup(const std::vector<int>& members, int indexInGroup,
                                               const std::string& name) override;

private:
    std::vector<at::Tensor> mailbox_; // sent to self, not yet received (FIFO)
};

// A Work that is already complete (or that failed with `error`).
WorkPtr completedWork(std::string error = {});

// The timeout of one blocking communication step: DITSTUDIO_COMM_TIMEOUT_S when set, else 300 s.
std::chrono::milliseconds defaultCommTimeout();

} // namespace ditstudio::parallel
