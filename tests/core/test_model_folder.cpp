// Model folders in each layout, built here from the golden tiny weights under the official key names and file
// formats (safetensors, a sharded index, torch.save .pth): each loads with official names and the DiT builds;
// broken pieces (truncated .pth, wrong-shaped tensor, missing file, bad manifest) give errors naming them.
#include "core/io/model_folder.h"
#include "core/io/name_conversion.h"
#include "core/io/pth_reader.h"
#include "core/io/safetensors.h"
#include "core/models/wan_dit.h"
#include "core/util/error.h"

#include <ATen/ATen.h>
#include <QtTest/QtTest>

#include <cstdlib>
#include <fstream>

using namespace ditstudio;
namespace fs = std::filesystem;

namespace {

using TensorMap = std::map<std::string, at::Tensor>;

TensorMap golden(const std::string& name) {
    const auto file = io::SafetensorsFile::open(fs::path(DITSTUDIO_GOLDEN_DIR) / (name + ".weights.safetensors"));
    TensorMap out;
    for (const auto& info : file.tensors()) {
        out.emplace(info.name, file.tensor(info.name).clone());
    }
    return out;
}

void saveSafetensors(const fs::path& path, const TensorMap& tensors, const std::string& prefix = "") {
    std::vector<std::pair<std::string, at::Tensor>> list;
    for (const auto& [name, t] : tensors) {
        list.emplace_back(prefix + name, t);
    }
    io::saveSafetensors(path, list);
}

TensorMap toDtype(const TensorMap& tensors, at::ScalarType dtype) {
    TensorMap out;
    for (const auto& [name, t] : tensors) {
        out.emplace(name, t.to(dtype));
    }
    return out;
}

// Wan T5 names → HuggingFace UMT5EncoderModel names, written out by hand (independent of the conversion table).
TensorMap toHuggingFaceT5(const TensorMap& tensors) {
    TensorMap out;
    for (const auto& [name, t] : tensors) {
        std::string hf;
        int layer = -1;
        char rest[128] = {};
        if (name == "token_embedding.weight") {
            hf = "shared.weight";
        } else if (name == "norm.weight") {
            hf = "encoder.final_layer_norm.weight";
        } else if (std::sscanf(name.c_str(), "blocks.%d.%127s", &layer, rest) == 2) {
            const std::string r = rest;
            const std::string b = "encoder.block." + std::to_string(layer) + ".layer.";
            const std::map<std::string, std::string> map = {
                {"norm1.weight", "0.layer_norm.weight"},
                {"attn.q.weight", "0.SelfAttention.q.weight"},
                {"attn.k.weight", "0.SelfAttention.k.weight"},
                {"attn.v.weight", "0.SelfAttention.v.weight"},
                {"attn.o.weight", "0.SelfAttention.o.weight"},
                {"pos_embedding.embedding.weight", "0.SelfAttention.relative_attention_bias.weight"},
                {"norm2.weight", "1.layer_norm.weight"},
                {"ffn.gate.0.weight", "1.DenseReluDense.wi_0.weight"},
                {"ffn.fc1.weight", "1.DenseReluDense.wi_1.weight"},
                {"ffn.fc2.weight", "1.DenseReluDense.wo.weight"},
            };
            hf = b + map.at(r);
        }
        if (hf.empty()) {
            throw std::runtime_error("unmapped T5 name " + name);
        }
        out.emplace(hf, t);
    }
    return out;
}

void writeText(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

// Every tensor of `source` equals `expected` (names, dtypes and values).
void compareWeights(const io::WeightSource& source, const TensorMap& expected) {
    auto names = source.names();
    QCOMPARE(names.size(), expected.size());
    for (const auto& [name, t] : expected) {
        QVERIFY2(source.contains(name), name.c_str());
        const at::Tensor got = source.tensor(name);
        QVERIFY2(got.scalar_type() == t.scalar_type(), name.c_str());
        QVERIFY2(at::equal(got, t), name.c_str());
    }
}

void buildOfficial(const fs::path& dir) {
    fs::create_directories(dir);
    saveSafetensors(dir / "diffusion_pytorch_model.safetensors", golden("dit_a"));
    io::savePth(dir / "Wan2.1_VAE.pth", golden("vae_tiny"));
    io::savePth(dir / "models_t5_umt5-xxl-enc-bf16.pth", toDtype(golden("t5_tiny"), at::kBFloat16));
    writeText(dir / "google/umt5-xxl/spiece.model", "sentencepiece model bytes");
}

std::string errorOf(const std::function<void()>& body) {
    try {
        body();
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

const char* kVenvPython = DITSTUDIO_SOURCE_DIR "/.venv/bin/python";

} // namespace

class ModelFolderTest : public QObject {
    Q_OBJECT
private slots:
    void officialLayoutLoads() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "Wan2.1-T2V-1.3B";
        buildOfficial(dir);
        const auto folder = io::ModelFolder::open(dir);
        QVERIFY(folder.layout == io::ModelLayout::OfficialWan);
        QCOMPARE(folder.name, std::string("Wan2.1-T2V-1.3B"));
        QCOMPARE(folder.ditConfig.dim, int64_t(256));
        QCOMPARE(folder.ditConfig.numLayers, int64_t(2));
        QCOMPARE(folder.ditConfig.numHeads, int64_t(2)); // 256 / the Wan head size 128
        QCOMPARE(folder.ditConfig.textDim, int64_t(64));
        compareWeights(folder.dit.weights(), golden("dit_a"));
        compareWeights(folder.vae.weights(), golden("vae_tiny"));
        compareWeights(folder.textEncoder.weights(), toDtype(golden("t5_tiny"), at::kBFloat16));
        QCOMPARE(folder.tokenizer.string(), (dir / "google/umt5-xxl").string());
        QCOMPARE(folder.modelFiles().size(), size_t(4));
        WanDiT dit(folder.dit.weights(), folder.ditConfig, at::kFloat, at::kCPU);
        QCOMPARE(dit.blocks().size(), size_t(2));
    }

    void shardedOfficialDitLoadsThroughItsIndex() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "Wan2.1-T2V-14B";
        buildOfficial(dir);
        fs::remove(dir / "diffusion_pytorch_model.safetensors");
        TensorMap first, second;
        nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
        for (const auto& [name, t] : golden("dit_a")) {
            const bool isFirst = name < "blocks.1";
            (isFirst ? first : second).emplace(name, t);
            index["weight_map"][name] = isFirst ? "diffusion_pytorch_model-00001-of-00002.safetensors"
                                                : "diffusion_pytorch_model-00002-of-00002.safetensors";
        }
        saveSafetensors(dir / "diffusion_pytorch_model-00001-of-00002.safetensors", first);
        saveSafetensors(dir / "diffusion_pytorch_model-00002-of-00002.safetensors", second);
        writeText(dir / "diffusion_pytorch_model.safetensors.index.json", index.dump());
        const auto folder = io::ModelFolder::open(dir);
        QVERIFY(folder.layout == io::ModelLayout::OfficialWan);
        QCOMPARE(folder.dit.files().size(), size_t(3)); // index + 2 shards
        compareWeights(folder.dit.weights(), golden("dit_a"));
        QVERIFY(contains(folder.dit.weights().fileOf("blocks.1.modulation"), "00002-of-00002"));
        QCOMPARE(folder.modelFiles().size(), size_t(6));

        // Shards without their index are refused with what is missing.
        fs::remove(dir / "diffusion_pytorch_model.safetensors.index.json");
        const auto message = errorOf([&] { io::ModelFolder::open(dir); });
        QVERIFY2(contains(message, "diffusion_pytorch_model.safetensors.index.json"), message.c_str());
    }

    void singleFilesLayoutLoadsComfyUiNames() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        saveSafetensors(dir / "wan2.1_t2v_1.3B_fp32.safetensors", golden("dit_a"), "model.diffusion_model.");
        saveSafetensors(dir / "wan_2.1_vae.safetensors", golden("vae_tiny"));
        saveSafetensors(dir / "umt5_xxl.safetensors", toHuggingFaceT5(golden("t5_tiny")));
        saveSafetensors(dir / "some_lora.safetensors", {{"lora_unet_x.alpha", at::ones({1})}});
        writeText(dir / "tokenizer/tokenizer.json", "{}");
        const auto folder = io::ModelFolder::open(dir);
        QVERIFY(folder.layout == io::ModelLayout::SingleFiles);
        compareWeights(folder.dit.weights(), golden("dit_a"));
        compareWeights(folder.vae.weights(), golden("vae_tiny"));
        compareWeights(folder.textEncoder.weights(), golden("t5_tiny"));
        QCOMPARE(folder.dit.files().front().filename().string(), std::string("wan2.1_t2v_1.3B_fp32.safetensors"));
        QCOMPARE(folder.tokenizer.string(), (dir / "tokenizer").string());
        WanDiT dit(folder.dit.weights(), folder.ditConfig, at::kFloat, at::kCPU);

        // Two DiT files: ambiguous, named.
        saveSafetensors(dir / "other_dit.safetensors", golden("dit_a"));
        const auto message = errorOf([&] { io::ModelFolder::open(dir); });
        QVERIFY2(contains(message, "other_dit.safetensors") && contains(message, "wan2.1_t2v_1.3B_fp32.safetensors"),
                 message.c_str());
    }

