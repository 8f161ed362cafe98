#include "parallel/cpu_communicator.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace ditstudio::parallel {

namespace {

constexpr uint32_t kFrameMagic = 0x44535446; // "DSTF"
constexpr uint32_t kHelloMagic = 0x44535448; // "DSTH"

struct FrameHeader {
    uint32_t magic;
    uint32_t reserved;
    uint64_t bytes;
};

struct Hello {
    uint32_t magic;
    uint32_t rank;
    uint32_t size;
    uint32_t nameHash;
};

using Clock = std::chrono::steady_clock;

std::string errnoText() { return std::strerror(errno); }

// Writes/reads exactly `bytes`; returns an empty string or what went wrong.
std::string writeAll(int fd, const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errnoText();
        }
        p += n;
        bytes -= static_cast<size_t>(n);
    }
    return {};
}

std::string readAll(int fd, void* data, size_t bytes) {
    char* p = static_cast<char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::recv(fd, p, bytes, 0);
        if (n == 0) {
            return "connection closed by the peer (did it exit?)";
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errnoText();
        }
        p += n;
        bytes -= static_cast<size_t>(n);
    }
    return {};
}

uint32_t hashName(const std::string& name) {
    uint32_t h = 2166136261u; // FNV-1a
    for (unsigned char c : name) {
        h = (h ^ c) * 16777619u;
    }
    return h;
}

// One send or receive: memory, its owner, and completion state (guarded by mutex_).
class Request final : public Work {
public:
    Request(std::string what, at::Tensor hostTensor, std::chrono::milliseconds timeout)
        : what_(std::move(what)), host_(std::move(hostTensor)), timeout_(timeout) {}

    char* data() const { return static_cast<char*>(host_.data_ptr()); }
    size_t bytes() const { return host_.numel() * host_.element_size(); }
    const std::string& what() const { return what_; }
    // A receive staged through host memory copies into `target` on the caller's thread once complete.
    void setDeviceTarget(at::Tensor target) { deviceTarget_ = std::move(target); }

    void finish(std::string error) {
        {
            std::lock_guard lock(mutex_);
            if (done_) {
                return;
            }
            done_ = true;
            error_ = std::move(error);
        }
        cv_.notify_all();
    }

    void wait() override {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout_, [this] { return done_; })) {
            throw CommError(fmt::format("{}: no progress within {:.1f} s (peer hung, stopped or waiting elsewhere; "
                                        "DITSTUDIO_COMM_TIMEOUT_S sets the limit)",
                                        what_, timeout_.count() / 1000.0));
        }
        if (!error_.empty()) {
            throw CommError(fmt::format("{}: {}", what_, error_));
        }
        if (deviceTarget_.defined()) {
            deviceTarget_.copy_(host_);
            deviceTarget_ = at::Tensor();
        }
    }

private:
    std::string what_;
    at::Tensor host_; // contiguous CPU memory sent from or received into
    at::Tensor deviceTarget_;
    std::chrono::milliseconds timeout_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;    // guarded by mutex_
    std::string error_;    // guarded by mutex_
};

class MultiWork final : public Work {
public:
    explicit MultiWork(std::vector<WorkPtr> works) : works_(std::move(works)) {}
    void wait() override {
        for (auto& w : works_) {
            w->wait();
        }
    }

private:
    std::vector<WorkPtr> works_;
};

int connectTo(const std::string& address, Clock::time_point deadline, const std::string& what) {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) {
        throw CommError(fmt::format("{}: malformed address '{}' in the store", what, address));
    }
    const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        throw CommError(fmt::format("{}: cannot resolve '{}': {}", what, address, ::gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
    std::string lastError;
    do {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw CommError(fmt::format("{}: socket(): {}", what, errnoText()));
        }
        if (::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
            return fd;
        }
        lastError = errnoText();
        ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (Clock::now() < deadline);
    throw CommError(fmt::format("{}: cannot connect to {}: {}", what, address, lastError));
}

} // namespace

// ---------------------------------------------------------------------------------------------- one peer

