package io.streamtrain.trainer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs listener callbacks so that a failing listener cannot stop training. */
final class Listeners {
    private static final Logger log = LoggerFactory.getLogger(Listeners.class);

    private Listeners() {}

    static void safely(Runnable callback) {
        try {
            callback.run();
        } catch (RuntimeException e) {
            log.warn("a TrainerListener failed; training goes on", e);
        }
    }
}
