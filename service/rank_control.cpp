#include "service/rank_control.h"

#include "core/presets/generation_settings.h"
#include "core/protocol/endpoint.h"
#include "core/protocol/messages.h"
#include "core/runtime/generation.h"
#include "core/runtime/out_of_memory.h"
#include "parallel/rank_session.h"
#include "parallel/usp.h"

#include <ATen/ATen.h>
#include <ATen/DeviceAccelerator.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <sys/socket.h>
#include <unistd.h>

namespace ditstudio::service {

using protocol::Message;

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Rank 0's connection to the worker: writes from the job thread, a reader thread that turns "cancel" into the
// cancel flag at once and queues run_job/shutdown for the main loop.
class ControlChannel {
public:
    explicit ControlChannel(int fd) : fd_(fd) {
        reader_ = std::thread([this] { readLoop(); });
    }
    ~ControlChannel() {
        ::shutdown(fd_, SHUT_RDWR);
        reader_.join();
        ::close(fd_);
    }

    void send(const Message& message) {
        std::lock_guard lock(writeMutex_);
        protocol::writeMessage(fd_, message);
    }
    // Blocks until the next run_job or shutdown (a lost connection reads as shutdown).
    Message nextCommand() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !commands_.empty(); });
        Message m = std::move(commands_.front());
        commands_.pop_front();
        return m;
    }
    void beginJob(int64_t job) {
        std::lock_guard lock(mutex_);
        currentJob_ = job;
        cancel_ = false;
    }
    const std::atomic<bool>& cancelFlag() const { return cancel_; }

private:
    void readLoop() {
        protocol::FrameDecoder decoder;
        try {
            for (;;) {
                auto message = protocol::readMessage(fd_, decoder, std::chrono::milliseconds(-1));
                if (!message) {
                    continue;
                }
                protocol::validateMessage(*message, protocol::Direction::WorkerToRank);
                std::lock_guard lock(mutex_);
                if (message->type() == "cancel") {
                    if (message->header["job"].get<int64_t>() == currentJob_) {
                        cancel_ = true;
                    }
                    continue;
                }
                commands_.push_back(std::move(*message));
                changed_.notify_all();
            }
        } catch (const Error& e) {
            spdlog::info("control channel closed: {}", e.what());
        }
        std::lock_guard lock(mutex_);
        cancel_ = true;
        commands_.push_back(Message(nlohmann::json{{"type", "shutdown"}}));
        changed_.notify_all();
    }

    int fd_;
    std::thread reader_;
    std::mutex writeMutex_;
    std::mutex mutex_; // guards commands_, currentJob_
    std::condition_variable changed_;
    std::deque<Message> commands_;
    int64_t currentJob_ = 0;
    std::atomic<bool> cancel_{false};
};

// Rank 0 → every rank: a JSON document over the world communicator (length, then bytes).
nlohmann::json broadcastJson(parallel::Communicator& world, const nlohmann::json* document) {
    const auto options = at::TensorOptions().device(world.device());
    std::string text = document ? document->dump() : std::string();
    at::Tensor length = at::full({1}, static_cast<int64_t>(text.size()), options.dtype(at::kLong));
    world.broadcast(length, 0);
    const int64_t size = length.cpu().item<int64_t>();
    at::Tensor bytes = document ? at::from_blob(text.data(), {size}, at::kByte).to(world.device())
                                : at::empty({size}, options.dtype(at::kByte));
    world.broadcast(bytes, 0);
    if (document) {
        return *document;
    }
    at::Tensor cpu = bytes.cpu().contiguous();
    return nlohmann::json::parse(std::string(static_cast<const char*>(cpu.data_ptr()), static_cast<size_t>(size)));
}

struct WarmGenerator {
    Generator::DiTCompiler compiler; // installed on every generator this rank loads
    VaeNormOp vaeNormOp;             // likewise
    std::string model;
    at::ScalarType dtype = at::kFloat;
    std::unique_ptr<Generator> generator;
    std::unique_ptr<parallel::UspGroups> groups; // world > 1: the USP groups of this model's head count
};

// A request too large for the device: the rank itself is fine. Its activations are gone with the unwind and the
// cached blocks go back to the device, so with one rank the group stays warm for the next job; with several, a peer
// may wait in a collective, so this rethrows and the group is restarted as for any other failure.
template <typename Send>
void reportOutOfMemory(parallel::RankSession& session, const std::string& stage, const std::string& message,
                       Send& send) {
    const int rank = session.environment().rank;
    const std::string reason = fmt::format("rank {}: {}", rank, message);
    spdlog::error("{}", reason);
    send({{"type", "failed"}, {"stage", stage}, {"reason", reason}});
    if (session.environment().device.is_cuda()) {
        at::accelerator::emptyCache();
    }
    if (session.environment().worldSize > 1) {
        throw OutOfMemoryError(reason);
    }
}

