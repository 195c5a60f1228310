package io.streamtrain.trainer.internal;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.CheckpointException;
import io.streamtrain.model.Checkpoints;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The checkpoints of a run in one directory, named {@code step-<12-digit step>.safetensors} so that names sort by
 * step. Writes go through {@link Checkpoints#write} (atomic); after each write only the newest {@code keep} files stay.
 * Loading takes the newest file that reads back whole and falls back to older ones, saying so, when it is damaged.
 */
public final class CheckpointStore {
    private static final Pattern NAME = Pattern.compile("step-(\\d{12})\\.safetensors");

    private final Path directory;
    private final int keep;

    public CheckpointStore(Path directory, int keep) {
        if (keep < 1) {
            throw new IllegalArgumentException("checkpoint.keep must be at least 1, got " + keep);
        }
        this.directory = directory;
        this.keep = keep;
    }

    public Path directory() {
        return directory;
    }

    /** The file a checkpoint of {@code step} is written to. */
    public Path pathOf(long step) {
        return directory.resolve(String.format("step-%012d.safetensors", step));
    }

    /** Writes {@code checkpoint} (atomically) and deletes all but the newest {@code keep} checkpoints. */
    public Path write(Checkpoint checkpoint) throws IOException {
        Files.createDirectories(directory);
        Path path = pathOf(checkpoint.step());
        Checkpoints.write(path, checkpoint);
        List<Path> files = newestFirst();
        for (Path old : files.subList(Math.min(keep, files.size()), files.size())) {
            Files.deleteIfExists(old);
        }
        return path;
    }

    /** Checkpoint files of this directory, newest (highest step) first; empty when the directory does not exist. */
    public List<Path> newestFirst() throws IOException {
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(file -> NAME.matcher(file.getFileName().toString()).matches())
                    .sorted(Comparator.comparing((Path file) -> file.getFileName().toString()).reversed())
                    .toList();
        }
    }

    /** The step in a checkpoint file's name. */
    static long stepOf(Path file) {
        Matcher matcher = NAME.matcher(file.getFileName().toString());
        if (!matcher.matches()) {
            throw new IllegalArgumentException(file + " is not named step-<12 digits>.safetensors");
        }
        return Long.parseLong(matcher.group(1));
    }

    /** A checkpoint read back and the file it came from. */
    public record Loaded(Path path, Checkpoint checkpoint) {}

    /**
     * The newest checkpoint that reads back whole. A damaged file (truncated, corrupt) is reported on {@code log}
     * and the one before it tried. Empty when the directory holds no checkpoint at all.
     *
     * @throws IOException when checkpoints exist but none can be read: starting afresh would silently discard the
     *                     run, so the user must decide (move the files away, or point checkpoint.dir elsewhere)
     */
    public Optional<Loaded> loadNewest(PrintStream log) throws IOException {
        List<Path> files = newestFirst();
        List<String> damaged = new ArrayList<>();
        for (Path file : files) {
            try {
                Loaded loaded = new Loaded(file, Checkpoints.read(file));
                if (!damaged.isEmpty()) {
                    log.println("restoring from the older checkpoint " + file + " because the newer one(s) are"
                            + " damaged: " + String.join("; ", damaged));
                }
                return Optional.of(loaded);
            } catch (CheckpointException e) {
                log.println("checkpoint " + file + " is damaged (" + e.getMessage() + "); trying the one before it");
                damaged.add(e.getMessage());
            }
        }
        if (!damaged.isEmpty()) {
            throw new IOException("no usable checkpoint in " + directory + ": all " + files.size() + " are damaged ("
                    + String.join("; ", damaged) + "); move them away to start a new model, or set checkpoint.dir"
                    + " to another directory");
        }
        return Optional.empty();
    }
}
