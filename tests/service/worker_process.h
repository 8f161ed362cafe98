// Test helper: a real ditstudio-worker process on a private socket, database and output folder, plus raw socket
// helpers for speaking the protocol byte by byte.
#pragma once
#include "core/protocol/client.h"
#include "core/protocol/endpoint.h"
#include "core/protocol/framing.h"

#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtTest/QtTest>

#include <algorithm>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ditstudio::testing {

class WorkerProcess {
public:
    explicit WorkerProcess(const QString& root) : root_(root) {}
    ~WorkerProcess() { kill(); }

    QString socketPath() const { return root_ + "/run/ditstudio/worker.sock"; }
    QString databasePath() const { return root_ + "/state/worker.sqlite3"; }
    QString outputDir() const { return root_ + "/out"; }
    static QString executable() { return QStringLiteral(DITSTUDIO_BINARY_DIR "/app/worker/ditstudio-worker"); }
    QProcessEnvironment environment() const {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("XDG_RUNTIME_DIR", root_ + "/run");
        env.insert("XDG_STATE_HOME", root_ + "/state");
        env.insert("XDG_CONFIG_HOME", root_ + "/config");
        env.remove("DITSTUDIO_WORKER");
        return env;
    }
    QStringList arguments(const QStringList& extra) const {
        return QStringList{"--socket", socketPath(), "--database", databasePath(), "--output-dir", outputDir(),
                           "--log-file", root_ + "/state/worker.log"} + extra;
    }

    // Starts the worker and waits until it accepts a client (true), or it exited/timed out (false).
    bool start(const QStringList& extra = {}) {
        process_.setProcessEnvironment(environment());
        process_.setProcessChannelMode(QProcess::MergedChannels);
        // To a file, not a pipe: nothing drains the pipe while a test runs, and once its 64 KiB fill up the worker
        // blocks in its next log line (a 200-job run stalled there).
        QDir().mkpath(root_);
        process_.setStandardOutputFile(consolePath());
        process_.start(executable(), arguments(extra));
        if (!process_.waitForStarted(10000)) {
            return false;
        }
        for (int i = 0; i < 200; ++i) {
            if (process_.state() != QProcess::Running) {
                return false;
            }
            try {
                protocol::WorkerClient probe;
                probe.connect(endpoint(), "probe", std::chrono::seconds(2));
                return true;
            } catch (const Error&) {
                QTest::qWait(50);
            }
        }
        return false;
    }
    protocol::Endpoint endpoint() const {
        protocol::Endpoint e;
        e.socketPath = socketPath().toStdString();
        return e;
    }
    bool isRunning() const { return process_.state() == QProcess::Running; }
    qint64 pid() const { return process_.processId(); }
    void kill() {
        if (process_.state() != QProcess::NotRunning) {
            process_.kill(); // SIGKILL
            process_.waitForFinished(10000);
        }
    }
    QString consolePath() const { return root_ + "/worker.console"; }
    QString output() {
        QFile console(consolePath());
        return console.open(QIODevice::ReadOnly) ? QString::fromUtf8(console.readAll()) : QString();
    }
    QProcess& process() { return process_; }

private:
    QString root_;
    QProcess process_;
};

// A raw connection for malformed input.
class RawConnection {
public:
    explicit RawConnection(const protocol::Endpoint& endpoint) { fd_ = protocol::connectEndpoint(endpoint, std::chrono::seconds(5)); }
    ~RawConnection() { ::close(fd_); }
    void sendBytes(const std::string& bytes) { ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
    void sendMessage(const nlohmann::json& header) { protocol::writeMessage(fd_, protocol::Message(header)); }
    // The next message, or nullopt on timeout / close.
    std::optional<protocol::Message> read(int timeoutMs = 5000) {
        try {
            return protocol::readMessage(fd_, decoder_, std::chrono::milliseconds(timeoutMs));
        } catch (const Error&) {
            isClosed_ = true;
            return std::nullopt;
        }
    }
    bool isClosedByPeer(int timeoutMs = 3000) {
        while (!isClosed_) {
            if (!read(timeoutMs) && !isClosed_) {
                return false;
            }
        }
        return true;
    }
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    protocol::FrameDecoder decoder_;
    bool isClosed_ = false;
};

// The names in a directory, sorted, without "." and ".." (POSIX: libtorch exports its own std::filesystem copies).
inline std::vector<std::string> entriesOf(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name != "." && name != "..") {
                names.push_back(name);
            }
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
}

// "a b c " — for failure messages.
inline std::string joined(const std::vector<std::string>& items) {
    std::string s;
    for (const auto& i : items) {
        s += i + " ";
    }
    return s;
}

} // namespace ditstudio::testing
