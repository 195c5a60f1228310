// Token + position embedding: forward and backward.
#include "common.cuh"

// out (B, T, C) = wte[tokens[b, t]] + wpe[t]
extern "C" __global__ void encoder_forward(float* out, const int* tokens, const float* wte, const float* wpe,
                                           int B, int T, int C) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = (long long)B * T * C;
    if (idx >= total) return;
    int c = (int)(idx % C);
    long long bt = idx / C;
    int t = (int)(bt % T);
    int token = tokens[bt];
    out[idx] = wte[(long long)token * C + c] + wpe[(long long)t * C + c];
}

// dwpe (T, C) += sum over b of dout (B, T, C): one thread per (t, c), no atomics.
extern "C" __global__ void encoder_backward_wpe(float* dwpe, const float* dout, int B, int T, int C) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)T * C) return;
    float sum = 0.0f;
    for (int b = 0; b < B; b++) sum += dout[(long long)b * T * C + idx];
    dwpe[idx] += sum;
}

// dwte (Vp, C) += dout (B, T, C) at the rows tokens select: atomics, since a token may repeat.
extern "C" __global__ void encoder_backward_wte(float* dwte, const float* dout, const int* tokens, int B, int T, int C) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)B * T * C) return;
    int c = (int)(idx % C);
    int token = tokens[idx / C];
    atomicAdd(&dwte[(long long)token * C + c], dout[idx]);
}
