package io.streamtrain.cuda.internal;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUstream;

/**
 * When a training step runs as a CUDA graph ({@code Kernels.captureStep}): the first call of a key runs its kernels
 * directly (scratch buffers grow then), the second captures them as a {@link StepGraph}, later ones replay it, after
 * checking every kernel call against the graph and updating the arguments that changed; a call that changed beyond
 * arguments captures the graph again. Steps run directly while graphs are off or kernels are profiled.
 */
public final class StepGraphPolicy implements AutoCloseable {
    /** The system property that turns step graphs off ({@code false}) or on ({@code true}, the default). */
    public static final String PROPERTY = "streamtrain.cuda.graphs";

    private final Launcher launcher;
    private final CUstream stream;
    private boolean enabled;
    /** The step graphs by key (few: one per (B, T) a model trains on), searched in order: no boxing per step. */
    private final List<StepGraph> graphs = new ArrayList<>();
    private long launches;
    private long captures;

    public StepGraphPolicy(Launcher launcher, CUstream stream, boolean enabled) {
        this.launcher = launcher;
        this.stream = stream;
        this.enabled = enabled;
    }

    /** Whether {@value #PROPERTY} asks for step graphs (true unless set to false); throws on another value. */
    public static boolean enabledByProperty() {
        String value = System.getProperty(PROPERTY, "true").trim();
        if (!value.equals("true") && !value.equals("false")) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + " must be true or false");
        }
        return value.equals("true");
    }

    public void enabled(boolean enabled) {
        this.enabled = enabled;
    }

    public boolean enabled() {
        return enabled;
    }

    /** Step graphs launched so far (captures and replays). */
    public long launches() {
        return launches;
    }

    /** Step graphs built so far: one per key, plus one each time a step's calls changed beyond arguments. */
    public long captures() {
        return captures;
    }

    /** Kernel arguments that replays have written into step graphs so far. */
    public long updatedArguments() {
        long updates = 0;
        for (StepGraph graph : graphs) {
            updates += graph.updatedArguments();
        }
        return updates;
    }

    /** Runs the kernels that {@code enqueue} launches as the step of {@code key}: directly, captured or replayed. */
    public void run(long key, Runnable enqueue) {
        if (launcher.inStepGraph()) {
            throw new IllegalStateException("captureStep inside captureStep: step graphs do not nest");
        }
        if (!enabled || launcher.profiling()) {
            enqueue.run();
            return;
        }
        StepGraph graph = stepGraph(key);
        if (graph == null) {
            enqueue.run(); // the first call of a key runs directly: the scratch buffers it needs are allocated now
            graphs.add(new StepGraph(key, stream));
            return;
        }
        if (graph.captured()) {
            launcher.replay(graph);
            try {
                enqueue.run();
            } finally {
                launcher.direct();
            }
            if (!graph.endReplay()) {
                graph.close(); // the calls changed beyond arguments: capture them again
                capture(graph, enqueue);
            }
        } else {
            capture(graph, enqueue);
        }
        graph.launch();
        launches++;
    }

    private StepGraph stepGraph(long key) {
        for (int i = 0; i < graphs.size(); i++) {
            if (graphs.get(i).key() == key) {
                return graphs.get(i);
            }
        }
        return null;
    }

    /** Runs {@code enqueue} with its launches added to {@code graph} instead of made, then instantiates it. */
    private void capture(StepGraph graph, Runnable enqueue) {
        captures++;
        launcher.capture(graph);
        boolean enqueued = false;
        try {
            enqueue.run();
            enqueued = true;
        } finally {
            launcher.direct();
            if (!enqueued) {
                graph.close();
            }
        }
        graph.instantiate();
    }

    /** Rejects a call that is not a kernel launch while a step graph is captured or replayed. */
    public void requireOutsideStep(String what) {
        if (launcher.inStepGraph()) {
            throw new IllegalStateException(what + " inside captureStep: a step body may only call kernels "
                    + "(see Kernels.captureStep); move it before or after the captured step");
        }
    }

    @Override
    public void close() {
        for (StepGraph graph : graphs) {
            graph.close();
        }
        graphs.clear();
    }
}