struct CpuCommunicator::Link {
    int fd = -1;
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Request>> sends, recvs; // guarded by mutex
    bool closing = false;                              // guarded by mutex
    std::string broken;                                // guarded by mutex: once set, every request fails with it
    std::thread sender, receiver;

    explicit Link(int socket) : fd(socket) {
        sender = std::thread([this] { loop(sends, true); });
        receiver = std::thread([this] { loop(recvs, false); });
    }

    ~Link() {
        {
            std::lock_guard lock(mutex);
            closing = true;
        }
        cv.notify_all();
        ::shutdown(fd, SHUT_RDWR); // unblocks a thread inside send()/recv()
        sender.join();
        receiver.join();
        ::close(fd);
        fail("the communicator was closed");
    }

    void post(std::deque<std::shared_ptr<Request>>& queue, std::shared_ptr<Request> request) {
        {
            std::lock_guard lock(mutex);
            if (!broken.empty()) {
                request->finish(broken);
                return;
            }
            queue.push_back(std::move(request));
        }
        cv.notify_all();
    }

    // Marks the link unusable and fails everything queued on it.
    void fail(const std::string& reason) {
        std::deque<std::shared_ptr<Request>> pending;
        {
            std::lock_guard lock(mutex);
            if (broken.empty()) {
                broken = reason;
            }
            pending.insert(pending.end(), sends.begin(), sends.end());
            pending.insert(pending.end(), recvs.begin(), recvs.end());
            sends.clear();
            recvs.clear();
        }
        for (auto& r : pending) {
            r->finish(reason);
        }
    }

    void loop(std::deque<std::shared_ptr<Request>>& queue, bool isSender) {
        while (true) {
            std::shared_ptr<Request> request;
            {
                std::unique_lock lock(mutex);
                cv.wait(lock, [&] { return !queue.empty() || closing; });
                if (queue.empty()) {
                    return;
                }
                request = queue.front(); // stays queued (so that fail() reaches it) until done
            }
            std::string error = isSender ? sendFrame(*request) : receiveFrame(*request);
            {
                std::lock_guard lock(mutex);
                if (!queue.empty() && queue.front() == request) {
                    queue.pop_front();
                }
            }
            if (!error.empty()) {
                fail(error);
            }
            request->finish(error);
        }
    }

    std::string sendFrame(Request& r) {
        FrameHeader header{kFrameMagic, 0, r.bytes()};
        std::string error = writeAll(fd, &header, sizeof header);
        if (error.empty()) {
            error = writeAll(fd, r.data(), r.bytes());
        }
        return error;
    }

    std::string receiveFrame(Request& r) {
        FrameHeader header{};
        if (std::string error = readAll(fd, &header, sizeof header); !error.empty()) {
            return error;
        }
        if (header.magic != kFrameMagic) {
            return fmt::format("corrupt frame header (magic {:#x})", header.magic);
        }
        if (header.bytes != r.bytes()) {
            return fmt::format("received a message of {} bytes, expected {} (the ranks called collectives in a "
                               "different order or with different shapes)",
                               header.bytes, r.bytes());
        }
        return readAll(fd, r.data(), r.bytes());
    }
};

// ---------------------------------------------------------------------------------------------- communicator

CpuCommunicator::CpuCommunicator(c10::intrusive_ptr<c10d::Store> store, int rank, int size, std::string name,
                                 CpuTransportOptions options)
    : Communicator(std::move(name)), store_(std::move(store)), rank_(rank), size_(size),
      options_(std::move(options)) {
    if (size < 1 || rank < 0 || rank >= size) {
        throw CommError(fmt::format("CPU communicator '{}': rank {} is outside a world of {}", this->name(), rank,
                                    size));
    }
    links_.resize(size);
    if (size > 1) {
        connectMesh();
    }
    spdlog::debug("cpu transport '{}': rank {} of {} connected", this->name(), rank_, size_);
}

CpuCommunicator::~CpuCommunicator() = default;

