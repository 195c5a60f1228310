package io.streamtrain.monitor.internal;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/** Named daemon threads for the monitor's background work: they never keep the JVM alive. */
public final class DaemonThreads {
    private DaemonThreads() {}

    /** Threads named {@code name}, then {@code name-2}, {@code name-3} ... */
    public static ThreadFactory named(String name) {
        AtomicInteger count = new AtomicInteger();
        return runnable -> {
            int number = count.incrementAndGet();
            Thread thread = new Thread(runnable, number == 1 ? name : name + "-" + number);
            thread.setDaemon(true);
            return thread;
        };
    }

    /** A single-thread scheduler on a daemon thread called {@code name}. */
    public static ScheduledExecutorService scheduler(String name) {
        return Executors.newSingleThreadScheduledExecutor(named(name));
    }
}
