#include "parallel/communicator.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace ditstudio::parallel {

namespace {

class CompletedWork final : public Work {
public:
    explicit CompletedWork(std::string error) : error_(std::move(error)) {}
    void wait() override {
        if (!error_.empty()) {
            throw CommError(error_);
        }
    }

private:
    std::string error_;
};

// Waits for two operations as one (a send and a receive of a ring step).
class PairWork final : public Work {
public:
    PairWork(WorkPtr first, WorkPtr second) : first_(std::move(first)), second_(std::move(second)) {}
    void wait() override {
        first_->wait();
        second_->wait();
    }

private:
    WorkPtr first_, second_;
};

} // namespace

WorkPtr completedWork(std::string error) { return std::make_shared<CompletedWork>(std::move(error)); }

std::chrono::milliseconds defaultCommTimeout() {
    if (const char* value = std::getenv("DITSTUDIO_COMM_TIMEOUT_S")) {
        char* end = nullptr;
        const double seconds = std::strtod(value, &end);
        if (end != value && seconds > 0) {
            return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
        }
        throw ConfigError(fmt::format("DITSTUDIO_COMM_TIMEOUT_S must be a positive number of seconds, got '{}'",
                                      value));
    }
    return std::chrono::seconds(300);
}

WorkPtr Communicator::isendRecv(const at::Tensor& send, int dst, at::Tensor& recv, int src) {
    WorkPtr sent = isend(send, dst);
    WorkPtr received = irecv(recv, src);
    return std::make_shared<PairWork>(std::move(sent), std::move(received));
}

void Communicator::checkPeer(int peer, const char* operation) const {
    if (peer < 0 || peer >= size()) {
        throw CommError(fmt::format("{} on communicator '{}': peer rank {} is outside 0..{}", operation, name_, peer,
                                    size() - 1));
    }
}

void Communicator::checkAllToAllInput(const at::Tensor& input) const {
    if (input.dim() == 0 || input.size(0) % size() != 0) {
        throw CommError(fmt::format("allToAll on communicator '{}': dim 0 of the input {} must split equally over "
                                    "the {} ranks",
                                    name_, c10::str(input.sizes()), size()));
    }
}

std::unique_ptr<Communicator> Communicator::split(int colour, int key) {
    const int generation = splitCount_++;
    // Everyone learns everyone's (colour, key): one all-gather of [1, 2] int64 (on the communicator's device).
    at::Tensor mine = at::tensor(std::vector<int64_t>{colour, key}, at::kLong).view({1, 2}).to(device());
    at::Tensor all = allGather(mine).to(at::kCPU); // [size, 2]
    std::vector<std::pair<int64_t, int>> members; // (key, rank here)
    for (int r = 0; r < size(); ++r) {
        if (all[r][0].item<int64_t>() == colour) {
            members.emplace_back(all[r][1].item<int64_t>(), r);
        }
    }
    std::sort(members.begin(), members.end());
    std::vector<int> ranks;
    int index = -1;
    for (const auto& [memberKey, r] : members) {
        if (r == rank()) {
            index = static_cast<int>(ranks.size());
        }
        ranks.push_back(r);
    }
    return makeSubgroup(ranks, index, fmt::format("{}/{}.{}", name_, generation, colour));
}

// ---------------------------------------------------------------------------------------------- world of one

at::Tensor LocalCommunicator::allToAll(const at::Tensor& input) {
    checkAllToAllInput(input);
    return input.clone();
}

at::Tensor LocalCommunicator::allGather(const at::Tensor& input) { return input.clone(); }

void LocalCommunicator::broadcast(at::Tensor&, int root) { checkPeer(root, "broadcast"); }

WorkPtr LocalCommunicator::isend(const at::Tensor& tensor, int dst) {
    checkPeer(dst, "isend");
    mailbox_.push_back(tensor.clone());
    return completedWork();
}

WorkPtr LocalCommunicator::irecv(at::Tensor& tensor, int src) {
    checkPeer(src, "irecv");
    if (mailbox_.empty()) {
        return completedWork(fmt::format("irecv on communicator '{}': nothing was sent to this rank", name()));
    }
    at::Tensor message = mailbox_.front();
    mailbox_.erase(mailbox_.begin());
    if (message.sizes() != tensor.sizes() || message.scalar_type() != tensor.scalar_type()) {
        return completedWork(fmt::format("irecv on communicator '{}': received {} {}, expected {} {}", name(),
                                         c10::toString(message.scalar_type()), c10::str(message.sizes()),
                                         c10::toString(tensor.scalar_type()), c10::str(tensor.sizes())));
    }
    tensor.copy_(message);
    return completedWork();
}

std::unique_ptr<Communicator> LocalCommunicator::makeSubgroup(const std::vector<int>&, int, const std::string& name) {
    return std::make_unique<LocalCommunicator>(name);
}

} // namespace ditstudio::parallel
