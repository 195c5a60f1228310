package io.streamtrain.cuda;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.util.Random;

/** Host arrays to and from a backend's tensors, for the kernel tests that compare a backend with the CPU. */
final class DeviceArrays {
    private DeviceArrays() {
    }

    /** {@code n} values uniform in [-1, 1). */
    static float[] random(Random random, long n) {
        float[] x = new float[Math.toIntExact(n)];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextFloat() * 2 - 1;
        }
        return x;
    }

    /** A new tensor on {@code k} holding {@code host}. */
    static Tensor upload(Kernels k, float[] host) {
        Tensor t = k.allocate(host.length);
        k.write(t, host, 0);
        return t;
    }

    /** The whole of {@code t}. */
    static float[] download(Kernels k, Tensor t) {
        return download(k, t, t.size());
    }

    /** The first {@code n} values of {@code t}. */
    static float[] download(Kernels k, Tensor t, long n) {
        float[] host = new float[Math.toIntExact(n)];
        k.read(host, 0, t);
        return host;
    }
}
