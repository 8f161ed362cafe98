// A temporary path beside an output, removed on destruction unless committed; commit() renames it onto the
// target. Rename within one folder is atomic, so a reader sees either no output or the complete one.
#pragma once
#include <filesystem>
#include <vector>

namespace ditstudio {

class AtomicOutput {
public:
    // `target` is the final path; the temporary is ".<name>.partial-<pid>-<n>" in the same folder.
    explicit AtomicOutput(std::filesystem::path target);
    ~AtomicOutput(); // removes the temporary (file or folder) unless committed
    AtomicOutput(const AtomicOutput&) = delete;
    AtomicOutput& operator=(const AtomicOutput&) = delete;

    const std::filesystem::path& temporary() const { return temporary_; }
    const std::filesystem::path& target() const { return target_; }
    // Renames the temporary onto the target; throws ExportError (and leaves nothing behind) when that fails.
    void commit();

private:
    std::filesystem::path target_;
    std::filesystem::path temporary_;
    bool isCommitted_ = false;
};

// Removes the temporaries that a process killed mid-write (SIGKILL, power loss) left in `dir`: entries named
// ".<name>.partial-<pid>[-<n>]" whose <pid> is no live process. A live writer's (another worker, a CLI run) are
// kept; so is one whose pid was reused since, until that process ends. Returns what it removed; a folder that does
// not exist is no error. The worker runs it at start (service/worker_server.cpp).
std::vector<std::filesystem::path> removeStalePartialOutputs(const std::filesystem::path& dir);

} // namespace ditstudio
