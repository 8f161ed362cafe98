// ditstudio-worker: the headless service that owns the job queue, the history and the rank group
// (docs/protocol.md). Argument parsing, logging and signal wiring only; the logic is in service/.
#include "core/protocol/endpoint.h"
#include "service/log_sink.h"
#include "service/rank_executor.h"
#include "service/worker_server.h"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <unistd.h>

using namespace ditstudio;

namespace {

service::WorkerServer* gServer = nullptr;

void onSignal(int) {
    if (gServer) {
        gServer->requestShutdown();
    }
}

std::filesystem::path siblingExecutable(const char* name) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
        return name;
    }
    for (const auto& candidate : {self.parent_path() / name, self.parent_path().parent_path() / "rank" / name}) {
        if (std::filesystem::exists(candidate, ec)) {
            return candidate;
        }
    }
    return self.parent_path() / name;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"DiT Studio worker: job queue, history and the rank group, served over a local socket"};
    service::WorkerOptions options;
    service::RankExecutorOptions rankOptions;
    std::string socketPath, databasePath, outputDir, logLevel = "info", logFile, rankExe;
    int tcpPort = -1;
    app.add_option("--socket", socketPath, "Unix socket (default: $XDG_RUNTIME_DIR/ditstudio/worker.sock)");
    app.add_option("--tcp", tcpPort, "Also listen on 127.0.0.1:PORT (0 = any free port); clients need the token")
        ->check(CLI::Range(0, 65535));
    app.add_option("--database", databasePath, "Job queue and history (default: <state dir>/worker.sqlite3)");
    app.add_option("--output-dir", outputDir, "Where outputs go when a job's export.directory is empty");
    app.add_option("--log-file", logFile, "Rotating log file (default: <state dir>/logs/worker.log)");
    app.add_option("--log-level", logLevel, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
    app.add_option("--rank-exe", rankExe, "The ditstudio-rank executable (default: beside this one)");
    app.add_option("--idle-release-s", rankOptions.idleReleaseSeconds,
                   "Free the warm rank group (and its GPUs) after this many idle seconds");
    app.add_option("--preview-interval-s", rankOptions.previewIntervalSeconds,
                   "At most one live preview per this many seconds (0 = every step)");
    app.add_option("--rank-start-timeout-s", rankOptions.startTimeoutSeconds,
                   "How long rank 0 may take to connect after the group is launched");
    app.add_flag("--paused", options.startPaused, "Start with the queue paused (jobs are accepted, none starts)");
    CLI11_PARSE(app, argc, argv);

    options.socketPath = socketPath;
    options.databasePath = databasePath;
    options.outputDir = outputDir;
    if (tcpPort >= 0) {
        options.tcpPort = static_cast<uint16_t>(tcpPort);
    }
    options.logFile = logFile.empty() ? protocol::stateDir() / "logs" / "worker.log" : std::filesystem::path(logFile);
    rankOptions.rankExecutable = rankExe.empty() ? siblingExecutable("ditstudio-rank") : std::filesystem::path(rankExe);

    auto clientSink = std::make_shared<service::ClientLogSink>();
    try {
        std::filesystem::create_directories(options.logFile.parent_path());
        auto fileSink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(options.logFile.string(), 5u << 20, 3);
        auto consoleSink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
        auto logger = std::make_shared<spdlog::logger>("worker", spdlog::sinks_init_list{consoleSink, fileSink, clientSink});
        logger->set_level(spdlog::level::from_str(logLevel));
        logger->flush_on(spdlog::level::info);
        spdlog::set_default_logger(logger);
    } catch (const std::exception& e) {
        std::cerr << "error: cannot open the log file " << options.logFile << ": " << e.what() << "\n";
        return 2;
    }

    std::signal(SIGPIPE, SIG_IGN);
    try {
        service::WorkerServer server(options, std::make_unique<service::RankGroupExecutor>(rankOptions));
        server.listen();
        clientSink->attach([&server](int64_t job, protocol::Message event) { server.publish(job, std::move(event)); });
        gServer = &server;
        std::signal(SIGINT, onSignal);
        std::signal(SIGTERM, onSignal);
        server.run();
        clientSink->attach(nullptr);
        gServer = nullptr;
    } catch (const service::WorkerAlreadyRunning& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 3;
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        std::cerr << "error: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