// One job on this rank. Rank 0 (channel != nullptr) streams its progress; every rank returns normally when the
// job ended (result / cancelled / failed reported) and throws only when the group can no longer continue.
void runJob(parallel::RankSession& session, ControlChannel* channel, const nlohmann::json& command,
            WarmGenerator& warm) {
    const int64_t job = command["job"].get<int64_t>();
    const double previewInterval = command.value("preview_interval_s", 0.25);
    const auto start = Clock::now();
    const bool isLeader = channel != nullptr;
    const int worldSize = session.environment().worldSize;
    std::string stage = "load";
    auto send = [&](nlohmann::json fields, std::string payload = {}) {
        if (isLeader) {
            fields["job"] = job;
            channel->send(Message(std::move(fields), std::move(payload)));
        }
    };
    send({{"type", "stage"}, {"stage", "load"}, {"elapsed_s", 0.0}});
    try {
        const GenerationSettings settings = GenerationSettings::fromJson(command["settings"]);
        const std::string model = command["model"].get<std::string>();
        const at::Device device = session.environment().device;
        const at::ScalarType dtype =
            device.is_cpu() || settings.dtype == "float32" ? at::kFloat : at::kBFloat16;
        double loadSeconds = 0;
        if (!warm.generator || warm.model != model || warm.dtype != dtype) {
            const auto loadStart = Clock::now();
            warm.generator.reset();
            warm.groups.reset();
            warm.generator = std::make_unique<Generator>(model, device, dtype);
            warm.generator->setDiTCompiler(warm.compiler);
            warm.generator->setVaeNormOp(warm.vaeNormOp);
            warm.model = model;
            warm.dtype = dtype;
            if (worldSize > 1) {
                // Every rank runs the same generate(); the velocity is the USP one (a collective on every rank at
                // the same point of the loop). The groups are split once per model, on first use.
                warm.generator->setVelocityFactory([&session, &warm](const WanDiT& dit, at::Tensor positive,
                                                                     at::Tensor negative, double cfgScale) {
                    if (!warm.groups) {
                        warm.groups = std::make_unique<parallel::UspGroups>(parallel::UspGroups::create(
                            session.world(), session.environment().degrees, dit.config().numHeads));
                    }
                    return parallel::makeParallelVelocity(dit, *warm.groups, std::move(positive), std::move(negative),
                                                          cfgScale);
                });
            }
            loadSeconds = secondsSince(loadStart);
        }
        Generator& generator = *warm.generator;

        auto lastPreview = Clock::now() - std::chrono::hours(1);
        at::Tensor finalLatents;
        int64_t framesSent = 0;
        GenerationCallbacks callbacks;
        callbacks.onStage = [&](const std::string& name) {
            if (name == "decode" && finalLatents.defined()) {
                const auto shape = finalLatents.sizes().vec();
                send({{"type", "latents"}, {"shape", shape}, {"dtype", "F32"}},
                     std::string(static_cast<const char*>(finalLatents.data_ptr()), finalLatents.nbytes()));
            }
            stage = name;
            send({{"type", "stage"}, {"stage", name}, {"elapsed_s", secondsSince(start)}});
        };
        callbacks.onStep = [&](const StepInfo& info) {
            const bool isLast = info.index + 1 == info.total;
            if (isLeader) {
                const double rate = info.elapsedSeconds > 0 ? (info.index + 1) / info.elapsedSeconds : 0.0;
                send({{"type", "step"},
                      {"step", info.index + 1},
                      {"total", info.total},
                      {"it_per_s", rate},
                      {"eta_s", rate > 0 ? (info.total - info.index - 1) / rate : 0.0},
                      {"elapsed_s", secondsSince(start)}});
                if (isLast && info.latents) {
                    finalLatents = info.latents->detach().to(at::kCPU, at::kFloat).contiguous();
                }
                if (isLast || std::chrono::duration<double>(Clock::now() - lastPreview).count() >= previewInterval) {
                    lastPreview = Clock::now();
                    at::Tensor rgb = latentPreview(info.predictedClean(), generator.previewFactors(),
                                                   generator.previewBias())
                                         .to(at::kCPU)
                                         .contiguous(); // uint8 [F, h, w, 3]
                    send({{"type", "preview"},
                          {"step", info.index + 1},
                          {"frames", rgb.size(0)},
                          {"height", rgb.size(1)},
                          {"width", rgb.size(2)},
                          {"format", "rgb8"}},
                         std::string(static_cast<const char*>(rgb.data_ptr()), rgb.nbytes()));
                }
            }
            bool isCancelled = isLeader && channel->cancelFlag().load();
            if (worldSize > 1) {
                // Every rank stops at the same step: rank 0's decision, broadcast.
                at::Tensor flag = at::full({1}, isCancelled ? 1 : 0,
                                           at::TensorOptions().dtype(at::kInt).device(session.world().device()));
                session.world().broadcast(flag, 0);
                isCancelled = flag.cpu().item<int>() != 0;
            }
            return !isCancelled;
        };
        auto sendFrames = [&](const at::Tensor& frames, int64_t firstFrame) {
            at::Tensor cpu = frames.to(at::kCPU).contiguous(); // uint8 [t, H, W, 3]
            const int64_t frameBytes = cpu.size(1) * cpu.size(2) * 3;
            const int64_t perMessage = std::max<int64_t>(1, (32ll << 20) / std::max<int64_t>(frameBytes, 1));
            for (int64_t i = 0; i < cpu.size(0); i += perMessage) {
                at::Tensor part = cpu.slice(0, i, std::min(cpu.size(0), i + perMessage)).contiguous();
                send({{"type", "frames"},
                      {"first_frame", firstFrame + i},
                      {"count", part.size(0)},
                      {"height", part.size(1)},
                      {"width", part.size(2)},
                      {"format", "rgb8"}},
                     std::string(static_cast<const char*>(part.data_ptr()), part.nbytes()));
            }
            framesSent = std::max(framesSent, firstFrame + cpu.size(0));
        };
        callbacks.onFrames = [&](const at::Tensor& frames, int64_t firstFrame) {
            if (isLeader) {
                sendFrames(frames, firstFrame);
            }
        };

        // With several ranks only the per-step broadcast decides, so that every rank stops at the same step.
        const std::atomic<bool>* cancel = isLeader && worldSize == 1 ? &channel->cancelFlag() : nullptr;
        GenerationResult result = generator.generate(settings, callbacks, cancel);
        result.stageSeconds["load"] = loadSeconds;
        if (isLeader) {
            if (framesSent < result.frames.size(0)) {
                sendFrames(result.frames.slice(0, framesSent), framesSent);
            }
            nlohmann::json timings(result.stageSeconds);
            send({{"type", "result"},
                  {"timings", timings},
                  {"seed", result.seed},
                  {"frames", result.frames.size(0)},
                  {"height", result.frames.size(1)},
                  {"width", result.frames.size(2)}});
        }
    } catch (const CancelledError&) {
        send({{"type", "cancelled"}});
    } catch (const OutOfMemoryError& e) {
        reportOutOfMemory(session, stage, e.what(), send);
    } catch (const c10::OutOfMemoryError& e) { // outside generate(): loading the weights, streaming the frames
        reportOutOfMemory(session, stage,
                          fmt::format("out of memory during {} of model {} on {} ({})", stage,
                                      command["model"].get<std::string>(), session.environment().device.str(),
                                      e.what_without_backtrace()),
                          send);
    } catch (const std::exception& e) {
        const int rank = session.environment().rank;
        send({{"type", "failed"}, {"stage", stage}, {"reason", fmt::format("rank {}: {}", rank, e.what())}});
        if (worldSize > 1) {
            throw; // the other ranks may be waiting in a collective: the group must be restarted
        }
    }
}

} // namespace

