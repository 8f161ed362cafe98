#include "kernels/cuda/layernorm_modulate.cuh"

#include <algorithm>

namespace ditstudio::kernels::cuda {

// One block per row; each thread keeps up to PACKS packs of VEC elements in registers, so x is read once.
template <typename T, int VEC, int PACKS>
static __global__ void layerNormModulateKernel(LayerNormModulateParams p) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const int64_t batch = row / p.tokens;
    const T* x = static_cast<const T*>(p.x) + row * p.xRowStride;
    const T* shift = static_cast<const T*>(p.shift) + batch * p.shiftBatchStride;
    const T* scale = static_cast<const T*>(p.scale) + batch * p.scaleBatchStride;
    T* out = static_cast<T*>(p.out) + row * p.dim;
    const int packs = static_cast<int>(p.dim / VEC);

    float v[PACKS][VEC];
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < PACKS; ++i) {
        const int pack = threadIdx.x + i * blockDim.x;
        if (pack < packs) {
            loadFloats<T, VEC>(x + pack * VEC, v[i]);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                sum += v[i][j];
            }
        }
    }
    const float mean = blockSum(sum, scratch) / static_cast<float>(p.dim);
    float squares = 0.0f;
#pragma unroll
    for (int i = 0; i < PACKS; ++i) {
        const int pack = threadIdx.x + i * blockDim.x;
        if (pack < packs) {
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                const float d = v[i][j] - mean;
                squares += d * d;
            }
        }
    }
    const float rstd = rsqrtf(blockSum(squares, scratch) / static_cast<float>(p.dim) + p.eps);
#pragma unroll
    for (int i = 0; i < PACKS; ++i) {
        const int pack = threadIdx.x + i * blockDim.x;
        if (pack < packs) {
            float sh[VEC], sc[VEC], o[VEC];
            loadFloats<T, VEC>(shift + pack * VEC, sh);
            loadFloats<T, VEC>(scale + pack * VEC, sc);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                o[j] = (v[i][j] - mean) * rstd * (1.0f + sc[j]) + sh[j];
            }
            storeFloats<T, VEC>(out + pack * VEC, o);
        }
    }
}

template <typename T, int VEC>
static cudaError_t launchWithVec(const LayerNormModulateParams& p, cudaStream_t stream) {
    const int64_t packs = p.dim / VEC;
    const int threads = static_cast<int>(std::min<int64_t>(1024, (packs + 31) / 32 * 32));
    const int64_t perThread = (packs + threads - 1) / threads;
    const dim3 grid(static_cast<unsigned>(p.rows));
    if (perThread == 1) {
        layerNormModulateKernel<T, VEC, 1><<<grid, threads, 0, stream>>>(p);
    } else if (perThread == 2) {
        layerNormModulateKernel<T, VEC, 2><<<grid, threads, 0, stream>>>(p);
    } else if (perThread <= 4) {
        layerNormModulateKernel<T, VEC, 4><<<grid, threads, 0, stream>>>(p);
    } else {
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

template <typename T> static cudaError_t launchTyped(const LayerNormModulateParams& p, cudaStream_t stream) {
    constexpr int kVec = 16 / sizeof(T) > 8 ? 8 : 16 / sizeof(T); // 8 bf16 or 4 float: 16 bytes
    const bool vectorised = p.dim % kVec == 0 && p.xRowStride % kVec == 0 && p.shiftBatchStride % kVec == 0 &&
                            p.scaleBatchStride % kVec == 0 && isAligned(p.x, 16) && isAligned(p.shift, 16) &&
                            isAligned(p.scale, 16) && isAligned(p.out, 16);
    return vectorised ? launchWithVec<T, kVec>(p, stream) : launchWithVec<T, 1>(p, stream);
}

cudaError_t launchLayerNormModulate(const LayerNormModulateParams& p, cudaStream_t stream) {
    if (p.rows == 0) {
        return cudaSuccess;
    }
    if (p.rows > 0x7fffffff || p.tokens <= 0) {
        return cudaErrorInvalidValue;
    }
    return p.type == ElementType::BFloat16 ? launchTyped<__nv_bfloat16>(p, stream) : launchTyped<float>(p, stream);
}

} // namespace ditstudio::kernels::cuda
