// The tiny model folder the end-to-end tests run on: the golden dit_a / vae_tiny / t5_tiny weights (official key
// names, one .safetensors each) and a SentencePiece tokenizer trained here by the library on a small corpus.
#pragma once
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>
#include <string>

// Builds the folder at `modelDir` (scratch files beside it); returns an empty string, or what went wrong.
inline std::string makeTinyGoldenModel(const std::string& modelDir, const std::filesystem::path& goldenDir) {
    std::filesystem::create_directories(modelDir + "/tokenizer");
    for (const char* name : {"dit_a", "vae_tiny", "t5_tiny"}) {
        std::filesystem::copy_file(goldenDir / (std::string(name) + ".weights.safetensors"),
                                   modelDir + "/" + name + ".safetensors");
    }
    const std::string corpus = modelDir + ".corpus.txt";
    {
        std::ofstream out(corpus);
        for (int i = 0; i < 50; ++i) {
            out << "a red fox running through snow\nblurry low quality\na cat surfing a wave at sunset\n"
                   "the quick brown fox jumps over the lazy dog "
                << i << "\n";
        }
    }
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + corpus + " --model_prefix=" + modelDir + "/tokenizer/spiece" +
        " --model_type=unigram --vocab_size=100 --hard_vocab_limit=false --character_coverage=1.0"
        " --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --minloglevel=2");
    std::filesystem::remove(modelDir + "/tokenizer/spiece.vocab");
    return status.ok() ? std::string() : status.ToString();
}