    void manifestLayoutLoads() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        saveSafetensors(dir / "dit.safetensors", golden("dit_a"));
        io::savePth(dir / "vae.pth", golden("vae_tiny"));
        saveSafetensors(dir / "t5.safetensors", golden("t5_tiny"));
        writeText(dir / "spiece.model", "sentencepiece model bytes");
        nlohmann::json factors = nlohmann::json::array();
        for (int i = 0; i < 16; ++i) {
            factors.push_back({0.1 * i, -0.1 * i, 0.5});
        }
        const nlohmann::json manifest = {
            {"format_version", 1},
            {"name", "DiT Studio tiny demo"},
            {"dit", {{"file", "dit.safetensors"},
                     {"config", {{"dim", 256}, {"ffn_dim", 512}, {"num_heads", 2}, {"num_layers", 2}, {"in_dim", 16},
                                 {"out_dim", 16}, {"text_dim", 64}, {"freq_dim", 256}, {"patch_size", {1, 2, 2}},
                                 {"eps", 1e-6}}}}},
            {"vae", {{"file", "vae.pth"}, {"config", {{"dim", 8}}}}},
            {"text_encoder", {{"file", "t5.safetensors"}, {"config", {{"vocab", 1000}, {"num_heads", 4}}}}},
            {"tokenizer", {{"file", "spiece.model"}}},
            {"preview", {{"latent_rgb_factors", factors}, {"latent_rgb_bias", {0.0, 0.1, 0.2}}}},
            {"default_preset", "tiny-fast"},
            {"license", "Apache-2.0"},
            {"training_commit", "0123abc"},
        };
        writeText(dir / io::kManifestName, manifest.dump(2));
        const auto folder = io::ModelFolder::open(dir);
        QVERIFY(folder.layout == io::ModelLayout::Manifest);
        QCOMPARE(folder.name, std::string("DiT Studio tiny demo"));
        QCOMPARE(folder.defaultPreset, std::string("tiny-fast"));
        QCOMPARE(folder.license, std::string("Apache-2.0"));
        QCOMPARE(folder.trainingCommit, std::string("0123abc"));
        QCOMPARE(folder.ditConfig.numHeads, int64_t(2));
        QCOMPARE(folder.vae.config()["dim"].get<int>(), 8);
        QCOMPARE(folder.textEncoder.config()["vocab"].get<int>(), 1000);
        QCOMPARE(folder.previewFactors.sizes().vec(), (std::vector<int64_t>{16, 3}));
        QCOMPARE(folder.previewFactors[3][1].item<float>(), -0.3f);
        QCOMPARE(folder.previewBias.sizes().vec(), (std::vector<int64_t>{3}));
        compareWeights(folder.vae.weights(), golden("vae_tiny"));
        compareWeights(folder.textEncoder.weights(), golden("t5_tiny"));
        WanDiT dit(folder.dit.weights(), folder.ditConfig, at::kFloat, at::kCPU);

