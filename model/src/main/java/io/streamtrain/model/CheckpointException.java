package io.streamtrain.model;

import java.io.IOException;
import java.nio.file.Path;

/** A checkpoint file that cannot be used: truncated, corrupted, or made for another model or tokenizer. */
public final class CheckpointException extends IOException {

    private static final long serialVersionUID = 1L;

    public CheckpointException(Path file, String problem) {
        super("checkpoint " + file + ": " + problem);
    }
}
