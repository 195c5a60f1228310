// Generation: attention of one new position against the KV cache, and on-device sampling.
#include "common.cuh"

// One block per head. out (C) from q (C) and kcache, vcache (position + 1, C).
// Dynamic shared memory: (position + 1) floats of scores.
extern "C" __global__ void attention_decode(float* out, const float* q, const float* kcache, const float* vcache,
                                            int position, int C, int NH) {
    extern __shared__ float scores[];
    int h = blockIdx.x, hs = C / NH;
    int count = position + 1;
    float scale = rsqrtf((float)hs);
    const float* qh = q + h * hs;
    float localMax = -CUDART_INF_F;
    for (int t = threadIdx.x; t < count; t += blockDim.x) {
        const float* k = kcache + (long long)t * C + h * hs;
        float dot = 0.0f;
        for (int d = 0; d < hs; d++) dot += qh[d] * k[d];
        dot *= scale;
        scores[t] = dot;
        localMax = fmaxf(localMax, dot);
    }
    float maxScore = blockMax(localMax);
    float localSum = 0.0f;
    for (int t = threadIdx.x; t < count; t += blockDim.x) {
        float e = __expf(scores[t] - maxScore);
        scores[t] = e;
        localSum += e;
    }
    float inverse = 1.0f / blockSum(localSum);  // blockSum's barrier also publishes scores
    for (int d = threadIdx.x; d < hs; d += blockDim.x) {
        float acc = 0.0f;
        for (int t = 0; t < count; t++) acc += scores[t] * vcache[(long long)t * C + h * hs + d];
        out[h * hs + d] = acc * inverse;
    }
}

