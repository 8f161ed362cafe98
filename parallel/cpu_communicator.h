// The CPU transport: our own communicator over TCP sockets between rank processes (the torch wheel ships no Gloo
// headers). Multi-rank correctness runs in CI with it, without a GPU.
//
// Rendezvous through a c10d::Store (TCPStore between processes, HashStore for threads of one process): every rank
// listens on an ephemeral port of `host`, publishes "host:port" under "ditstudio/cpu/<name>/addr/<rank>", connects
// to every lower rank and accepts every higher one: a full mesh, one socket per pair. Each link has a sender and a
// receiver thread; isend/irecv queue requests on them, so a ring step's send and receive overlap the caller's
// compute and two ranks sending to each other at once cannot deadlock. Frames are a 16-byte header (magic, bytes)
// plus the payload; a receive whose size does not match the frame is a CommError naming both sizes (the ranks
// called collectives in a different order or with different shapes). Messages between two ranks arrive in order.
//
// Collectives are built from point-to-point messages (all-to-all and all-gather: one message per pair;
// all-reduce: all-gather, then a sum in rank order, so every rank gets the same bits). Tensors on other devices are
// staged through host memory. Not thread-safe: one caller thread per communicator (its I/O threads are internal).
#pragma once
#include "parallel/communicator.h"

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace ditstudio::parallel {

struct CpuTransportOptions {
    std::string host = "127.0.0.1"; // the address this rank listens on (DITSTUDIO_CPU_TRANSPORT_HOST)
    std::chrono::milliseconds timeout = defaultCommTimeout(); // connecting, and each blocking wait
};

class CpuCommunicator final : public Communicator {
public:
    // Collective over the `size` ranks that use `store` and `name`: returns once the mesh is connected.
    CpuCommunicator(c10::intrusive_ptr<c10d::Store> store, int rank, int size, std::string name = "world",
                    CpuTransportOptions options = {});
    ~CpuCommunicator() override; // closes the sockets; pending operations fail with CommError

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    std::string backend() const override { return "cpu-tcp"; }
    at::Tensor allToAll(const at::Tensor& input) override;
    at::Tensor allGather(const at::Tensor& input) override;
    void allReduceSum(at::Tensor& tensor) override;
    void broadcast(at::Tensor& tensor, int root) override;
    void barrier() override;
    WorkPtr isend(const at::Tensor& tensor, int dst) override;
    WorkPtr irecv(at::Tensor& tensor, int src) override;

    struct Link; // one peer: socket, I/O threads, request queues (cpu_communicator.cpp)

protected:
    std::unique_ptr<Communicator> makeSubgroup(const std::vector<int>& members, int indexInGroup,
                                               const std::string& name) override;

private:
    void connectMesh();

    c10::intrusive_ptr<c10d::Store> store_;
    int rank_, size_;
    CpuTransportOptions options_;
    std::vector<std::unique_ptr<Link>> links_; // by peer rank; null for this rank
    std::vector<at::Tensor> selfMailbox_;      // isend to this rank, not yet received (FIFO)
};

} // namespace ditstudio::parallel
