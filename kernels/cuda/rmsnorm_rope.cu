#include "kernels/cuda/rmsnorm_rope.cuh"

#include <algorithm>

namespace ditstudio::kernels::cuda {

// One block per token; a pack of VEC (even) channels never crosses a head, so each rotation pair is in one thread.
template <typename T, int VEC, int PACKS, bool ROTATE>
static __global__ void rmsNormRopeKernel(RmsNormRopeParams p) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const int64_t b = row / p.tokens, l = row % p.tokens;
    const T* x = static_cast<const T*>(p.x) + b * p.xBatchStride + l * p.xRowStride;
    const T* weight = static_cast<const T*>(p.weight);
    T* out = static_cast<T*>(p.out);
    const int packs = static_cast<int>(p.dim / VEC);
    const int64_t halfHead = p.headDim / 2;

    float v[PACKS][VEC];
    float squares = 0.0f;
#pragma unroll
    for (int i = 0; i < PACKS; ++i) {
        const int pack = threadIdx.x + i * blockDim.x;
        if (pack < packs) {
            loadFloats<T, VEC>(x + pack * VEC, v[i]);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                squares += v[i][j] * v[i][j];
            }
        }
    }
    const float rstd = rsqrtf(blockSum(squares, scratch) / static_cast<float>(p.dim) + p.eps);
#pragma unroll
    for (int i = 0; i < PACKS; ++i) {
        const int pack = threadIdx.x + i * blockDim.x;
        if (pack < packs) {
            const int64_t channel = static_cast<int64_t>(pack) * VEC;
            const int64_t head = channel / p.headDim, c = channel % p.headDim;
            float w[VEC], n[VEC], o[VEC];
            loadFloats<T, VEC>(weight + channel, w);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                n[j] = roundThrough<T>(roundThrough<T>(v[i][j] * rstd) * w[j]);
            }
            if constexpr (ROTATE) {
                const float* cosRow = p.cos + l * halfHead + c / 2;
                const float* sinRow = p.sin + l * halfHead + c / 2;
#pragma unroll
                for (int j = 0; j < VEC; j += 2) {
                    const float cs = cosRow[j / 2], sn = sinRow[j / 2];
                    o[j] = n[j] * cs - n[j + 1] * sn;
                    o[j + 1] = n[j] * sn + n[j + 1] * cs;
                }
            } else {
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    o[j] = n[j];
                }
            }
            storeFloats<T, VEC>(out + ((b * p.heads + head) * p.tokens + l) * p.headDim + c, o);
        }
    }
}

template <typename T, int VEC, bool ROTATE>
static cudaError_t launchWithVec(const RmsNormRopeParams& p, cudaStream_t stream) {
    const int64_t packs = p.dim / VEC;
    const int threads = static_cast<int>(std::min<int64_t>(1024, (packs + 31) / 32 * 32));
    const int64_t perThread = (packs + threads - 1) / threads;
    const dim3 grid(static_cast<unsigned>(p.batch * p.tokens));
    if (perThread == 1) {
        rmsNormRopeKernel<T, VEC, 1, ROTATE><<<grid, threads, 0, stream>>>(p);
    } else if (perThread == 2) {
        rmsNormRopeKernel<T, VEC, 2, ROTATE><<<grid, threads, 0, stream>>>(p);
    } else if (perThread <= 4) {
        rmsNormRopeKernel<T, VEC, 4, ROTATE><<<grid, threads, 0, stream>>>(p);
    } else {
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

template <typename T, bool ROTATE> static cudaError_t launchTyped(const RmsNormRopeParams& p, cudaStream_t stream) {
    constexpr int kVec = 16 / sizeof(T) > 8 ? 8 : static_cast<int>(16 / sizeof(T));
    const bool vectorised = p.headDim % kVec == 0 && p.xRowStride % kVec == 0 && p.xBatchStride % kVec == 0 &&
                            isAligned(p.x, 16) && isAligned(p.weight, 16) && isAligned(p.out, 16);
    return vectorised ? launchWithVec<T, kVec, ROTATE>(p, stream) : launchWithVec<T, 2, ROTATE>(p, stream);
}

cudaError_t launchRmsNormRope(const RmsNormRopeParams& p, cudaStream_t stream) {
    if (p.batch * p.tokens == 0) {
        return cudaSuccess;
    }
    if (p.headDim % 2 != 0 || p.heads * p.headDim != p.dim || p.batch * p.tokens > 0x7fffffff) {
        return cudaErrorInvalidValue;
    }
    const bool rotate = p.cos != nullptr;
    if (p.type == ElementType::BFloat16) {
        return rotate ? launchTyped<__nv_bfloat16, true>(p, stream) : launchTyped<__nv_bfloat16, false>(p, stream);
    }
    return rotate ? launchTyped<float, true>(p, stream) : launchTyped<float, false>(p, stream);
}

} // namespace ditstudio::kernels::cuda
