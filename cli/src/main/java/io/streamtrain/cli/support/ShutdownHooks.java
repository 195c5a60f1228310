package io.streamtrain.cli.support;

/** The commands' Ctrl-C handling: a shutdown hook added for the run and removed once it ended normally. */
public final class ShutdownHooks {
    private ShutdownHooks() {}

    /** Removes {@code hook} unless the JVM is already shutting down (then the hook is running or has run). */
    public static void remove(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs now; nothing to remove
        }
    }
}
