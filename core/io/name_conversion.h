// The one table of checkpoint-name conversions (sd.cpp's name_conversion.cpp): how the DiT, VAE and UMT5 text
// encoder of other distributions (ComfyUI, DiffSynth, HuggingFace transformers, training wrappers) name the
// tensors that the official Wan 2.1 checkpoints name. Models only ever see official names.
//
// To add a flavour: append rows to kNameRules in name_conversion.cpp — a prefix to strip, or a pattern with one
// `{i}` (a layer index) and its official form. Rows are tried in order, first match wins.
#pragma once
#include "core/io/weight_source.h"

#include <optional>
#include <string>
#include <vector>

namespace ditstudio::io {

enum class ModelRole { Dit, Vae, TextEncoder };
std::string toString(ModelRole role); // dit, vae, text_encoder

// The official name of `name` for `role` (unchanged when no rule applies).
std::string toOfficialName(ModelRole role, const std::string& name);

// `source` with official names: the same tensors, memory-mapped ones stay mapped (no copy). Returns the source
// unchanged when every name already is official. Two names converging on one official name is a FormatError.
WeightSource withOfficialNames(const WeightSource& source, ModelRole role);

// What a checkpoint holds, by its marker tensors after conversion (patch_embedding.weight → DiT,
// decoder.conv1.weight → VAE, token_embedding.weight → UMT5); nullopt when none.
std::optional<ModelRole> detectRole(const std::vector<std::string>& names);

} // namespace ditstudio::io
