#include "kernels/cuda/gated_residual.cuh"

#include <algorithm>

namespace ditstudio::kernels::cuda {

// Grid-stride over packs of VEC elements; dim % VEC == 0 so a pack stays in one row.
template <typename T, int VEC> static __global__ void gatedResidualKernel(GatedResidualParams p) {
    const int64_t packsPerRow = p.dim / VEC;
    const int64_t total = p.rows * packsPerRow;
    const T* x = static_cast<const T*>(p.x);
    const T* y = static_cast<const T*>(p.y);
    const T* gate = static_cast<const T*>(p.gate);
    T* out = static_cast<T*>(p.out);
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t row = i / packsPerRow;
        const int64_t channel = (i % packsPerRow) * VEC;
        const int64_t batch = row / p.tokens;
        float a[VEC], g[VEC], b[VEC], o[VEC];
        loadFloats<T, VEC>(x + row * p.dim + channel, a);
        loadFloats<T, VEC>(y + row * p.dim + channel, b);
        loadFloats<T, VEC>(gate + batch * p.gateBatchStride + channel, g);
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            o[j] = a[j] + g[j] * b[j];
        }
        storeFloats<T, VEC>(out + row * p.dim + channel, o);
    }
}

template <typename T, int VEC> static cudaError_t launchWithVec(const GatedResidualParams& p, cudaStream_t stream) {
    constexpr int kThreads = 256;
    const int64_t total = p.rows * (p.dim / VEC);
    int device = 0, sms = 132;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, static_cast<int64_t>(sms) * 16);
    gatedResidualKernel<T, VEC><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

template <typename T> static cudaError_t launchTyped(const GatedResidualParams& p, cudaStream_t stream) {
    constexpr int kVec = 16 / sizeof(T) > 8 ? 8 : static_cast<int>(16 / sizeof(T));
    const bool vectorised = p.dim % kVec == 0 && p.gateBatchStride % kVec == 0 && isAligned(p.x, 16) &&
                            isAligned(p.y, 16) && isAligned(p.gate, 16) && isAligned(p.out, 16);
    return vectorised ? launchWithVec<T, kVec>(p, stream) : launchWithVec<T, 1>(p, stream);
}

cudaError_t launchGatedResidual(const GatedResidualParams& p, cudaStream_t stream) {
    if (p.rows == 0 || p.dim == 0) {
        return cudaSuccess;
    }
    if (p.tokens <= 0) {
        return cudaErrorInvalidValue;
    }
    return p.type == ElementType::BFloat16 ? launchTyped<__nv_bfloat16>(p, stream) : launchTyped<float>(p, stream);
}

} // namespace ditstudio::kernels::cuda
