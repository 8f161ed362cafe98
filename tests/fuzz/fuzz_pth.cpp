// libFuzzer target: the torch.save zip reader (core/io/pth_reader.h): zip container, pickle stack machine, storage
// records and tensor views. Every tensor read is summed so that a view past its storage is caught by ASan.
#include "core/io/pth_reader.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_support.h"

#include <ATen/ATen.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto path = ditstudio::fuzz::scratchDir() / "input.pth";
    ditstudio::fuzz::writeBytes(path, data, size);
    try {
        ditstudio::io::checkPth(path);
        for (const auto& [name, tensor] : ditstudio::io::readPth(path)) {
            if (tensor.numel() > 0 && tensor.numel() < (1 << 16)) {
                (void)tensor.to(at::kDouble).sum().item<double>();
            }
        }
    } catch (const ditstudio::Error&) {
    }
    return 0;
}
