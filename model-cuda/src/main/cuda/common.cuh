// Helpers shared by every kernel file: warp and block reductions.
// Shapes in the kernels use the project's vocabulary: B batch, T sequence, C channels, NH heads,
// V vocabulary, Vp padded vocabulary, N = B * T positions.
#pragma once
#include <cuda_bf16.h>
#include <math_constants.h>

#define LOG2E 1.4426950408889634f

// Dropout (Kernels.dropout in the model): element i of the mask keyed by `key` is kept when the top 24 bits of
// SplitMix64's output function of key + (i + 1) * 0x9E3779B97F4A7C15 are at or above (int)(p * 2^24); a kept element
// is scaled by 1 / (1 - p). A function of (key, i) alone: the CPU backend draws the same masks, and backward draws
// forward's again instead of storing them. `on` is false for p = 0 (the kernels then skip the mask).
struct Dropout {
    unsigned long long key;
    unsigned threshold;
    float scale;
    bool on;
};

__device__ __forceinline__ Dropout dropoutOf(unsigned long long key, float p) {
    Dropout d;
    d.key = key;
    d.threshold = (unsigned)(p * 16777216.0f);
    d.scale = 1.0f / (1.0f - p);
    d.on = p > 0.0f;
    return d;
}

__device__ __forceinline__ bool dropoutKeep(const Dropout& d, unsigned long long i) {
    unsigned long long z = d.key + (i + 1ull) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (unsigned)(z >> 40) >= d.threshold;
}

// x times element i of the mask: 0 when dropped, x / (1 - p) when kept.
__device__ __forceinline__ float dropped(const Dropout& d, unsigned long long i, float x) {
    return dropoutKeep(d, i) ? x * d.scale : 0.0f;
}
#define LN2 0.6931471805599453f

__device__ __forceinline__ float warpSum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warpMax(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float blockSum(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warpSum(v);
    __syncthreads();                      // partial may still be read by a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : 0.0f;
    return warpSum(v);
}

__device__ __forceinline__ float blockMax(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warpMax(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : -CUDART_INF_F;
    return warpMax(v);
}
