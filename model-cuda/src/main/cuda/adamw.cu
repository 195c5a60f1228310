// The optimizer and the reductions it needs: fill, copy, mean, global norm, AdamW with clipping.
#include "common.cuh"

// 4 elements per thread and step, as one 16-byte store where out is 16-byte aligned.
extern "C" __global__ void fill(float* out, float value, long long n) {
    bool vector = (reinterpret_cast<unsigned long long>(out) & 15) == 0;
    for (long long i = 4 * ((long long)blockIdx.x * blockDim.x + threadIdx.x); i < n; i += 4LL * gridDim.x * blockDim.x) {
        if (vector && i + 4 <= n) {
            *reinterpret_cast<float4*>(out + i) = make_float4(value, value, value, value);
        } else {
            for (long long j = i; j < min(n, i + 4); j++) out[j] = value;
        }
    }
}

extern "C" __global__ void copy(float* out, const float* src, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = src[i];
}

// One block: out (1) = mean of inp (n).
extern "C" __global__ void mean(float* out, const float* inp, long long n) {
    float sum = 0.0f;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) sum += inp[i];
    sum = blockSum(sum);
    if (threadIdx.x == 0) out[0] = (float)((double)sum / (double)n);
}

// Stage 1 of the global norm: partial (gridDim.x) = sums of squares over a grid-stride share of inp (n).
extern "C" __global__ void sum_squares_partial(float* partial, const float* inp, long long n) {
    float sum = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = inp[i];
        sum += v * v;
    }
    sum = blockSum(sum);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// Stage 2, one block: out (1) = sqrt(sum of partial (count)).
extern "C" __global__ void sum_squares_finish(float* out, const float* partial, int count) {
    float sum = 0.0f;
    for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partial[i];
    sum = blockSum(sum);
    if (threadIdx.x == 0) out[0] = sqrtf(sum);
}

// AdamW over the flat layout with the gradient clipped by the global norm read from gradNorm (1);
// a non-finite norm skips the step (paramsBf16 is then rewritten from the params as they are). Elements
// [0, decayedSize) get decoupled weight decay. paramsBf16, unless null, gets the bf16 copy of the new params: the
// matrix products' weights, converted here once per step instead of by every product.
extern "C" __global__ void adamw(float* params, __nv_bfloat16* paramsBf16, float* m, float* v, const float* grads, const float* gradNorm,
                                 long long n, long long decayedSize, float learningRate, float beta1, float beta2,
                                 float eps, float weightDecay, float maxGradNorm, float beta1Correction,
                                 float beta2Correction) {
    float norm = gradNorm[0];
    if (!isfinite(norm)) {
        // skipped; the copy is still written, since it may be stale (params written since the last step)
        if (paramsBf16 != nullptr)
            for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
                paramsBf16[i] = __float2bfloat16_rn(params[i]);
        return;
    }
    float scale = fminf(1.0f, maxGradNorm / (norm + 1e-6f));
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float g = grads[i] * scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float mHat = mi / beta1Correction;
        float vHat = vi / beta2Correction;
        float p = params[i];
        if (i < decayedSize) p -= learningRate * weightDecay * p;  // decoupled decay first, as torch.optim.AdamW
        p -= learningRate * mHat / (sqrtf(vHat) + eps);
        params[i] = p;
        if (paramsBf16 != nullptr) paramsBf16[i] = __float2bfloat16_rn(p);
    }
}
