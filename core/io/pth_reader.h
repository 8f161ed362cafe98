// Reader (and writer, for tests and conversions) of PyTorch's `torch.save` zip format without Python: the zip
// container through LibTorch's PyTorchStreamReader, `<archive>/data.pkl` through a small pickle reader of our own
// (LibTorch's unpickler turns the OrderedDict of every nn.Module.state_dict() into None), storages from the
// `<archive>/data/<key>` records, shared between views. A state dict may be nested under "state_dict", "model" or
// "module" (training checkpoints); everything in it must be a tensor. Legacy pre-1.6 (non-zip) files, truncated
// archives and anything the reader does not understand are a FormatError naming the file.
#pragma once
#include "core/io/weight_source.h"

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>

namespace ditstudio::io {

// Every tensor of the state dict, on the CPU, as stored (dtype, strides).
std::map<std::string, at::Tensor> readPth(const std::filesystem::path& path);

// Checks the container without reading tensors: zip signature, central directory, data.pkl record. Cheap;
// catches truncated and corrupt files early. Throws FormatError naming the file.
void checkPth(const std::filesystem::path& path);

// The same as a WeightSource whose origin (used in every message) is the file.
WeightSource openPth(const std::filesystem::path& path);

// Writes `tensors` the way `torch.save(state_dict, path)` does (Python's torch.load reads it back as a dict),
// atomically: a temporary beside `path`, then rename. Throws FormatError naming the file on failure.
void savePth(const std::filesystem::path& path, const std::map<std::string, at::Tensor>& tensors);

} // namespace ditstudio::io
