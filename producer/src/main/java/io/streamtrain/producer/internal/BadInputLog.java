package io.streamtrain.producer.internal;

import io.streamtrain.producer.BadInput;
import io.streamtrain.producer.BadInputKind;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Counts skipped input by kind, prints the first {@link #PRINTED} with file and line, and keeps them for the summary.
 * Used from the reading thread only.
 */
public final class BadInputLog {
    /** How many bad inputs are printed and kept; the rest are only counted (a bad corpus must not flood the log). */
    public static final int PRINTED = 100;

    private final Consumer<String> printer;
    private final EnumMap<BadInputKind, Long> counts = new EnumMap<>(BadInputKind.class);
    private final List<BadInput> examples = new ArrayList<>();
    private long total;

    /** @param printer receives one line per printed bad input (the progress display, which keeps its bar intact) */
    public BadInputLog(Consumer<String> printer) {
        this.printer = printer;
        for (BadInputKind kind : BadInputKind.values()) {
            counts.put(kind, 0L);
        }
    }

    public void report(BadInputKind kind, String source, long line, String message) {
        counts.merge(kind, 1L, Long::sum);
        total++;
        if (examples.size() < PRINTED) {
            BadInput bad = new BadInput(kind, source, line, message);
            examples.add(bad);
            printer.accept("skipped " + bad);
        } else if (total == PRINTED + 1) {
            printer.accept("more than " + PRINTED + " bad inputs: the rest are counted, not printed (see the summary)");
        }
    }

    /** Count per kind, every kind present (zero when none). */
    public Map<BadInputKind, Long> counts() {
        return Collections.unmodifiableMap(new EnumMap<>(counts));
    }

    /** The first {@link #PRINTED} bad inputs, in the order met. */
    public List<BadInput> examples() {
        return List.copyOf(examples);
    }

    public long total() {
        return total;
    }
}
