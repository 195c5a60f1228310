package io.streamtrain.cli.support;

import java.util.HashSet;
import java.util.Set;

/**
 * Log levels of slf4j-simple, set as system properties before loggers exist: Kafka's broker and clients are quiet
 * (errors only; info with {@code --verbose}); streamtrain's own components log at info. A level the user gave with
 * {@code -Dorg.slf4j.simpleLogger...} (e.g. in JAVA_OPTS) is never overridden. Called once per command run; a later
 * run in the same JVM (tests, embedding) gets its own levels.
 */
public final class Logging {
    private static final String PREFIX = "org.slf4j.simpleLogger.";
    private static Set<String> userKeys;

    private Logging() {}

    public static synchronized void configure(boolean verbose) {
        if (userKeys == null) {
            userKeys = new HashSet<>();
            for (String key : System.getProperties().stringPropertyNames()) {
                if (key.startsWith(PREFIX)) {
                    userKeys.add(key);
                }
            }
        }
        String kafka = verbose ? "info" : "error";
        set("defaultLogLevel", verbose ? "debug" : "info");
        set("log.kafka", kafka);
        set("log.org.apache.kafka", kafka);
        set("log.state.change.logger", kafka);
        set("log.org.apache.avro", "warn");
        set("log.io.streamtrain", verbose ? "debug" : "info");
        // The commands print what the monitor logs at info (its URL) themselves.
        set("log.io.streamtrain.monitor", verbose ? "debug" : "warn");
        set("showThreadName", "false");
        set("showShortLogName", "true");
        set("levelInBrackets", "true");
    }

    private static void set(String key, String value) {
        if (!userKeys.contains(PREFIX + key)) {
            System.setProperty(PREFIX + key, value);
        }
    }
}
