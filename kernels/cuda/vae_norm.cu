#include "kernels/cuda/vae_norm.cuh"

#include <algorithm>
#include <climits>

namespace ditstudio::kernels::cuda {

constexpr int kMaxWarps = 16;                                     // block of the register-cached kernel: ≤ 512 threads
constexpr int64_t kMaxCachedChannels = int64_t(kMaxWarps) * 32; // 16 warps × 32 channels each
constexpr int kTwoPassThreads = 256;

template <bool SILU> __device__ __forceinline__ float activate(float v) {
    if constexpr (SILU) {
        return v / (1.0f + expf(-v)); // as ATen: for very negative v, exp overflows to ∞ and v/∞ = −0
    } else {
        return v;
    }
}

// Up to kMaxWarps·CPT channels. A block takes tiles of 32·VEC positions of one batch item (grid-stride); warp w keeps
// channels [w·CPT, w·CPT + CPT) of the tile in registers, so x is read once; lane l owns positions l·VEC to
// l·VEC + VEC−1 (a warp reads 32·VEC consecutive elements of one channel row: coalesced). The warps' per-position sums
// of squares meet in shared memory.
template <typename T, int VEC, int CPT, bool SILU>
static __global__ void __launch_bounds__(kMaxWarps * 32) vaeNormCachedKernel(VaeNormParams p) {
    __shared__ float partial[kMaxWarps][VEC][32];
    constexpr int kTile = 32 * VEC;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const int64_t C = p.channels, S = p.positions;
    const int64_t tilesPerItem = (S + kTile - 1) / kTile;
    const int64_t tiles = p.batch * tilesPerItem;
    const int64_t c0 = static_cast<int64_t>(warp) * CPT;
    const int channelsHere = C - c0 < CPT ? static_cast<int>(C - c0) : CPT; // ≥ 1: warps = ⌈C/CPT⌉
    const float scale = sqrtf(static_cast<float>(C));
    const T* gamma = static_cast<const T*>(p.gamma) + c0;

    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const int64_t b = tile / tilesPerItem;
        const int64_t s = (tile % tilesPerItem) * kTile + static_cast<int64_t>(lane) * VEC;
        const bool active = s < S; // positions % VEC == 0 (launcher): the whole pack is in range
        const int64_t offset = (b * C + c0) * S + s;
        const T* x = static_cast<const T*>(p.x) + offset;
        T* out = static_cast<T*>(p.out) + offset;

        Pack<T, VEC> v[CPT];
        float squares[VEC];
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            squares[j] = 0.0f;
        }
#pragma unroll
        for (int i = 0; i < CPT; ++i) {
            if (active && i < channelsHere) {
                v[i] = *reinterpret_cast<const Pack<T, VEC>*>(x + i * S);
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float f = toFloat(v[i].v[j]);
                    squares[j] += f * f;
                }
            }
        }
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            partial[warp][j][lane] = squares[j];
        }
        __syncthreads();
        float factor[VEC]; // √C / max(‖x‖₂, 1e-12) per position
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            float sum = 0.0f;
            for (int w = 0; w < warps; ++w) {
                sum += partial[w][j][lane];
            }
            factor[j] = scale / fmaxf(sqrtf(sum), 1e-12f);
        }
        __syncthreads(); // the next tile overwrites `partial`

#pragma unroll
        for (int i = 0; i < CPT; ++i) {
            if (active && i < channelsHere) {
                const float g = toFloat(gamma[i]);
                Pack<T, VEC> o;
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    o.v[j] = fromFloat<T>(activate<SILU>(toFloat(v[i].v[j]) * factor[j] * g));
                }
                *reinterpret_cast<Pack<T, VEC>*>(out + i * S) = o;
            }
        }
    }
}

// More channels than the cached kernel holds: thread i owns VEC positions and walks its channel column twice (sums
// of squares, then the output); the second read partly hits L2. The sums are fp64: one thread adds up thousands of
// channels one after another.
template <typename T, int VEC, bool SILU> static __global__ void vaeNormTwoPassKernel(VaeNormParams p) {
    const int64_t C = p.channels, S = p.positions;
    const int64_t packsPerItem = S / VEC;
    const int64_t total = p.batch * packsPerItem;
    const float scale = sqrtf(static_cast<float>(C));
    const T* gamma = static_cast<const T*>(p.gamma);
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t offset = (i / packsPerItem) * C * S + (i % packsPerItem) * VEC;
        const T* x = static_cast<const T*>(p.x) + offset;
        T* out = static_cast<T*>(p.out) + offset;
        double squares[VEC];
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            squares[j] = 0.0;
        }
        for (int64_t c = 0; c < C; ++c) {
            float v[VEC];
            loadFloats<T, VEC>(x + c * S, v);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                squares[j] += static_cast<double>(v[j]) * v[j];
            }
        }
        float factor[VEC];
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            factor[j] = scale / fmaxf(static_cast<float>(sqrt(squares[j])), 1e-12f);
        }
        for (int64_t c = 0; c < C; ++c) {
            float v[VEC];
            loadFloats<T, VEC>(x + c * S, v);
            const float g = toFloat(gamma[c]);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                v[j] = activate<SILU>(v[j] * factor[j] * g);
            }
            storeFloats<T, VEC>(out + c * S, v);
        }
    }
}

