// LayerNorm over C with eps 1e-5: forward saves mean and rstd, backward accumulates. Both also write a bf16 copy of
// their output where outBf16 / dinpBf16 is not null (the operand of the matrix product that reads it next).
#include "common.cuh"
#include "tensorcore.cuh"

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

// The same for C = 4 * chunks with chunks <= 32 * K (C up to 128 K), every tensor 16-byte aligned (dinpBf16 8-byte):
// lane l owns the float4 chunks l, l + 32, ... of every row, reads the row's inp and dout once into registers (16-byte
// loads), and sums its columns' dweight and dbias over the warp's rows in registers. __launch_bounds__: 2 blocks of
// 256 threads per SM, as the launcher's grid.
template <int K>
__device__ __forceinline__ void layernormBackwardRows(float* dinp, __nv_bfloat16* dinpBf16, float* dweight,
                                                      float* dbias, const float* dout, const float* inp,
                                                      const float* weight, const float* mean, const float* rstd,
                                                      int N, int C) {
    extern __shared__ float shared[];
    float* dweightShared = shared;
    float* dbiasShared = shared + C;
    clearColumnSums(shared, C);
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5, chunks = C >> 2;
    const float4* weight4 = reinterpret_cast<const float4*>(weight);
    float4 dweightSum[K], dbiasSum[K];
#pragma unroll
    for (int k = 0; k < K; k++) {
        dweightSum[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        dbiasSum[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    for (int row = blockIdx.x * warps + (threadIdx.x >> 5); row < N; row += gridDim.x * warps) {
        const float4* x4 = reinterpret_cast<const float4*>(inp + (long long)row * C);
        const float4* dy4 = reinterpret_cast<const float4*>(dout + (long long)row * C);
        float4* dx4 = reinterpret_cast<float4*>(dinp + (long long)row * C);
        float m = mean[row], s = rstd[row];
        float4 x[K], dy[K];
        float dnormMean = 0.0f, dnormNormMean = 0.0f;
#pragma unroll
        for (int k = 0; k < K; k++) {
            int q = lane + 32 * k;
            if (q < chunks) {
                x[k] = x4[q];
                dy[k] = dy4[q];
                float4 w = weight4[q];
                float n0 = (x[k].x - m) * s, n1 = (x[k].y - m) * s, n2 = (x[k].z - m) * s, n3 = (x[k].w - m) * s;
                float d0 = w.x * dy[k].x, d1 = w.y * dy[k].y, d2 = w.z * dy[k].z, d3 = w.w * dy[k].w;
                dnormMean += d0 + d1 + d2 + d3;
                dnormNormMean += d0 * n0 + d1 * n1 + d2 * n2 + d3 * n3;
            }
        }
        dnormMean = warpSum(dnormMean) / C;
        dnormNormMean = warpSum(dnormNormMean) / C;
#pragma unroll
        for (int k = 0; k < K; k++) {
            int q = lane + 32 * k;
            if (q < chunks) {
                float4 w = weight4[q];
                float4 old = dx4[q];
                float n0 = (x[k].x - m) * s, n1 = (x[k].y - m) * s, n2 = (x[k].z - m) * s, n3 = (x[k].w - m) * s;
                float4 g = make_float4(old.x + (w.x * dy[k].x - dnormMean - n0 * dnormNormMean) * s,
                                       old.y + (w.y * dy[k].y - dnormMean - n1 * dnormNormMean) * s,
                                       old.z + (w.z * dy[k].z - dnormMean - n2 * dnormNormMean) * s,
                                       old.w + (w.w * dy[k].w - dnormMean - n3 * dnormNormMean) * s);
                dx4[q] = g;
                if (dinpBf16 != nullptr) {
                    reinterpret_cast<uint2*>(dinpBf16 + (long long)row * C)[q] =
                            make_uint2(packBf16(g.x, g.y), packBf16(g.z, g.w));
                }
                dbiasSum[k].x += dy[k].x; dbiasSum[k].y += dy[k].y; dbiasSum[k].z += dy[k].z; dbiasSum[k].w += dy[k].w;
                dweightSum[k].x += n0 * dy[k].x; dweightSum[k].y += n1 * dy[k].y;
                dweightSum[k].z += n2 * dy[k].z; dweightSum[k].w += n3 * dy[k].w;
            }
        }
    }
#pragma unroll
    for (int k = 0; k < K; k++) {
        int c = 4 * (lane + 32 * k);
        if (c < C) {
            atomicAdd(&dbiasShared[c], dbiasSum[k].x);
            atomicAdd(&dbiasShared[c + 1], dbiasSum[k].y);
            atomicAdd(&dbiasShared[c + 2], dbiasSum[k].z);
            atomicAdd(&dbiasShared[c + 3], dbiasSum[k].w);
            atomicAdd(&dweightShared[c], dweightSum[k].x);
            atomicAdd(&dweightShared[c + 1], dweightSum[k].y);
            atomicAdd(&dweightShared[c + 2], dweightSum[k].z);
            atomicAdd(&dweightShared[c + 3], dweightSum[k].w);
        }
    }
    addColumnSums(dweight, dbias, shared, C);
}

#define LAYERNORM_BACKWARD_ROWS(K)                                                                                    \
    extern "C" __global__ void __launch_bounds__(256, 2) layernorm_backward_rows_##K(                                 \
            float* dinp, __nv_bfloat16* dinpBf16, float* dweight, float* dbias, const float* dout, const float* inp,  \
            const float* weight, const float* mean, const float* rstd, int N, int C) {                                \
        layernormBackwardRows<K>(dinp, dinpBf16, dweight, dbias, dout, inp, weight, mean, rstd, N, C);                \
    }

LAYERNORM_BACKWARD_ROWS(1)
LAYERNORM_BACKWARD_ROWS(2)
LAYERNORM_BACKWARD_ROWS(3)
LAYERNORM_BACKWARD_ROWS(4)
LAYERNORM_BACKWARD_ROWS(6)
