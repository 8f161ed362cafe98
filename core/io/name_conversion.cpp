#include "core/io/name_conversion.h"

#include "core/util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <string_view>

namespace ditstudio::io {

namespace {

struct NameRule {
    ModelRole role;
    std::string_view from; // a prefix ending in '.', or a pattern with one "{i}"
    std::string_view to;   // the official form ("" for a stripped prefix)
    std::string_view flavour;
};

// clang-format off
constexpr NameRule kNameRules[] = {
    // DiT: ComfyUI single files, DiffSynth/accelerate training wrappers.
    {ModelRole::Dit, "model.diffusion_model.", "", "ComfyUI"},
    {ModelRole::Dit, "diffusion_model.", "", "ComfyUI (unet)"},
    {ModelRole::Dit, "model.", "", "wrapped"},
    {ModelRole::Dit, "module.", "", "DataParallel"},
    {ModelRole::Dit, "dit.", "", "DiffSynth pipeline"},
    // VAE: DiffSynth's WanVideoVAE holds VideoVAE_ as `model`; LDM-style first_stage_model.
    {ModelRole::Vae, "model.", "", "DiffSynth"},
    {ModelRole::Vae, "first_stage_model.", "", "LDM"},
    {ModelRole::Vae, "vae.", "", "DiffSynth pipeline"},
    {ModelRole::Vae, "module.", "", "DataParallel"},
    // UMT5 encoder: HuggingFace transformers' UMT5EncoderModel (ComfyUI's umt5_xxl files) → Wan's T5Encoder.
    {ModelRole::TextEncoder, "shared.weight", "token_embedding.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.embed_tokens.weight", "token_embedding.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.0.layer_norm.weight", "blocks.{i}.norm1.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.0.SelfAttention.q.weight", "blocks.{i}.attn.q.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.0.SelfAttention.k.weight", "blocks.{i}.attn.k.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.0.SelfAttention.v.weight", "blocks.{i}.attn.v.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.0.SelfAttention.o.weight", "blocks.{i}.attn.o.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight",
     "blocks.{i}.pos_embedding.embedding.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.1.layer_norm.weight", "blocks.{i}.norm2.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.1.DenseReluDense.wi_0.weight", "blocks.{i}.ffn.gate.0.weight",
     "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.1.DenseReluDense.wi_1.weight", "blocks.{i}.ffn.fc1.weight",
     "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.block.{i}.layer.1.DenseReluDense.wo.weight", "blocks.{i}.ffn.fc2.weight",
     "HuggingFace"},
    {ModelRole::TextEncoder, "encoder.final_layer_norm.weight", "norm.weight", "HuggingFace"},
    {ModelRole::TextEncoder, "model.", "", "wrapped"},
    {ModelRole::TextEncoder, "module.", "", "DataParallel"},
    {ModelRole::TextEncoder, "text_encoder.", "", "DiffSynth pipeline"},
};
// clang-format on

constexpr std::string_view kIndex = "{i}";

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Applies one rule; nullopt when it does not match.
std::optional<std::string> applyRule(const NameRule& rule, const std::string& name) {
    const auto at = rule.from.find(kIndex);
    if (at == std::string_view::npos) {
        if (rule.from.back() == '.') { // prefix
            if (startsWith(name, rule.from) && name.size() > rule.from.size()) {
                return std::string(rule.to) + name.substr(rule.from.size());
            }
            return std::nullopt;
        }
        return name == rule.from ? std::optional<std::string>(rule.to) : std::nullopt;
    }
    const std::string_view head = rule.from.substr(0, at), tail = rule.from.substr(at + kIndex.size());
    if (name.size() <= head.size() + tail.size() || !startsWith(name, head) ||
        std::string_view(name).substr(name.size() - tail.size()) != tail) {
        return std::nullopt;
    }
    const std::string digits = name.substr(head.size(), name.size() - head.size() - tail.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); })) {
        return std::nullopt;
    }
    std::string out(rule.to);
    out.replace(out.find(kIndex), kIndex.size(), digits);
    return out;
}

} // namespace

std::string toString(ModelRole role) {
    switch (role) {
    case ModelRole::Dit:
        return "dit";
    case ModelRole::Vae:
        return "vae";
    case ModelRole::TextEncoder:
        return "text_encoder";
    }
    return "?";
}

std::string toOfficialName(ModelRole role, const std::string& name) {
    std::string current = name;
    // A name may carry a wrapper prefix and a flavour rename ("model.encoder.block.0..."): apply rules until none
    // matches (each rule shortens or renames, so this ends).
    for (int pass = 0; pass < 4; ++pass) {
        bool isChanged = false;
        for (const auto& rule : kNameRules) {
            if (rule.role != role) {
                continue;
            }
            if (auto converted = applyRule(rule, current)) {
                current = *converted;
                isChanged = true;
                break;
            }
        }
        if (!isChanged) {
            break;
        }
    }
    return current;
}

WeightSource withOfficialNames(const WeightSource& source, ModelRole role) {
    const auto names = source.names();
    std::map<std::string, std::string> officialToOriginal;
    bool isRenamed = false;
    for (const auto& name : names) {
        const std::string official = toOfficialName(role, name);
        isRenamed = isRenamed || official != name;
        auto [it, inserted] = officialToOriginal.emplace(official, name);
        if (!inserted) {
            throw FormatError(fmt::format("{}: tensors '{}' and '{}' both map to the {} tensor '{}'", source.origin(),
                                          it->second, name, toString(role), official));
        }
    }
    if (!isRenamed) {
        return source;
    }
    std::map<std::string, at::Tensor> tensors;
    for (const auto& [official, original] : officialToOriginal) {
        tensors.emplace(official, source.tensor(original)); // memory-mapped tensors stay mapped
    }
    return WeightSource::fromTensors(std::move(tensors), source.origin());
}

std::optional<ModelRole> detectRole(const std::vector<std::string>& names) {
    const std::pair<ModelRole, const char*> markers[] = {
        {ModelRole::Dit, "patch_embedding.weight"},
        {ModelRole::Vae, "decoder.conv1.weight"},
        {ModelRole::TextEncoder, "token_embedding.weight"},
    };
    for (const auto& [role, marker] : markers) {
        for (const auto& name : names) {
            if (toOfficialName(role, name) == marker) {
                return role;
            }
        }
    }
    return std::nullopt;
}

} // namespace ditstudio::io
