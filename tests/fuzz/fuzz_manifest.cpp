// libFuzzer target: the model-folder manifest (core/io/model_folder.h, ditstudio-model.json). A scratch folder
// holds a tiny valid model (the golden tiny DiT, VAE and UMT5 weights) once; each input is written as the manifest
// and the folder is opened, so a manifest that gets past parsing also reaches the config checks against weights.
#include "core/io/model_folder.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"
#include "tests/fuzz/fuzz_support.h"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::warn);
    const fs::path golden(DITSTUDIO_GOLDEN_DIR);
    const auto& dir = ditstudio::fuzz::scratchDir();
    fs::copy_file(golden / "dit_a.weights.safetensors", dir / "dit.safetensors", fs::copy_options::overwrite_existing);
    fs::copy_file(golden / "vae_tiny.weights.safetensors", dir / "vae.safetensors",
                  fs::copy_options::overwrite_existing);
    fs::copy_file(golden / "t5_tiny.weights.safetensors", dir / "t5.safetensors", fs::copy_options::overwrite_existing);
    fs::create_directories(dir / "tokenizer");
    const uint8_t bytes[] = {'x'};
    ditstudio::fuzz::writeBytes(dir / "tokenizer" / "spiece.model", bytes, 1);
    ditstudio::fuzz::writeBytes(dir / "spiece.model", bytes, 1);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto& dir = ditstudio::fuzz::scratchDir();
    ditstudio::fuzz::writeBytes(dir / ditstudio::io::kManifestName, data, size);
    try {
        const auto folder = ditstudio::io::ModelFolder::open(dir);
        (void)folder.summary();
        (void)folder.modelFiles();
    } catch (const ditstudio::Error&) {
    }
    return 0;
}
