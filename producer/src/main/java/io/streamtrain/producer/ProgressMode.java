package io.streamtrain.producer;

/** How a run shows its progress. */
public enum ProgressMode {
    /** {@link #BAR} when {@code System.console()} is a terminal, else {@link #LOG}. */
    AUTO,
    /** A bar redrawn in place: documents, tokens, batches, MB/s, percent and ETA when the input size is known. */
    BAR,
    /** A plain line every few seconds, fit for logs. */
    LOG,
    /** Nothing is printed during the run (the summary is still returned). */
    NONE;

    /** AUTO resolved against the current process. */
    public ProgressMode resolve() {
        return this != AUTO ? this : System.console() != null ? BAR : LOG;
    }
}