void CpuCommunicator::connectMesh() {
    const std::string prefix = fmt::format("ditstudio/cpu/{}/addr/", name());
    const auto deadline = Clock::now() + options_.timeout;
    const std::string what = fmt::format("CPU transport '{}' rank {}", name(), rank_);

    const int listenFd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listenFd < 0) {
        throw CommError(fmt::format("{}: socket(): {}", what, errnoText()));
    }
    std::unique_ptr<int, std::function<void(int*)>> listenGuard(new int(listenFd), [](int* fd) {
        ::close(*fd);
        delete fd;
    });
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    if (::inet_pton(AF_INET, options_.host.c_str(), &addr.sin_addr) != 1) {
        throw CommError(fmt::format("{}: listen address '{}' is not an IPv4 address (DITSTUDIO_CPU_TRANSPORT_HOST)",
                                    what, options_.host));
    }
    if (::bind(listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listenFd, size_) != 0) {
        throw CommError(fmt::format("{}: cannot listen on {}: {}", what, options_.host, errnoText()));
    }
    socklen_t len = sizeof addr;
    ::getsockname(listenFd, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string mine = fmt::format("{}:{}", options_.host, ntohs(addr.sin_port));
    store_->set(prefix + std::to_string(rank_), std::vector<uint8_t>(mine.begin(), mine.end()));

    auto adopt = [&](int fd, int peer) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        links_[peer] = std::make_unique<Link>(fd);
    };
    const Hello hello{kHelloMagic, static_cast<uint32_t>(rank_), static_cast<uint32_t>(size_), hashName(name())};
    for (int peer = 0; peer < rank_; ++peer) { // connect to every lower rank
        const std::string key = prefix + std::to_string(peer);
        try {
            store_->wait({key}, options_.timeout);
        } catch (const std::exception& e) {
            throw CommError(fmt::format("{}: rank {} never published its address: {}", what, peer, e.what()));
        }
        const auto value = store_->get(key);
        const int fd = connectTo(std::string(value.begin(), value.end()), deadline,
                                 fmt::format("{} → rank {}", what, peer));
        if (std::string error = writeAll(fd, &hello, sizeof hello); !error.empty()) {
            ::close(fd);
            throw CommError(fmt::format("{}: greeting rank {}: {}", what, peer, error));
        }
        adopt(fd, peer);
    }
    for (int accepted = 0; accepted < size_ - 1 - rank_; ++accepted) { // accept every higher rank
        pollfd p{listenFd, POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
            throw CommError(fmt::format("{}: {} of the {} higher ranks did not connect within {:.1f} s", what,
                                        size_ - 1 - rank_ - accepted, size_ - 1 - rank_,
                                        options_.timeout.count() / 1000.0));
        }
        const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            throw CommError(fmt::format("{}: accept(): {}", what, errnoText()));
        }
        Hello theirs{};
        const std::string error = readAll(fd, &theirs, sizeof theirs);
        if (!error.empty() || theirs.magic != kHelloMagic || theirs.size != hello.size ||
            theirs.nameHash != hello.nameHash || static_cast<int>(theirs.rank) <= rank_ ||
            static_cast<int>(theirs.rank) >= size_ || links_[theirs.rank]) {
            ::close(fd);
            throw CommError(fmt::format("{}: unexpected greeting (rank {}, world {}){}", what, theirs.rank,
                                        theirs.size, error.empty() ? "" : ": " + error));
        }
        adopt(fd, static_cast<int>(theirs.rank));
    }
}

WorkPtr CpuCommunicator::isend(const at::Tensor& tensor, int dst) {
    checkPeer(dst, "isend");
    at::Tensor host = tensor.to(at::kCPU).contiguous();
    if (dst == rank_) {
        selfMailbox_.push_back(host.clone());
        return completedWork();
    }
    auto request = std::make_shared<Request>(fmt::format("isend {} from rank {} to rank {} on '{}'",
                                                         c10::str(tensor.sizes()), rank_, dst, name()),
                                             host, options_.timeout);
    links_[dst]->post(links_[dst]->sends, request);
    return request;
}

