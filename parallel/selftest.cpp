#include "parallel/selftest.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace ditstudio::parallel {

namespace {

struct Checker {
    std::vector<std::string> failures;
    int rank;

    // every element of `got` must equal `expected` (same shape)
    void equal(const std::string& what, const at::Tensor& got, const at::Tensor& expected) {
        at::Tensor g = got.to(at::kCPU, at::kDouble), e = expected.to(at::kCPU, at::kDouble);
        if (g.sizes() != e.sizes()) {
            failures.push_back(fmt::format("rank {}: {}: shape {}, expected {}", rank, what, c10::str(g.sizes()),
                                           c10::str(e.sizes())));
            return;
        }
        at::Tensor wrong = g.ne(e);
        if (wrong.any().item<bool>()) {
            const int64_t first = wrong.flatten().nonzero()[0][0].item<int64_t>();
            failures.push_back(fmt::format("rank {}: {}: {} of {} elements wrong; element {} is {}, expected {}", rank,
                                           what, wrong.sum().item<int64_t>(), g.numel(), first,
                                           g.flatten()[first].item<double>(), e.flatten()[first].item<double>()));
        }
    }
};

} // namespace

std::vector<std::string> runCollectiveSelfTest(Communicator& comm) {
    const int n = comm.size(), r = comm.rank();
    const auto dev = at::TensorOptions().device(comm.device());
    Checker check{{}, r};

    // all-reduce: Σ rank = n(n−1)/2; element i of (rank+1)·(i+1) sums to (i+1)·n(n+1)/2 (float32 and int64)
    {
        at::Tensor t = at::full({5, 3}, static_cast<double>(r), dev.dtype(at::kFloat));
        comm.allReduceSum(t);
        check.equal("allReduceSum(rank)", t, at::full({5, 3}, n * (n - 1) / 2.0));
        at::Tensor u = (at::arange(1, 8, dev.dtype(at::kLong)) * (r + 1)).contiguous();
        comm.allReduceSum(u);
        check.equal("allReduceSum((rank+1)·(i+1)) int64", u, at::arange(1, 8, at::kLong) * (n * (n + 1) / 2));
    }
    // all-gather: chunk j = 10·j + i
    {
        at::Tensor mine = (at::arange(6, dev.dtype(at::kFloat)) + 10.0 * r).view({2, 3});
        at::Tensor all = comm.allGather(mine); // [2n, 3]
        at::Tensor expected = (at::arange(n, at::kFloat).view({n, 1, 1}) * 10 + at::arange(6, at::kFloat).view({1, 2, 3}))
                                  .reshape({2 * n, 3});
        check.equal("allGather", all, expected);
    }
    // all-to-all: chunk j of rank r holds 100·r + j; received chunk j must be 100·j + r
    {
        at::Tensor send = (at::arange(n, dev.dtype(at::kFloat)).view({n, 1, 1}) + 100.0 * r).expand({n, 2, 4});
        at::Tensor got = comm.allToAll(send.reshape({2 * n, 4}).contiguous());
        at::Tensor expected = (at::arange(n, at::kFloat).view({n, 1, 1}) * 100 + r).expand({n, 2, 4}).reshape({2 * n, 4});
        check.equal("allToAll", got, expected);
    }
    // broadcast from every root
    for (int root = 0; root < n; ++root) {
        at::Tensor t = at::full({4}, static_cast<double>(r * 7 + 1), dev.dtype(at::kFloat));
        comm.broadcast(t, root);
        check.equal(fmt::format("broadcast(root {})", root), t, at::full({4}, root * 7 + 1.0));
    }
    // a ring step: send rank to the next, receive the previous one's
    {
        at::Tensor send = at::full({3, 2}, static_cast<double>(r), dev.dtype(at::kFloat));
        at::Tensor recv = at::empty({3, 2}, dev.dtype(at::kFloat));
        comm.isendRecv(send, (r + 1) % n, recv, (r - 1 + n) % n)->wait();
        check.equal("isendRecv ring step", recv, at::full({3, 2}, static_cast<double>((r - 1 + n) % n)));
    }
    // point-to-point from every root: root sends root·1000 + destination to each other rank
    for (int root = 0; root < n && n > 1; ++root) {
        if (r == root) {
            std::vector<WorkPtr> works;
            std::vector<at::Tensor> keep;
            for (int dst = 0; dst < n; ++dst) {
                if (dst != root) {
                    keep.push_back(at::full({2}, root * 1000.0 + dst, dev.dtype(at::kFloat)));
                    works.push_back(comm.isend(keep.back(), dst));
                }
            }
            for (auto& w : works) {
                w->wait();
            }
        } else {
            at::Tensor got = at::empty({2}, dev.dtype(at::kFloat));
            comm.irecv(got, root)->wait();
            check.equal(fmt::format("irecv from root {}", root), got, at::full({2}, root * 1000.0 + r));
        }
    }
    // split by parity, ranked in reverse: all-reduce of world ranks inside a sub-group
    {
        auto sub = comm.split(r % 2, -r);
        int members = 0, sum = 0, above = 0;
        for (int q = 0; q < n; ++q) {
            if (q % 2 == r % 2) {
                ++members;
                sum += q;
                above += q > r;
            }
        }
        if (sub->size() != members || sub->rank() != above) {
            check.failures.push_back(fmt::format("rank {}: split(parity): rank {} of {}, expected {} of {}", r,
                                                 sub->rank(), sub->size(), above, members));
        }
        at::Tensor t = at::full({3}, static_cast<double>(r), dev.dtype(at::kFloat));
        sub->allReduceSum(t);
        check.equal("allReduceSum in split(parity)", t, at::full({3}, static_cast<double>(sum)));
    }
    // an all-to-all whose dim 0 does not split equally is refused before any message is sent
    if (n > 1) {
        try {
            comm.allToAll(at::zeros({n + 1, 2}, dev.dtype(at::kFloat)));
            check.failures.push_back(fmt::format("rank {}: allToAll of {} rows over {} ranks was not refused", r, n + 1,
                                                 n));
        } catch (const CommError& e) {
            if (std::string(e.what()).find("split equally") == std::string::npos) {
                check.failures.push_back(fmt::format("rank {}: uneven allToAll: unclear message '{}'", r, e.what()));
            }
        }
    }
    comm.barrier();
    return check.failures;
}

} // namespace ditstudio::parallel
