package io.streamtrain.producer.internal;

import io.streamtrain.producer.ProgressMode;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Shows how a run goes: on a terminal a bar redrawn in place (documents, tokens, batches, MB/s, and percent and
 * ETA when the total input size is known); elsewhere a plain line every few seconds, fit for logs. Messages (bad
 * inputs) are printed on their own lines without breaking the bar. Used from the reading thread only.
 */
public final class Progress {
    private static final long BAR_REFRESH_NANOS = 200_000_000L;
    private static final int BAR_WIDTH = 24;

    private final PrintStream out;
    private final ProgressMode mode;
    private long totalBytes;
    private final long intervalNanos;
    private final long startNanos = System.nanoTime();
    private long lastShownNanos = startNanos;
    private boolean barShown;
    private long[] lastLogged = {0, 0, 0, 0};

    private long documents;
    private long tokens;
    private long batches;
    private long bytes;

    /**
     * @param mode        {@link ProgressMode#AUTO} is resolved here
     * @param totalBytes  size of all input on disk, or -1 when unknown (stdin, --follow)
     * @param intervalMillis time between two log lines in {@link ProgressMode#LOG}
     */
    public Progress(PrintStream out, ProgressMode mode, long totalBytes, long intervalMillis) {
        this.out = out;
        this.mode = mode.resolve();
        this.totalBytes = totalBytes;
        this.intervalNanos = mode.resolve() == ProgressMode.BAR ? BAR_REFRESH_NANOS : intervalMillis * 1_000_000L;
    }

    /** Size of all input on disk, or -1 when unknown: percent and ETA are shown only when known. */
    public void setTotalBytes(long totalBytes) {
        this.totalBytes = totalBytes;
    }

    /** Bytes read so far. */
    public long bytes() {
        return bytes;
    }

    public void addBytes(long count) {
        bytes += count;
    }

    public void setCounts(long documents, long tokens, long batches) {
        this.documents = documents;
        this.tokens = tokens;
        this.batches = batches;
        tick();
    }

    /**
     * Shows the current state if the display is due; a log line only when something changed since the last one, so
     * that an idle {@code --follow} stays quiet.
     */
    public void tick() {
        long now = System.nanoTime();
        if (mode == ProgressMode.NONE || now - lastShownNanos < intervalNanos) {
            return;
        }
        long[] state = {documents, tokens, batches, bytes};
        if (mode == ProgressMode.LOG && java.util.Arrays.equals(state, lastLogged)) {
            return;
        }
        lastLogged = state;
        lastShownNanos = now;
        show(now);
    }

    /** Prints {@code line} on its own line (a bar is redrawn below it at the next tick). */
    public void message(String line) {
        if (mode == ProgressMode.NONE) {
            return;
        }
        if (barShown) {
            out.print("\r\033[2K");
            barShown = false;
        }
        out.println(line);
        out.flush();
    }

    /** Shows the final state and ends the bar's line. */
    public void finish() {
        if (mode == ProgressMode.NONE) {
            return;
        }
        show(System.nanoTime());
        if (barShown) {
            out.println();
            barShown = false;
        }
        out.flush();
    }

    private void show(long now) {
        String status = status(now);
        if (mode == ProgressMode.BAR) {
            out.print("\r\033[2K" + bar() + status);
            barShown = true;
        } else {
            out.println("produced " + status);
        }
        out.flush();
    }

    private String bar() {
        if (totalBytes <= 0) {
            return "";
        }
        int done = (int) Math.min(BAR_WIDTH, BAR_WIDTH * bytes / totalBytes);
        return "[" + "#".repeat(done) + ".".repeat(BAR_WIDTH - done) + "] ";
    }

    /** e.g. {@code 1,234 documents, 2.3M tokens, 45 batches, 12.1 MB/s, 45% of 100.0 MB, ETA 0:12}. */
    String status(long now) {
        double seconds = Math.max(1e-9, (now - startNanos) / 1e9);
        double bytesPerSecond = bytes / seconds;
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%,d documents, %s tokens, %,d batches, %.1f MB/s",
                documents, humanCount(tokens), batches, bytesPerSecond / 1e6));
        if (totalBytes > 0) {
            line.append(String.format(Locale.ROOT, ", %d%% of %s", Math.min(100, 100 * bytes / totalBytes),
                    humanBytes(totalBytes)));
            if (bytes > 0 && bytes < totalBytes) {
                line.append(", ETA ").append(duration((long) ((totalBytes - bytes) / bytesPerSecond)));
            }
        }
        return line.toString();
    }

    static String humanCount(long count) {
        if (count < 10_000) {
            return Long.toString(count);
        }
        if (count < 10_000_000) {
            return String.format(Locale.ROOT, "%.1fk", count / 1e3);
        }
        if (count < 10_000_000_000L) {
            return String.format(Locale.ROOT, "%.1fM", count / 1e6);
        }
        return String.format(Locale.ROOT, "%.1fG", count / 1e9);
    }

    /** e.g. {@code 812 B}, {@code 12.3 kB}, {@code 4.0 MB}, {@code 1.2 GB} (powers of 1000). */
    public static String humanBytes(long bytes) {
        if (bytes < 1000) {
            return bytes + " B";
        }
        if (bytes < 1_000_000) {
            return String.format(Locale.ROOT, "%.1f kB", bytes / 1e3);
        }
        if (bytes < 1_000_000_000) {
            return String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
        }
        return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
    }

    static String duration(long seconds) {
        return seconds >= 3600
                ? String.format(Locale.ROOT, "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
                : String.format(Locale.ROOT, "%d:%02d", seconds / 60, seconds % 60);
    }
}
