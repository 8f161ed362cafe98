// libFuzzer target: the strict preset loader (core/presets/preset_store.h loadPresetYaml). A document that loads
// must survive a round trip through toYaml unchanged in meaning.
#include "core/presets/preset_store.h"
#include "core/util/error.h"

#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    ditstudio::GenerationSettings settings;
    try {
        settings = ditstudio::loadPresetYaml(text, "fuzz.yaml");
    } catch (const ditstudio::Error&) {
        return 0;
    }
    const std::string written = ditstudio::toYaml(settings);
    try {
        const auto again = ditstudio::loadPresetYaml(written, "roundtrip.yaml");
        if (ditstudio::toYaml(again) != written) {
            std::fprintf(stderr, "preset round trip changed the document:\n%s\n---\n%s\n", written.c_str(),
                         ditstudio::toYaml(again).c_str());
            std::abort();
        }
    } catch (const ditstudio::Error& e) {
        std::fprintf(stderr, "toYaml wrote a preset that does not load: %s\n%s\n", e.what(), written.c_str());
        std::abort();
    }
    return 0;
}
