// A temporary path beside an output, removed on destruction unless committed; commit() renames it onto the
// target. Rename within one folder is atomic, so a reader sees either no output or the complete one.
#pragma once
#include <filesystem>

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

} // namespace ditstudio
