// The process that faults are injected into by test_fault_injection.cpp: one engine operation per run, so the
// test can set resource limits on it, truncate its files or kill it, and then look at what it left on disk.
//   fault_child export FORMAT OUTPUT FRAMES        writes FRAMES frames of 96x96 noise (incompressible)
//   fault_child truncate-safetensors FILE BYTES    opens FILE, then truncates it to BYTES (as a restarted download
//                                                  does), then reads every tensor
//   fault_child truncate-pth FILE BYTES            the same for a torch.save checkpoint
// Exit status: 0 done, 3 a DiT Studio error (message on stderr), 2 usage; a signal when the fault kills it.
#include "core/export/video_exporter.h"
#include "core/io/pth_reader.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

using namespace ditstudio;

namespace {

double sumOf(const at::Tensor& t) { return t.to(at::kDouble).sum().item<double>(); }

void truncateTo(const std::string& file, long bytes) {
    if (::truncate(file.c_str(), bytes) != 0) {
        std::fprintf(stderr, "fault_child: cannot truncate %s: %s\n", file.c_str(), std::strerror(errno));
        std::exit(2);
    }
}

int run(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "export" && argc == 5) {
        ExportFormat format = ExportFormat::Mp4;
        const std::string name = argv[2];
        for (auto f : {ExportFormat::Mp4, ExportFormat::WebM, ExportFormat::Gif, ExportFormat::PngSequence}) {
            if (formatName(f) == name) {
                format = f;
            }
        }
        at::manual_seed(1);
        const at::Tensor frames = at::randint(0, 256, {std::stoll(argv[4]), 96, 96, 3}, at::kByte); // [T, H, W, 3]
        const auto result = exportVideo(frames, argv[3], {format, 16.0, 95});
        std::printf("wrote %s (%llu bytes)\n", result.path.c_str(), static_cast<unsigned long long>(result.bytesWritten));
        return 0;
    }
    if (mode == "truncate-safetensors" && argc == 4) {
        const auto file = io::SafetensorsFile::open(argv[2]);
        truncateTo(argv[2], std::stol(argv[3]));
        double total = 0;
        for (const auto& info : file.tensors()) {
            total += sumOf(file.tensor(info.name));
        }
        std::printf("read %zu tensors, sum %g\n", file.tensors().size(), total);
        return 0;
    }
    if (mode == "truncate-pth" && argc == 4) {
        io::checkPth(argv[2]);
        truncateTo(argv[2], std::stol(argv[3]));
        double total = 0;
        const auto tensors = io::readPth(argv[2]);
        for (const auto& [name, t] : tensors) {
            total += sumOf(t);
        }
        std::printf("read %zu tensors, sum %g\n", tensors.size(), total);
        return 0;
    }
    std::fprintf(stderr, "usage: fault_child export FORMAT OUTPUT FRAMES | truncate-safetensors FILE BYTES | "
                         "truncate-pth FILE BYTES\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 3;
    }
}
