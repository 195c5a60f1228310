// LayerNorm over C with eps 1e-5: forward saves mean and rstd, backward accumulates. Both also write a bf16 copy of
// their output where outBf16 / dinpBf16 is not null (the operand of the matrix product that reads it next).
#include "common.cuh"

// One warp per row. out (N, C) (and outBf16 unless null), mean (N), rstd (N); inp (N, C), weight (C), bias (C).
extern "C" __global__ void layernorm_forward(float* out, __nv_bfloat16* outBf16, float* mean, float* rstd, const float* inp,
                                             const float* weight, const float* bias, int N, int C) {
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N) return;
    const float* x = inp + (long long)row * C;
    float sum = 0.0f;
    for (int c = lane; c < C; c += 32) sum += x[c];
    float m = warpSum(sum) / C;
    float var = 0.0f;
    for (int c = lane; c < C; c += 32) { float d = x[c] - m; var += d * d; }
    float s = rsqrtf(warpSum(var) / C + 1e-5f);
    float* o = out + (long long)row * C;
    __nv_bfloat16* ob = outBf16 != nullptr ? outBf16 + (long long)row * C : nullptr;
    for (int c = lane; c < C; c += 32) {
        float y = (x[c] - m) * s * weight[c] + bias[c];
        o[c] = y;
        if (ob != nullptr) ob[c] = __float2bfloat16_rn(y);
    }
    if (lane == 0) { mean[row] = m; rstd[row] = s; }
}

// The block's dweight and dbias sums (2 * C floats of shared memory): zeroed at the start, added to the global
// gradients at the end.
__device__ __forceinline__ void clearColumnSums(float* shared, int C) {
    for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) shared[c] = 0.0f;
    __syncthreads();
}

__device__ __forceinline__ void addColumnSums(float* dweight, float* dbias, const float* shared, int C) {
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        atomicAdd(&dweight[c], shared[c]);
        atomicAdd(&dbias[c], shared[C + c]);
    }
}

// Warps stride over rows; each block sums dweight and dbias (C) in shared memory, then adds them
// to the global gradients once. Dynamic shared memory: 2 * C floats.
extern "C" __global__ void layernorm_backward(float* dinp, __nv_bfloat16* dinpBf16, float* dweight, float* dbias, const float* dout,
                                              const float* inp, const float* weight, const float* mean,
                                              const float* rstd, int N, int C) {
    extern __shared__ float shared[];
    float* dweightShared = shared;
    float* dbiasShared = shared + C;
    clearColumnSums(shared, C);
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < N; row += gridDim.x * warps) {
        const float* x = inp + (long long)row * C;
        const float* dy = dout + (long long)row * C;
        float* dx = dinp + (long long)row * C;
        float m = mean[row], s = rstd[row];
        float dnormMean = 0.0f, dnormNormMean = 0.0f;
        for (int c = lane; c < C; c += 32) {
            float norm = (x[c] - m) * s;
            float dnorm = weight[c] * dy[c];
            dnormMean += dnorm;
            dnormNormMean += dnorm * norm;
        }
        dnormMean = warpSum(dnormMean) / C;
        dnormNormMean = warpSum(dnormNormMean) / C;
        for (int c = lane; c < C; c += 32) {
            float norm = (x[c] - m) * s;
            float dnorm = weight[c] * dy[c];
            atomicAdd(&dbiasShared[c], dy[c]);
            atomicAdd(&dweightShared[c], norm * dy[c]);
            float g = dx[c] + (dnorm - dnormMean - norm * dnormNormMean) * s;
            dx[c] = g;
            if (dinpBf16 != nullptr) dinpBf16[(long long)row * C + c] = __float2bfloat16_rn(g);
        }
    }
    addColumnSums(dweight, dbias, shared, C);
}

// The same for C <= 32 * COLUMNS_PER_LANE: lane l owns columns l, l + 32, ... and sums their dweight and dbias
// over the warp's rows in registers; one shared atomic per column per warp at the end, instead of two per
// element. Dynamic shared memory: 2 * C floats.
#define COLUMNS_PER_LANE 32
extern "C" __global__ void layernorm_backward_narrow(float* dinp, __nv_bfloat16* dinpBf16, float* dweight, float* dbias, const float* dout,
                                                     const float* inp, const float* weight, const float* mean,
                                                     const float* rstd, int N, int C) {
    extern __shared__ float shared[];
    float* dweightShared = shared;
    float* dbiasShared = shared + C;
    clearColumnSums(shared, C);
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    float dweightSum[COLUMNS_PER_LANE], dbiasSum[COLUMNS_PER_LANE];
#pragma unroll
    for (int j = 0; j < COLUMNS_PER_LANE; j++) { dweightSum[j] = 0.0f; dbiasSum[j] = 0.0f; }
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < N; row += gridDim.x * warps) {
        const float* x = inp + (long long)row * C;
        const float* dy = dout + (long long)row * C;
        float* dx = dinp + (long long)row * C;
        float m = mean[row], s = rstd[row];
        float dnormMean = 0.0f, dnormNormMean = 0.0f;
#pragma unroll
        for (int j = 0; j < COLUMNS_PER_LANE; j++) {
            int c = lane + 32 * j;
            if (c < C) {
                float norm = (x[c] - m) * s;
                float dnorm = weight[c] * dy[c];
                dnormMean += dnorm;
                dnormNormMean += dnorm * norm;
            }
        }
        dnormMean = warpSum(dnormMean) / C;
        dnormNormMean = warpSum(dnormNormMean) / C;
#pragma unroll
        for (int j = 0; j < COLUMNS_PER_LANE; j++) {
            int c = lane + 32 * j;
            if (c < C) {
                float norm = (x[c] - m) * s;
                float d = dy[c];
                dbiasSum[j] += d;
                dweightSum[j] += norm * d;
                float g = dx[c] + (weight[c] * d - dnormMean - norm * dnormNormMean) * s;
                dx[c] = g;
                if (dinpBf16 != nullptr) dinpBf16[(long long)row * C + c] = __float2bfloat16_rn(g);
            }
        }
    }
#pragma unroll
    for (int j = 0; j < COLUMNS_PER_LANE; j++) {
        int c = lane + 32 * j;
        if (c < C) {
            atomicAdd(&dbiasShared[c], dbiasSum[j]);
            atomicAdd(&dweightShared[c], dweightSum[j]);
        }
    }
    addColumnSums(dweight, dbias, shared, C);
}