// Channels per warp of the cached kernel: the fewest that fit C in 16 warps (C = 96, 192, 384: 12 warps of 8, 16, 32
// channels); 0 beyond 512 channels (the two-pass kernel).
static int channelsPerWarp(int64_t channels) {
    if (channels > kMaxCachedChannels) {
        return 0;
    }
    const int64_t perWarp = (channels + kMaxWarps - 1) / kMaxWarps;
    return perWarp <= 4 ? 4 : perWarp <= 8 ? 8 : perWarp <= 16 ? 16 : 32;
}

template <typename T, int VEC, int CPT, bool SILU>
static void launchCached(const VaeNormParams& p, cudaStream_t stream) {
    const int warps = static_cast<int>((p.channels + CPT - 1) / CPT);
    const int64_t tiles = p.batch * ((p.positions + 32 * VEC - 1) / (32 * VEC));
    const dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles, INT_MAX)));
    vaeNormCachedKernel<T, VEC, CPT, SILU><<<grid, warps * 32, 0, stream>>>(p);
}

template <typename T, int VEC, bool SILU>
static cudaError_t launchWithVec(const VaeNormParams& p, int cpt, int sms, cudaStream_t stream) {
    switch (cpt) {
    case 0: {
        const int64_t packs = p.batch * (p.positions / VEC);
        const int64_t blocks = std::min<int64_t>((packs + kTwoPassThreads - 1) / kTwoPassThreads, int64_t(sms) * 16);
        vaeNormTwoPassKernel<T, VEC, SILU><<<static_cast<unsigned>(blocks), kTwoPassThreads, 0, stream>>>(p);
        break;
    }
    case 4:
        launchCached<T, VEC, 4, SILU>(p, stream);
        break;
    case 8:
        launchCached<T, VEC, 8, SILU>(p, stream);
        break;
    case 16:
        launchCached<T, VEC, 16, SILU>(p, stream);
        break;
    default:
        if constexpr (VEC == 1) { // launchTyped packs positions only up to 16 channels per warp
            launchCached<T, VEC, 32, SILU>(p, stream);
        } else {
            return cudaErrorInvalidValue;
        }
        break;
    }
    return cudaGetLastError();
}

// Packs of 4 bytes (2 positions of a 16-bit type) where the position count and both pointers allow it, the tensor
// still gives every SM two tiles, and the registers a thread holds stay ≤ 32 values (≤ 16 channels per warp; at 32
// the wider tiles would leave one block per SM); single positions otherwise.
template <typename T, bool SILU> static cudaError_t launchTyped(const VaeNormParams& p, cudaStream_t stream) {
    int device = 0, sms = 132;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    const int cpt = channelsPerWarp(p.channels);
    constexpr int kVec = sizeof(T) == 2 ? 2 : 1;
    if constexpr (kVec > 1) {
        const bool aligned = p.positions % kVec == 0 && isAligned(p.x, kVec * sizeof(T)) &&
                             isAligned(p.out, kVec * sizeof(T));
        const int64_t tiles = p.batch * ((p.positions + 32 * kVec - 1) / (32 * kVec));
        if (aligned && tiles >= 2 * int64_t(sms) && cpt * kVec <= 32) {
            return launchWithVec<T, kVec, SILU>(p, cpt, sms, stream);
        }
    }
    return launchWithVec<T, 1, SILU>(p, cpt, sms, stream);
}

template <typename T> static cudaError_t launchSilu(const VaeNormParams& p, cudaStream_t stream) {
    return p.silu ? launchTyped<T, true>(p, stream) : launchTyped<T, false>(p, stream);
}

cudaError_t launchVaeNorm(const VaeNormParams& p, cudaStream_t stream) {
    if (p.batch < 0 || p.channels < 0 || p.positions < 0) {
        return cudaErrorInvalidValue;
    }
    if (p.batch == 0 || p.channels == 0 || p.positions == 0) {
        return cudaSuccess;
    }
    switch (p.type) {
    case ElementType::BFloat16:
        return launchSilu<__nv_bfloat16>(p, stream);
    case ElementType::Float16:
        return launchSilu<__half>(p, stream);
    case ElementType::Float32:
        return launchSilu<float>(p, stream);
    }
    return cudaErrorInvalidValue;
}

} // namespace ditstudio::kernels::cuda
