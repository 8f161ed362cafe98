// Attention backend selection for the DiT's self-attention (scaled dot-product, no mask, scale 1/sqrt(d)).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace ditstudio::kernels {

enum class AttentionBackend { Auto, Math, Flash, EfficientAttention, CuDNN };

AttentionBackend attentionBackendFromName(const std::string& name); // throws ConfigError listing the names
std::string attentionBackendName(AttentionBackend backend);

// q, k, v [B, L, H, d] → [B, L, H, d].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, AttentionBackend backend);

// The default for a compiled DiT: cuDNN on a CUDA device for bf16/fp16 (fastest on H100 at these shapes: 622 vs
// flash 362 TFLOP/s), auto (ATen's own choice) otherwise: cuDNN's SDPA has no fp32 kernels.
AttentionBackend defaultAttentionBackend(const at::Tensor& q);

// Whether a backend has kernels for a dtype at all: cuDNN's SDPA and flash only for bf16/fp16 (cuDNN, asked for
// fp32, returns NaN rather than an error), the others for every floating dtype.
bool attentionBackendSupports(AttentionBackend backend, at::ScalarType dtype);
// A candidate's output against the math backend's (computed in fp32): finite, and within a relative L2 error of
// 1e-3 (fp32 inputs) or 2e-2 (bf16/fp16). What autotuning requires before it times a backend.
bool attentionOutputAgrees(const at::Tensor& candidate, const at::Tensor& reference);

class AutotuneCache;

// The self-attention op of a compiled DiT. Fixed: the default backend for the inputs. Autotune: on the first call
// for a (GPU, shape, dtype) the candidates (cudnn, flash, efficient) are timed with CUDA events (1 warm-up, 3 runs,
// median) and the winner is stored in `cache` and saved, so the next process starts warm. Only backends that
// support the dtype and whose output agrees with the math backend's (on the first 256 query rows) are timed; a
// cached winner that does not support the dtype is measured again. A backend that throws for a shape (unsupported)
// is dropped for that shape and auto takes its place. Thread-safe.
class AttentionSelector {
public:
    AttentionSelector(bool autotune, AutotuneCache* cache);
    at::Tensor operator()(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v); // [B, L, H, d]
    // The backend used for these inputs (measuring first when autotuning and not yet known).
    AttentionBackend backendFor(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
    int measuredShapes() const { return measured_; }

private:
    AttentionBackend measure(const std::string& key, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
    bool autotune_;
    AutotuneCache* cache_;
    std::mutex mutex_;
    std::map<std::string, AttentionBackend> chosen_; // guarded by mutex_; by cache key
    int measured_ = 0;                               // guarded by mutex_
};

} // namespace ditstudio::kernels
