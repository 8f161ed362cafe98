// Device helpers shared by the fused kernels: element types, 16-byte packs, fp32 conversions, block reductions.
// Included only by kernels/cuda/*.cu and by the host launch declarations (*.cuh), never by ATen code paths.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace ditstudio::kernels::cuda {

// The element type of a kernel's tensors (math is always fp32). Float16: only the ops that say so take it.
enum class ElementType { Float32, BFloat16, Float16 };

} // namespace ditstudio::kernels::cuda

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace ditstudio::kernels::cuda {

template <typename T> __device__ __forceinline__ float toFloat(T v);
template <> __device__ __forceinline__ float toFloat<float>(float v) { return v; }
template <> __device__ __forceinline__ float toFloat<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float toFloat<__half>(__half v) { return __half2float(v); }

template <typename T> __device__ __forceinline__ T fromFloat(float v);
template <> __device__ __forceinline__ float fromFloat<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ __half fromFloat<__half>(float v) { return __float2half_rn(v); }

// An fp32 value rounded through T (the rounding an eager op in dtype T does between two steps).
template <typename T> __device__ __forceinline__ float roundThrough(float v) { return toFloat(fromFloat<T>(v)); }

// N elements loaded/stored as one aligned access (16 bytes for 8 bf16).
template <typename T, int N> struct alignas(sizeof(T) * N) Pack {
    T v[N];
};

template <typename T, int N> __device__ __forceinline__ void loadFloats(const T* p, float (&out)[N]) {
    const Pack<T, N> pk = *reinterpret_cast<const Pack<T, N>*>(p);
#pragma unroll
    for (int i = 0; i < N; ++i) {
        out[i] = toFloat(pk.v[i]);
    }
}

template <typename T, int N> __device__ __forceinline__ void storeFloats(T* p, const float (&in)[N]) {
    Pack<T, N> pk;
#pragma unroll
    for (int i = 0; i < N; ++i) {
        pk.v[i] = fromFloat<T>(in[i]);
    }
    *reinterpret_cast<Pack<T, N>*>(p) = pk;
}

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    }
    return v;
}

// Sum over the block; every thread gets the result. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float blockSum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warpSum(v);
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    const int warps = (blockDim.x + 31) >> 5;
    if (warp == 0) {
        float s = lane < warps ? scratch[lane] : 0.0f;
        s = warpSum(s);
        if (lane == 0) {
            scratch[0] = s;
        }
    }
    __syncthreads();
    const float total = scratch[0];
    __syncthreads(); // scratch may be reused by the next reduction
    return total;
}

inline bool isAligned(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

} // namespace ditstudio::kernels::cuda
#endif