WorkPtr CpuCommunicator::irecv(at::Tensor& tensor, int src) {
    checkPeer(src, "irecv");
    const bool staged = !tensor.device().is_cpu() || !tensor.is_contiguous();
    at::Tensor host = staged ? at::empty(tensor.sizes(), tensor.options().device(at::kCPU)) : tensor;
    if (src == rank_) {
        if (selfMailbox_.empty() || selfMailbox_.front().sizes() != tensor.sizes() ||
            selfMailbox_.front().scalar_type() != tensor.scalar_type()) {
            return completedWork(fmt::format("irecv on '{}': no matching isend from this rank to itself", name()));
        }
        tensor.copy_(selfMailbox_.front());
        selfMailbox_.erase(selfMailbox_.begin());
        return completedWork();
    }
    auto request = std::make_shared<Request>(fmt::format("irecv {} on rank {} from rank {} on '{}'",
                                                         c10::str(tensor.sizes()), rank_, src, name()),
                                             host, options_.timeout);
    if (staged) {
        request->setDeviceTarget(tensor);
    }
    links_[src]->post(links_[src]->recvs, request);
    return request;
}

at::Tensor CpuCommunicator::allToAll(const at::Tensor& input) {
    checkAllToAllInput(input);
    at::Tensor in = input.to(at::kCPU).contiguous(); // [size·n, ...]
    at::Tensor out = at::empty_like(in);
    const int64_t n = in.size(0) / size_;
    std::vector<WorkPtr> works;
    for (int peer = 0; peer < size_; ++peer) {
        at::Tensor chunk = out.narrow(0, peer * n, n); // contiguous: a row block of a contiguous tensor
        if (peer == rank_) {
            chunk.copy_(in.narrow(0, peer * n, n));
        } else {
            works.push_back(irecv(chunk, peer));
        }
    }
    for (int peer = 0; peer < size_; ++peer) {
        if (peer != rank_) {
            works.push_back(isend(in.narrow(0, peer * n, n), peer));
        }
    }
    MultiWork(std::move(works)).wait();
    return out.to(input.device());
}

at::Tensor CpuCommunicator::allGather(const at::Tensor& input) {
    at::Tensor in = input.to(at::kCPU).contiguous(); // [n, ...]
    std::vector<int64_t> sizes = in.sizes().vec();
    if (sizes.empty()) {
        in = in.view({1});
        sizes = {1};
    }
    const int64_t n = sizes[0];
    sizes[0] *= size_;
    at::Tensor out = at::empty(sizes, in.options()); // [size·n, ...]
    std::vector<WorkPtr> works;
    for (int peer = 0; peer < size_; ++peer) {
        at::Tensor chunk = out.narrow(0, peer * n, n);
        if (peer == rank_) {
            chunk.copy_(in);
        } else {
            works.push_back(irecv(chunk, peer));
        }
    }
    for (int peer = 0; peer < size_; ++peer) {
        if (peer != rank_) {
            works.push_back(isend(in, peer));
        }
    }
    MultiWork(std::move(works)).wait();
    return out.to(input.device());
}

void CpuCommunicator::allReduceSum(at::Tensor& tensor) {
    at::Tensor all = allGather(tensor.unsqueeze(0)); // [size, ...] on tensor's device
    at::Tensor sum = all[0].clone();
    for (int r = 1; r < size_; ++r) { // rank order: the same bits everywhere
        sum.add_(all[r]);
    }
    tensor.copy_(sum);
}

void CpuCommunicator::broadcast(at::Tensor& tensor, int root) {
    checkPeer(root, "broadcast");
    if (size_ == 1) {
        return;
    }
    if (rank_ == root) {
        std::vector<WorkPtr> works;
        for (int peer = 0; peer < size_; ++peer) {
            if (peer != rank_) {
                works.push_back(isend(tensor, peer));
            }
        }
        MultiWork(std::move(works)).wait();
    } else {
        irecv(tensor, root)->wait();
    }
}

void CpuCommunicator::barrier() {
    at::Tensor token = at::zeros({1}, at::kByte);
    allGather(token);
}

std::unique_ptr<Communicator> CpuCommunicator::makeSubgroup(const std::vector<int>& members, int indexInGroup,
                                                            const std::string& name) {
    return std::make_unique<CpuCommunicator>(store_, indexInGroup, static_cast<int>(members.size()), name,
                                             options_);
}

} // namespace ditstudio::parallel
