// Fused softmax + cross-entropy over the first V of Vp logits, with next-token accuracy.
#include "common.cuh"
#include "tensorcore.cuh"

// Merges two (max, sum of exp(x - max)) pairs of an online softmax.
__device__ __forceinline__ void mergeSoftmax(float& m, float& s, float otherM, float otherS) {
    float newM = fmaxf(m, otherM);
    if (newM == -CUDART_INF_F) return;
    s = s * __expf(m - newM) + otherS * __expf(otherM - newM);
    m = newM;
}

// Keeps the larger value; on ties the lower index, as the CPU reference's first-maximum argmax.
__device__ __forceinline__ void mergeArgmax(float& v, int& i, float otherV, int otherI) {
    if (otherV > v || (otherV == v && otherI < i)) { v = otherV; i = otherI; }
}

// One logit v of column c (< V) into the thread's online softmax and argmax; c ascends per thread, so the first
// maximum wins.
__device__ __forceinline__ void takeLogit(float& m, float& s, float& bestV, int& bestI, float v, int c) {
    if (v > m) { s = s * __expf(m - v) + 1.0f; m = v; } else { s += __expf(v - m); }
    if (v > bestV) { bestV = v; bestI = c; }
}

// The gradient of column c: (softmax - onehot(target)) * scale for c < V, 0 on the padding.
__device__ __forceinline__ float logitGradient(float v, int c, float maxv, float inverseSum, int target, int V,
                                               float scale) {
    return c < V ? (__expf(v - maxv) * inverseSum - (c == target ? 1.0f : 0.0f)) * scale : 0.0f;
}

// One block per position. losses (N), correct (N); when backward, dlogits (N, Vp) overwritten unless null (may be
// logits), and its bf16 copy dlogitsBf16 unless null (the operand of the output head's backward products; a backend
// that keeps dlogits in the copy alone passes dlogits null). The row's logits are read from global memory once: the
// first `staged` of them (a multiple of 4, 0 without backward) are kept in dynamic shared memory for the gradient,
// the rest read again. `vector`: Vp a multiple of 4 and logits, dlogits 16-byte aligned, dlogitsBf16 8-byte aligned:
// 16-byte loads and stores.
extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy(
        float* losses, float* correct, float* dlogits, __nv_bfloat16* dlogitsBf16, const float* logits,
        const int* targets, float dlossScale, int backward, int N, int V, int Vp, int staged, int vector) {
    extern __shared__ float4 stagedRow[];
    __shared__ float sharedM[32], sharedS[32], sharedV[32];
    __shared__ int sharedI[32];
    __shared__ float rowMax, rowSum;
    int row = blockIdx.x;
    const float* x = logits + (long long)row * Vp;
    float* stagedFloats = reinterpret_cast<float*>(stagedRow);
    int target = targets[row];
    float targetLogit = (target >= 0 && target < V) ? x[target] : CUDART_NAN_F;  // read before any overwrite

    float m = -CUDART_INF_F, s = 0.0f, bestV = -CUDART_INF_F;
    int bestI = 0x7fffffff;
    if (vector) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        for (int q = threadIdx.x; 4 * q < V; q += blockDim.x) {
            float4 v = x4[q];
            if (4 * q < staged) stagedRow[q] = v;
            int c = 4 * q;
            takeLogit(m, s, bestV, bestI, v.x, c);
            if (c + 1 < V) takeLogit(m, s, bestV, bestI, v.y, c + 1);
            if (c + 2 < V) takeLogit(m, s, bestV, bestI, v.z, c + 2);
            if (c + 3 < V) takeLogit(m, s, bestV, bestI, v.w, c + 3);
        }
    } else {
        for (int c = threadIdx.x; c < V; c += blockDim.x) {
            float v = x[c];
            if (c < staged) stagedFloats[c] = v;
            takeLogit(m, s, bestV, bestI, v, c);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        mergeSoftmax(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
        mergeArgmax(bestV, bestI, __shfl_xor_sync(0xffffffffu, bestV, o), __shfl_xor_sync(0xffffffffu, bestI, o));
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) { sharedM[warp] = m; sharedS[warp] = s; sharedV[warp] = bestV; sharedI[warp] = bestI; }
    __syncthreads();
    if (warp == 0) {
        m = lane < warps ? sharedM[lane] : -CUDART_INF_F;
        s = lane < warps ? sharedS[lane] : 0.0f;
        bestV = lane < warps ? sharedV[lane] : -CUDART_INF_F;
        bestI = lane < warps ? sharedI[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            mergeSoftmax(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
            mergeArgmax(bestV, bestI, __shfl_xor_sync(0xffffffffu, bestV, o), __shfl_xor_sync(0xffffffffu, bestI, o));
        }
        if (lane == 0) {
            rowMax = m;
            rowSum = s;
            losses[row] = logf(s) + m - targetLogit;
            correct[row] = bestI == target ? 1.0f : 0.0f;
        }
    }
    if (!backward) return;
    __syncthreads();
    float maxv = rowMax, inverseSum = 1.0f / rowSum;
    float* dx = dlogits != nullptr ? dlogits + (long long)row * Vp : nullptr;
    __nv_bfloat16* dxBf16 = dlogitsBf16 != nullptr ? dlogitsBf16 + (long long)row * Vp : nullptr;
    if (vector) {
        const float4* x4 = reinterpret_cast<const float4*>(x);
        for (int q = threadIdx.x; 4 * q < Vp; q += blockDim.x) {
            int c = 4 * q;
            float4 d = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (c < V) {
                float4 v = c < staged ? stagedRow[q] : x4[q];
                d = make_float4(logitGradient(v.x, c, maxv, inverseSum, target, V, dlossScale),
                                logitGradient(v.y, c + 1, maxv, inverseSum, target, V, dlossScale),
                                logitGradient(v.z, c + 2, maxv, inverseSum, target, V, dlossScale),
                                logitGradient(v.w, c + 3, maxv, inverseSum, target, V, dlossScale));
            }
            if (dx != nullptr) reinterpret_cast<float4*>(dx)[q] = d;
            if (dxBf16 != nullptr) {
                reinterpret_cast<uint2*>(dxBf16)[q] = make_uint2(packBf16(d.x, d.y), packBf16(d.z, d.w));
            }
        }
    } else {
        for (int c = threadIdx.x; c < Vp; c += blockDim.x) {
            float d = 0.0f;
            if (c < V) d = logitGradient(c < staged ? stagedFloats[c] : x[c], c, maxv, inverseSum, target, V, dlossScale);
            if (dx != nullptr) dx[c] = d;
            if (dxBf16 != nullptr) dxBf16[c] = __float2bfloat16_rn(d);
        }
    }
}
