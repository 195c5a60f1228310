package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jcuda.driver.CUevent;
import jcuda.driver.CUstream;

/**
 * Times every kernel launch with a pair of CUDA events, for benchmarks only (it allocates and adds event records
 * to the stream): {@link #report} sums the times by kernel and grid, largest first.
 */
public final class KernelProfiler implements AutoCloseable {
    private final CUstream stream;
    private final List<CUevent> starts = new ArrayList<>();
    private final List<CUevent> stops = new ArrayList<>();
    private final List<String> names = new ArrayList<>();
    private int count;

    public KernelProfiler(CUstream stream) {
        this.stream = stream;
    }

    void before(String name) {
        if (count == starts.size()) {
            CUevent start = new CUevent();
            CUevent stop = new CUevent();
            Driver.check(cuEventCreate(start, 0), "creating a profiling event");
            Driver.check(cuEventCreate(stop, 0), "creating a profiling event");
            starts.add(start);
            stops.add(stop);
            names.add(null);
        }
        names.set(count, name);
        Driver.check(cuEventRecord(starts.get(count), stream), "recording a profiling event");
    }

    void after() {
        Driver.check(cuEventRecord(stops.get(count), stream), "recording a profiling event");
        count++;
    }

    /** Milliseconds per kernel and grid over the launches since the last report, divided by {@code steps}. */
    public String report(int steps) {
        if (count == 0) {
            return "no kernels launched";
        }
        Driver.check(cuEventSynchronize(stops.get(count - 1)), "waiting for profiled kernels");
        Map<String, double[]> totals = new LinkedHashMap<>();
        float[] ms = new float[1];
        double all = 0;
        for (int i = 0; i < count; i++) {
            Driver.check(cuEventElapsedTime(ms, starts.get(i), stops.get(i)), "reading a profiling event");
            double[] t = totals.computeIfAbsent(names.get(i), k -> new double[2]);
            t[0] += ms[0];
            t[1]++;
            all += ms[0];
        }
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT,
                "kernel time per step: %.3f ms in %d launches%n", all / steps, count / steps));
        double total = all;
        totals.entrySet().stream().sorted((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]))
                .forEach(e -> out.append(String.format(Locale.ROOT, "  %8.3f ms %5.1f%% %5d x  %s%n",
                        e.getValue()[0] / steps, 100 * e.getValue()[0] / total, (int) e.getValue()[1] / steps, e.getKey())));
        count = 0;
        return out.toString();
    }

    @Override
    public void close() {
        for (int i = 0; i < starts.size(); i++) {
            cuEventDestroy(starts.get(i));
            cuEventDestroy(stops.get(i));
        }
    }
}
