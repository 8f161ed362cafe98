// libFuzzer target: the safetensors container (core/io/safetensors.h). The input is a whole file; every tensor the
// header declares is then mapped and summed, so offsets that pass validation but point outside the file show up
// as sanitizer reports.
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_support.h"

#include <ATen/ATen.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto path = ditstudio::fuzz::scratchDir() / "input.safetensors";
    ditstudio::fuzz::writeBytes(path, data, size);
    try {
        const auto file = ditstudio::io::SafetensorsFile::open(path);
        for (const auto& info : file.tensors()) {
            const at::Tensor t = file.tensor(info.name);
            if (t.numel() > 0 && t.numel() < (1 << 16)) {
                (void)t.to(at::kDouble).sum().item<double>();
            }
        }
        (void)file.metadata().size();
    } catch (const ditstudio::Error&) {
    }
    return 0;
}