        // The tokenizer and the text encoder can be dropped and read again.
        folder.vae.release();
        compareWeights(folder.vae.weights(), golden("vae_tiny"));
    }

    void manifestErrorsNameTheKey_data() {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown key") << "unknown" << "bogus: unknown key";
        QTest::newRow("config disagrees with weights") << "layers" << "dit.config.num_layers is 3";
        QTest::newRow("newer format") << "version" << "format_version: 7 is not supported";
        QTest::newRow("missing file") << "file" << "vae.file names nope.pth, which does not exist";
        QTest::newRow("bad preview") << "preview" << "preview.latent_rgb_factors[0]: expected 3 numbers";
        QTest::newRow("no tokenizer") << "tokenizer" << "no \"tokenizer\"";
    }
    void manifestErrorsNameTheKey() {
        QFETCH(QString, edit);
        QFETCH(QString, expected);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        saveSafetensors(dir / "dit.safetensors", golden("dit_a"));
        saveSafetensors(dir / "vae.safetensors", golden("vae_tiny"));
        saveSafetensors(dir / "t5.safetensors", golden("t5_tiny"));
        writeText(dir / "spiece.model", "x");
        nlohmann::json manifest = {{"format_version", 1},
                                   {"dit", {{"file", "dit.safetensors"}}},
                                   {"vae", {{"file", "vae.safetensors"}}},
                                   {"text_encoder", {{"file", "t5.safetensors"}}},
                                   {"tokenizer", {{"file", "spiece.model"}}}};
        if (edit == "unknown") {
            manifest["bogus"] = 1;
        } else if (edit == "layers") {
            manifest["dit"]["config"] = {{"dim", 256}, {"ffn_dim", 512}, {"num_heads", 2}, {"num_layers", 3},
                                         {"text_dim", 64}};
        } else if (edit == "version") {
            manifest["format_version"] = 7;
        } else if (edit == "file") {
            manifest["vae"]["file"] = "nope.pth";
        } else if (edit == "preview") {
            nlohmann::json rows = nlohmann::json::array();
            for (int i = 0; i < 16; ++i) {
                rows.push_back(i == 0 ? nlohmann::json{1, 2} : nlohmann::json{0, 0, 0});
            }
            manifest["preview"] = {{"latent_rgb_factors", rows}, {"latent_rgb_bias", {0, 0, 0}}};
        } else if (edit == "tokenizer") {
            manifest.erase("tokenizer");
        }
        writeText(dir / io::kManifestName, manifest.dump());
        const auto message = errorOf([&] { io::ModelFolder::open(dir); });
        QVERIFY2(contains(message, expected.toStdString()), message.c_str());
        if (edit != "layers") {
            QVERIFY2(contains(message, io::kManifestName), message.c_str());
        }
    }

    void missingPiecesAreListedWithWhatWasFound() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        buildOfficial(dir);
        fs::remove(dir / "Wan2.1_VAE.pth");
        fs::remove(dir / "google/umt5-xxl/spiece.model"); // (not remove_all: see core/util/atomic_output.cpp)
        fs::remove(dir / "google/umt5-xxl");
        fs::remove(dir / "google");
        auto message = errorOf([&] { io::ModelFolder::open(dir); });
        QVERIFY2(contains(message, "missing Wan2.1_VAE.pth, google/umt5-xxl/"), message.c_str());
        QVERIFY2(contains(message, "found: diffusion_pytorch_model.safetensors, models_t5_umt5-xxl-enc-bf16.pth"),
                 message.c_str());

        QTemporaryDir empty;
        message = errorOf([&] { io::ModelFolder::open(empty.path().toStdString()); });
        QVERIFY2(contains(message, "missing a DiT") && contains(message, "nothing (empty folder)"), message.c_str());
    }

    void truncatedPthIsNamed() {
        QTemporaryDir tmp;
        const fs::path dir = fs::path(tmp.path().toStdString()) / "model";
        buildOfficial(dir);
        const fs::path vae = dir / "Wan2.1_VAE.pth";
        fs::resize_file(vae, fs::file_size(vae) / 2);
        auto message = errorOf([&] { io::ModelFolder::open(dir); });
        QVERIFY2(contains(message, vae.string()) && contains(message, "truncated or corrupt"), message.c_str());
        message = errorOf([&] { io::readPth(vae); });
        QVERIFY2(contains(message, vae.string()), message.c_str());
        // Not a zip at all, and the legacy pre-1.6 pickle format.
        writeText(dir / "junk.pth", "this is not a checkpoint");
        message = errorOf([&] { io::readPth(dir / "junk.pth"); });
        QVERIFY2(contains(message, "junk.pth") && contains(message, "no zip signature"), message.c_str());
        writeText(dir / "legacy.pth", std::string("\x80\x02\x8a\x0a", 4));
        message = errorOf([&] { io::readPth(dir / "legacy.pth"); });
        QVERIFY2(contains(message, "legacy.pth") && contains(message, "legacy"), message.c_str());
    }

    void wrongShapedTensorIsNamedWithItsFile() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto dit = golden("dit_a");
        dit["blocks.1.self_attn.q.weight"] = at::zeros({256, 128});
        io::savePth(dir / "dit.pth", dit);
        saveSafetensors(dir / "vae.safetensors", golden("vae_tiny"));
        saveSafetensors(dir / "t5.safetensors", golden("t5_tiny"));
        writeText(dir / "spiece.model", "x");
        writeText(dir / io::kManifestName, nlohmann::json({{"format_version", 1},
                                                            {"dit", {{"file", "dit.pth"}}},
                                                            {"vae", {{"file", "vae.safetensors"}}},
                                                            {"text_encoder", {{"file", "t5.safetensors"}}},
                                                            {"tokenizer", {{"file", "spiece.model"}}}})
                                                .dump());
        const auto folder = io::ModelFolder::open(dir);
        const auto message = errorOf([&] { WanDiT model(folder.dit.weights(), folder.ditConfig, at::kFloat, at::kCPU); });
        QVERIFY2(contains(message, "blocks.1.self_attn.q.weight"), message.c_str());
        QVERIFY2(contains(message, (dir / "dit.pth").string()), message.c_str());
        QVERIFY2(contains(message, "[256, 256]") && contains(message, "[256, 128]"), message.c_str());
    }

    void pthReadsWhatPythonTorchSaveWrote() {
        if (!fs::exists(kVenvPython)) {
            QSKIP("the project's .venv python (scripts/setup.sh) is not installed");
        }
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        // torch.save of a real module's state_dict (an OrderedDict with _metadata), bf16, nested, with views.
        const std::string script =
            "import torch,sys\n"
            "d=sys.argv[1]\n"
            "torch.manual_seed(0)\n"
            "m=torch.nn.Sequential(torch.nn.Linear(4,3),torch.nn.LayerNorm(3))\n"
            "sd=m.state_dict()\n"
            "torch.save(sd,d+'/sd.pth')\n"
            "torch.save({k:v.to(torch.bfloat16) for k,v in sd.items()},d+'/bf16.pth')\n"
            "torch.save({'state_dict':sd,'epoch':3},d+'/nested.pth')\n"
            "w=torch.arange(12.).reshape(3,4)\n"
            "torch.save({'t':w.t(),'view':w[1:]},d+'/views.pth')\n"
            "torch.save({'a':torch.zeros(2),'b':5},d+'/nontensor.pth')\n"
            "torch.save({k:v for k,v in sd.items()},d+'/expected.pth')\n"
            "open(d+'/values.txt','w').write(' '.join(str(float(x)) for x in sd['0.weight'].flatten()))\n";
        writeText(dir / "make.py", script);
        const std::string command = std::string(kVenvPython) + " " + (dir / "make.py").string() + " " + dir.string() +
                                    " 2>/dev/null";
        QCOMPARE(std::system(command.c_str()), 0);

        const auto sd = io::readPth(dir / "sd.pth");
        QCOMPARE(sd.size(), size_t(4));
        QCOMPARE(sd.at("0.weight").sizes().vec(), (std::vector<int64_t>{3, 4}));
        std::ifstream valuesIn(dir / "values.txt");
        std::vector<float> values;
        for (float v; valuesIn >> v;) {
            values.push_back(v);
        }
        QVERIFY(at::equal(sd.at("0.weight").flatten(), at::tensor(values, at::kFloat)));
        QCOMPARE(io::readPth(dir / "bf16.pth").at("1.bias").scalar_type(), at::kBFloat16);
        QCOMPARE(io::readPth(dir / "nested.pth").size(), size_t(4));
        const auto views = io::readPth(dir / "views.pth");
        const auto w = at::arange(12, at::kFloat).reshape({3, 4});
        QVERIFY(at::equal(views.at("t"), w.t()));
        QVERIFY(at::equal(views.at("view"), w.slice(0, 1)));
        const auto message = errorOf([&] { io::readPth(dir / "nontensor.pth"); });
        QVERIFY2(contains(message, "nontensor.pth") && contains(message, "entry 'b'"), message.c_str());
    }

    void pthWrittenHereLoadsInPythonTorch() {
        if (!fs::exists(kVenvPython)) {
            QSKIP("the project's .venv python (scripts/setup.sh) is not installed");
        }
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        TensorMap tensors = {{"a.weight", at::arange(6, at::kFloat).reshape({2, 3})},
                             {"b.bias", at::tensor({1.5, -2.0}, at::kFloat).to(at::kBFloat16)}};
        io::savePth(dir / "out.pth", tensors);
        writeText(dir / "check.py",
                  "import torch,sys\n"
                  "d=torch.load(sys.argv[1])\n"
                  "assert sorted(d.keys())==['a.weight','b.bias'], d.keys()\n"
                  "assert d['a.weight'].tolist()==[[0,1,2],[3,4,5]]\n"
                  "assert d['b.bias'].dtype==torch.bfloat16 and d['b.bias'].tolist()==[1.5,-2.0]\n"
                  "print('ok')\n");
        const std::string command = std::string(kVenvPython) + " " + (dir / "check.py").string() + " " +
                                    (dir / "out.pth").string() + " 2>&1 | tail -1 > " + (dir / "result.txt").string();
        std::system(command.c_str());
        std::ifstream in(dir / "result.txt");
        std::string result;
        std::getline(in, result);
        QCOMPARE(QString::fromStdString(result), QString("ok"));
        QVERIFY(!fs::exists(dir / (".out.pth.partial-" + std::to_string(getpid()))));
    }

    void nameConversionTable_data() {
        QTest::addColumn<int>("role");
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("official");
        QTest::newRow("comfy dit") << int(io::ModelRole::Dit) << "model.diffusion_model.blocks.3.ffn.0.weight"
                                   << "blocks.3.ffn.0.weight";
        QTest::newRow("official dit") << int(io::ModelRole::Dit) << "head.head.weight" << "head.head.weight";
        QTest::newRow("diffsynth vae") << int(io::ModelRole::Vae) << "model.decoder.conv1.weight"
                                       << "decoder.conv1.weight";
        QTest::newRow("official vae encoder") << int(io::ModelRole::Vae) << "encoder.conv1.weight"
                                              << "encoder.conv1.weight";
        QTest::newRow("hf t5 wi_0") << int(io::ModelRole::TextEncoder)
                                    << "encoder.block.11.layer.1.DenseReluDense.wi_0.weight"
                                    << "blocks.11.ffn.gate.0.weight";
        QTest::newRow("hf t5 bias") << int(io::ModelRole::TextEncoder)
                                    << "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
                                    << "blocks.0.pos_embedding.embedding.weight";
        QTest::newRow("wrapped hf t5") << int(io::ModelRole::TextEncoder) << "model.shared.weight"
                                       << "token_embedding.weight";
        QTest::newRow("not an index") << int(io::ModelRole::TextEncoder)
                                      << "encoder.block.x.layer.0.layer_norm.weight"
                                      << "encoder.block.x.layer.0.layer_norm.weight";
    }
    void nameConversionTable() {
        QFETCH(int, role);
        QFETCH(QString, name);
        QFETCH(QString, official);
        QCOMPARE(QString::fromStdString(io::toOfficialName(static_cast<io::ModelRole>(role), name.toStdString())),
                 official);
    }
};

QTEST_GUILESS_MAIN(ModelFolderTest)
#include "test_model_folder.moc"
