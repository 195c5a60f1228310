package io.streamtrain.cli.support;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * One line of progress: redrawn in place on a terminal, printed at most every few seconds otherwise (logs and
 * pipes get readable lines, not thousands of carriage returns).
 */
public final class ProgressLine {
    private static final long TERMINAL_INTERVAL_NANOS = 100_000_000L;
    private static final long LOG_INTERVAL_NANOS = 5_000_000_000L;

    private final PrintWriter out;
    private final boolean terminal = System.console() != null;
    private long lastPrint;
    private String last = "";

    public ProgressLine(PrintWriter out) {
        this.out = out;
    }

    /** Shows {@code text} with the percentage of {@code done} in {@code total}, throttled. */
    public synchronized void update(String text, long done, long total) {
        long now = System.nanoTime();
        String line = total > 0 ? String.format(Locale.ROOT, "%s  %5.1f%%", text, 100.0 * done / total) : text;
        last = line;
        if (now - lastPrint < (terminal ? TERMINAL_INTERVAL_NANOS : LOG_INTERVAL_NANOS) && done < total) {
            return;
        }
        lastPrint = now;
        print(line);
    }

    /** Ends the progress line (a terminal gets its newline). */
    public synchronized void finish() {
        if (terminal) {
            print(last);
            out.println();
        }
        out.flush();
    }

    private void print(String line) {
        if (terminal) {
            out.print("\r" + line + "\u001b[K");
        } else {
            out.println(line);
        }
        out.flush();
    }

    /** Bytes in B, KB, MB or GB (powers of 1000, one decimal). */
    public static String bytes(long bytes) {
        if (bytes < 1000) {
            return bytes + " B";
        }
        String[] units = {"KB", "MB", "GB", "TB"};
        double value = bytes;
        int unit = -1;
        while (value >= 1000 && unit < units.length - 1) {
            value /= 1000;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
    }
}