// Monotonic map of a float to an unsigned key: larger float, larger key.
__device__ __forceinline__ unsigned int floatKey(float f) {
    unsigned int bits = __float_as_uint(f);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ __forceinline__ float keyFloat(unsigned int key) {
    return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

#define SAMPLE_THREADS 1024

// Inclusive scan over the block (Hillis-Steele in shared memory); returns this thread's inclusive value.
template <typename X>
__device__ X blockInclusiveScan(X value, X* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (int o = 1; o < SAMPLE_THREADS; o <<= 1) {
        X add = threadIdx.x >= o ? shared[threadIdx.x - o] : (X)0;
        __syncthreads();
        shared[threadIdx.x] += add;
        __syncthreads();
    }
    X result = shared[threadIdx.x];
    __syncthreads();
    return result;
}

// One block of SAMPLE_THREADS. The same rule as the CPU reference: greedy argmax (first maximum) when
// temperature is 0 or topK is 1; else keep the topK largest logits (every logit above the k-th largest,
// then ties with it in id order), weight them exp((x - max) / temperature) and return the first id, in
// id order, whose cumulative weight exceeds coin * total (the last kept id if rounding leaves none).
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample(int* out, const float* logits, const float* coin,
                                                                   float temperature, int topK, int V) {
    __shared__ unsigned int histogram[256];
    __shared__ double scanDouble[SAMPLE_THREADS];
    __shared__ int scanInt[SAMPLE_THREADS];
    __shared__ float sharedV[32];
    __shared__ int sharedI[32];
    __shared__ unsigned int prefix, remaining;
    __shared__ int chosenShared;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    // argmax, first maximum on ties: each thread owns a contiguous chunk of ids
    int chunk = (V + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
    int begin = min(V, tid * chunk), end = min(V, begin + chunk);
    float bestV = -CUDART_INF_F;
    int bestI = 0x7fffffff;
    for (int i = begin; i < end; i++) {
        if (logits[i] > bestV || bestI == 0x7fffffff) { bestV = logits[i]; bestI = i; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bestV, o);
        int oi = __shfl_xor_sync(0xffffffffu, bestI, o);
        if (ov > bestV || (ov == bestV && oi < bestI)) { bestV = ov; bestI = oi; }
    }
    if (lane == 0) { sharedV[warp] = bestV; sharedI[warp] = bestI; }
    __syncthreads();
    if (warp == 0) {
        bestV = sharedV[lane];
        bestI = sharedI[lane];
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bestV, o);
            int oi = __shfl_xor_sync(0xffffffffu, bestI, o);
            if (ov > bestV || (ov == bestV && oi < bestI)) { bestV = ov; bestI = oi; }
        }
        if (lane == 0) { sharedV[0] = bestV; sharedI[0] = bestI; }
    }
    __syncthreads();
    float maxLogit = sharedV[0];
    int argmax = sharedI[0];
    if (temperature == 0.0f || topK == 1) {
        if (tid == 0) out[0] = argmax;
        return;
    }

    // the k-th largest key by radix select, 8 bits at a time from the top
    int k = (topK <= 0 || topK >= V) ? V : topK;
    unsigned int thresholdKey = 0;
    int tiesKept = 0;
    if (k < V) {
        if (tid == 0) { prefix = 0; remaining = k; }
        for (int shift = 24; shift >= 0; shift -= 8) {
            for (int i = tid; i < 256; i += SAMPLE_THREADS) histogram[i] = 0;
            __syncthreads();
            unsigned int highMask = shift == 24 ? 0u : (0xffffffffu << (shift + 8));
            for (int i = tid; i < V; i += SAMPLE_THREADS) {
                unsigned int key = floatKey(logits[i]);
                if ((key & highMask) == prefix) atomicAdd(&histogram[(key >> shift) & 255], 1u);
            }
            __syncthreads();
            if (tid == 0) {
                unsigned int want = remaining;
                for (int bin = 255; bin >= 0; bin--) {
                    if (histogram[bin] >= want) { prefix |= ((unsigned int)bin << shift); break; }
                    want -= histogram[bin];
                }
                remaining = want;
            }
            __syncthreads();
        }
        thresholdKey = prefix;
        tiesKept = (int)remaining;  // rank of the k-th largest among the elements equal to it
    }
    float threshold = k < V ? keyFloat(thresholdKey) : -CUDART_INF_F;

    // ties with the threshold are kept in id order: count them per chunk, then scan
    int ties = 0;
    if (k < V) for (int i = begin; i < end; i++) if (logits[i] == threshold) ties++;
    int tiesBefore = blockInclusiveScan<int>(ties, scanInt) - ties;
    double weight = 0.0;
    int lastKept = -1;
    int tiesLeft = tiesKept - tiesBefore;
    for (int i = begin; i < end; i++) {
        float x = logits[i];
        bool kept = x > threshold || (x == threshold && tiesLeft-- > 0);
        if (kept) { weight += exp((double)((x - maxLogit) / temperature)); lastKept = i; }
    }
    double inclusive = blockInclusiveScan<double>(weight, scanDouble);
    double total = scanDouble[SAMPLE_THREADS - 1];
    if (tid == 0) chosenShared = 0x7fffffff;
    // the last kept id overall (the fallback): a max-reduction over the threads
    scanInt[tid] = lastKept;
    __syncthreads();
    for (int o = SAMPLE_THREADS / 2; o > 0; o >>= 1) {
        if (tid < o) scanInt[tid] = max(scanInt[tid], scanInt[tid + o]);
        __syncthreads();
    }
    int fallback = scanInt[0];
    double target = (double)coin[0] * total;
    double cumulative = inclusive - weight;
    if (weight > 0.0 && inclusive > target) {  // this thread's chunk may hold the crossing
        tiesLeft = tiesKept - tiesBefore;
        for (int i = begin; i < end; i++) {
            float x = logits[i];
            bool kept = x > threshold || (x == threshold && tiesLeft-- > 0);
            if (!kept) continue;
            cumulative += exp((double)((x - maxLogit) / temperature));
            if (cumulative > target) { atomicMin(&chosenShared, i); break; }
        }
    }
    __syncthreads();
    if (tid == 0) out[0] = chosenShared == 0x7fffffff ? fallback : chosenShared;
}