bool isServingWorker() {
    const char* path = std::getenv(kControlSocketEnv);
    return path && *path;
}

int serveWorker(parallel::RankSession& session, Generator::DiTCompiler compiler, VaeNormOp vaeNormOp) {
    const auto& env = session.environment();
    WarmGenerator warm;
    warm.compiler = std::move(compiler);
    warm.vaeNormOp = std::move(vaeNormOp);
    std::unique_ptr<ControlChannel> channel;
    try {
        if (session.isLeader()) {
            protocol::Endpoint endpoint;
            endpoint.socketPath = std::getenv(kControlSocketEnv);
            const int fd = protocol::connectEndpoint(endpoint, std::chrono::seconds(10));
            channel = std::make_unique<ControlChannel>(fd);
            channel->send(Message(nlohmann::json{{"type", "rank_hello"},
                                   {"protocol", protocol::kProtocolVersion},
                                   {"rank", env.rank},
                                   {"world", env.worldSize},
                                   {"pid", static_cast<uint64_t>(::getpid())},
                                   {"device", env.device.str()}}));
        }
        for (;;) {
            nlohmann::json command;
            if (channel) {
                Message message = channel->nextCommand();
                command = message.header;
                if (command["type"] == "run_job") {
                    channel->beginJob(command["job"].get<int64_t>());
                }
            }
            if (env.worldSize > 1) {
                command = broadcastJson(session.world(), channel ? &command : nullptr);
            }
            if (command["type"] == "shutdown") {
                spdlog::info("rank {}: shutdown", env.rank);
                return parallel::kRankExitOk;
            }
            runJob(session, channel.get(), command, warm);
        }
    } catch (const std::exception& e) {
        spdlog::error("rank {}: {}", env.rank, e.what());
        return parallel::kRankExitError;
    }
}

} // namespace ditstudio::service
