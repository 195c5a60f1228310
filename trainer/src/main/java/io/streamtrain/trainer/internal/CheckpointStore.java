package io.streamtrain.trainer.internal;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.CheckpointException;
import io.streamtrain.model.Checkpoints;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
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
    /** The temporary file of a checkpoint write ({@code Checkpoints.write}) that a kill interrupted. */
    private static final Pattern INTERRUPTED_WRITE = Pattern.compile("\\.step-\\d{12}\\.safetensors\\.[0-9a-f]+\\.tmp");
    /** The file a trainer holds locked while it uses the directory; it says who holds it. */
    public static final String LOCK_FILE = ".lock";
    /** The run id of the run whose checkpoints these are, written before its first metrics record. */
    public static final String RUN_ID_FILE = "run-id";

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

    /** The one writer of a checkpoint directory: released by {@link #close()}, or by the OS when the process dies. */
    public static final class Lock implements AutoCloseable {
        private final FileChannel channel;
        private final FileLock lock;

        private Lock(FileChannel channel, FileLock lock) {
            this.channel = channel;
            this.lock = lock;
        }

        /** Says in the lock file who holds it, for a trainer that is refused to print. */
        public void describe(String holder) throws IOException {
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(holder.getBytes(StandardCharsets.UTF_8)), 0);
            channel.force(false);
        }

        @Override
        public void close() throws IOException {
            try {
                lock.release();
            } finally {
                channel.close();
            }
        }
    }

    /**
     * Takes the directory for this process, so that two trainers never write one run's checkpoints (the second one
     * to ask, even at the same moment, is refused). A killed process's lock goes with it.
     *
     * @throws IllegalStateException naming the holder, when another live process (or this one) holds it
     */
    public Lock lock(String holder) throws IOException {
        Files.createDirectories(directory);
        Path file = directory.resolve(LOCK_FILE);
        FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;   // held by this JVM
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            channel.close();
            String holding = Files.readString(file, StandardCharsets.UTF_8).strip();
            throw new IllegalStateException("checkpoint directory " + directory + " is in use by another trainer ("
                    + (holding.isEmpty() ? "starting" : holding) + "); two trainers of one run would both write it:"
                    + " stop that one first, or give this one another checkpoint.dir (or run.dir)");
        }
        Lock taken = new Lock(channel, lock);
        taken.describe(holder);
        return taken;
    }

    /** Deletes the temporary files of checkpoint writes that a kill interrupted; says which on {@code log}. */
    public void removeInterruptedWrites(PrintStream log) throws IOException {
        if (!Files.isDirectory(directory)) {
            return;
        }
        List<String> removed = new ArrayList<>();
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file : files.filter(f -> INTERRUPTED_WRITE.matcher(f.getFileName().toString()).matches())
                    .toList()) {
                Files.deleteIfExists(file);
                removed.add(file.getFileName().toString());
            }
        }
        if (!removed.isEmpty()) {
            log.println("removed " + removed.size() + " temporary file(s) of interrupted checkpoint writes: "
                    + String.join(", ", removed));
        }
    }

    /** The run id written by {@link #writeRunId}, if any. */
    public Optional<String> runId() throws IOException {
        Path file = directory.resolve(RUN_ID_FILE);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        String runId = Files.readString(file, StandardCharsets.UTF_8).strip();
        return runId.isEmpty() ? Optional.empty() : Optional.of(runId);
    }

    /** Writes the run id (atomically), so that a restart before the first checkpoint continues the same run. */
    public void writeRunId(String runId) throws IOException {
        Files.createDirectories(directory);
        Path temp = directory.resolve("." + RUN_ID_FILE + ".tmp");
        Files.writeString(temp, runId + "\n", StandardCharsets.UTF_8);
        Files.move(temp, directory.resolve(RUN_ID_FILE), StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
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
