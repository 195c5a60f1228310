// Fused softmax + cross-entropy over the first V of Vp logits, with next-token accuracy.
#include "common.cuh"

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

// One block per position. losses (N), correct (N); dlogits (N, Vp) overwritten when backward (may be logits), and its
// bf16 copy dlogitsBf16 unless null (the operand of the output head's backward products).
extern "C" __global__ void softmax_cross_entropy(float* losses, float* correct, float* dlogits,
                                                 __nv_bfloat16* dlogitsBf16, const float* logits,
                                                 const int* targets, float dlossScale, int backward,
                                                 int N, int V, int Vp) {
    __shared__ float sharedM[32], sharedS[32], sharedV[32];
    __shared__ int sharedI[32];
    __shared__ float rowMax, rowSum;
    int row = blockIdx.x;
    const float* x = logits + (long long)row * Vp;
    int target = targets[row];
    float targetLogit = (target >= 0 && target < V) ? x[target] : CUDART_NAN_F;  // read before any overwrite

    float m = -CUDART_INF_F, s = 0.0f, bestV = -CUDART_INF_F;
    int bestI = 0x7fffffff;
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
        float v = x[c];
        if (v > m) { s = s * __expf(m - v) + 1.0f; m = v; } else { s += __expf(v - m); }
        if (v > bestV) { bestV = v; bestI = c; }  // c ascends per thread: the first maximum wins
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
    float* dx = dlogits + (long long)row * Vp;
    for (int c = threadIdx.x; c < Vp; c += blockDim.x) {
        float d = 0.0f;
        if (c < V) {
            float p = __expf(x[c] - maxv) * inverseSum;
            d = (p - (c == target ? 1.0f : 0.0f)) * dlossScale;
        }
        dx[c] = d;
        if (dlogitsBf16 != nullptr) dlogitsBf16[(long long)row * Vp + c] = __float2bfloat16_rn(d);
    }
}
