#include "ui/client/socket_backend.h"

#include "core/util/error.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QStandardPaths>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace ditstudio::ui {

SocketBackend::SocketBackend(SocketBackendOptions options) : options_(std::move(options)) {}

SocketBackend::~SocketBackend() { client_.close(); }

QString SocketBackend::findWorkerProgram() {
    const QString appDir = QCoreApplication::applicationDirPath();
    for (const QString& candidate : {appDir + "/ditstudio-worker", appDir + "/../worker/ditstudio-worker"}) {
        QFileInfo info(candidate);
        if (info.isFile() && info.isExecutable()) {
            return info.canonicalFilePath();
        }
    }
    return QStandardPaths::findExecutable("ditstudio-worker");
}

void SocketBackend::connect(const std::string& clientName, const NoteHandler& onNote) {
    const auto& endpoint = options_.endpoint;
    try {
        client_.connect(endpoint, clientName);
        return;
    } catch (const protocol::ConnectionError& e) {
        if (!options_.isStartingWorker || endpoint.kind != protocol::Endpoint::Kind::Unix) {
            throw;
        }
        spdlog::info("no worker on {} ({}); starting one", endpoint.describe(), e.what());
    }

    const QString program = options_.workerProgram.isEmpty() ? findWorkerProgram() : options_.workerProgram;
    if (program.isEmpty()) {
        throw protocol::ConnectionError(fmt::format(
            "no worker is listening on {} and no ditstudio-worker program was found beside the studio or on PATH; "
            "install ditstudio-worker or start one yourself",
            endpoint.describe()));
    }
    QStringList arguments = options_.workerArguments;
    if (!arguments.contains("--socket")) {
        arguments << "--socket" << QString::fromStdString(endpoint.socketPath.string()); // where this client looks
    }
    if (onNote) {
        onNote(fmt::format("starting {} ...", program.toStdString()));
    }
    qint64 pid = 0;
    if (!QProcess::startDetached(program, arguments, QString(), &pid)) {
        throw protocol::ConnectionError(
            fmt::format("could not start the worker program {}: check that it exists and is executable",
                        program.toStdString()));
    }
    spdlog::info("started {} (pid {})", program.toStdString(), pid);

    const auto deadline = std::chrono::steady_clock::now() + options_.startTimeout;
    std::string lastError;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            client_.connect(endpoint, clientName);
            return;
        } catch (const protocol::ConnectionError& e) {
            lastError = e.what();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    throw protocol::ConnectionError(fmt::format(
        "started {} (pid {}) but it did not listen on {} within {} s (last error: {}); see its log in {}",
        program.toStdString(), pid, endpoint.describe(),
        std::chrono::duration_cast<std::chrono::seconds>(options_.startTimeout).count(), lastError,
        protocol::stateDir().string()));
}

void SocketBackend::close() { client_.close(); }

bool SocketBackend::isConnected() const { return client_.isConnected(); }

protocol::Message SocketBackend::request(const nlohmann::json& header) {
    return client_.request(header, options_.requestTimeout);
}

void SocketBackend::setEventHandler(EventHandler handler) { client_.setEventHandler(std::move(handler)); }

void SocketBackend::setDisconnectHandler(DisconnectHandler handler) {
    client_.setDisconnectHandler(std::move(handler));
}

} // namespace ditstudio::ui
