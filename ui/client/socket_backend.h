// The real WorkerBackend: the worker client library (core/protocol/client.h) on the worker's endpoint, starting a
// `ditstudio-worker` itself when nothing listens there (the studio is the embedded default: nothing to configure).
#pragma once
#include "core/protocol/client.h"
#include "core/protocol/endpoint.h"
#include "ui/client/worker_backend.h"

#include <QString>
#include <QStringList>

#include <chrono>
#include <memory>

namespace ditstudio::ui {

struct SocketBackendOptions {
    protocol::Endpoint endpoint = protocol::Endpoint::fromEnvironment();
    bool isStartingWorker = true;     // start `workerProgram` when nothing listens on a Unix endpoint
    QString workerProgram;            // empty: findWorkerProgram()
    QStringList workerArguments;
    std::chrono::milliseconds startTimeout{30000};
    std::chrono::milliseconds requestTimeout{30000};
};

class SocketBackend final : public WorkerBackend {
public:
    explicit SocketBackend(SocketBackendOptions options);
    ~SocketBackend() override;

    void connect(const std::string& clientName, const NoteHandler& onNote) override;
    void close() override;
    bool isConnected() const override;
    protocol::Message request(const nlohmann::json& header) override;
    void setEventHandler(EventHandler handler) override;
    void setDisconnectHandler(DisconnectHandler handler) override;

    // ditstudio-worker beside this executable, in the build tree's app/worker, or on PATH; empty when none.
    static QString findWorkerProgram();

private:
    SocketBackendOptions options_;
    protocol::WorkerClient client_;
};

} // namespace ditstudio::ui
