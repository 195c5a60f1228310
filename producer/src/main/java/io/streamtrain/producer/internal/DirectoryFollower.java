package io.streamtrain.producer.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Finds what to read in watched directories: files that appeared, and files already read that grew. Polling (not
 * WatchService) because it works the same on every file system, network mounts included. A file is handed out when
 * its size and modification time stayed the same for the settle time, so a file still being copied in is not read
 * half-written; the robust way remains to write under a hidden or .tmp/.part name and rename when complete (see
 * {@link Inputs}). What is appended to a file after it was read is handed out again from where that read ended
 * ({@link DocumentReader#readFrom}); a gzip file that changes, or a file rewritten shorter than what was read, is
 * not read again, and that is said once. Not thread-safe.
 */
public final class DirectoryFollower {
    /**
     * What to read of a file.
     *
     * @param file   the file
     * @param before where the last read of it ended; null for a new file, read from its start
     */
    public record Ready(InputSource file, DocumentReader.Result before) {
        /** Whether this reads what was appended to a file already read. */
        public boolean appended() {
            return before != null;
        }
    }

    private record Observation(long size, FileTime modified) {}

    private static final class Watched {
        Observation seen;
        long seenSinceNanos;
        DocumentReader.Result read;      // null: not read yet
        Observation handedOutAt;         // what the file looked like when last handed out
        boolean done;                    // never looked at again
    }

    private final List<Path> directories;
    private final long settleNanos;
    private final Consumer<String> notices;
    private final LongSupplier nanoClock;
    private final Map<Path, Watched> files = new HashMap<>();

    /**
     * @param alreadyRead files read before following started, with where each read ended: read on when they grow
     * @param settle      how long a file must stay unchanged before it is handed out
     * @param notices     receives one line per file that will not be read (again), with why
     */
    public DirectoryFollower(List<Path> directories, Map<Path, DocumentReader.Result> alreadyRead, Duration settle,
                             Consumer<String> notices) {
        this(directories, alreadyRead, settle, notices, System::nanoTime);
    }

    DirectoryFollower(List<Path> directories, Map<Path, DocumentReader.Result> alreadyRead, Duration settle,
                      Consumer<String> notices, LongSupplier nanoClock) {
        this.directories = List.copyOf(directories);
        this.settleNanos = settle.toNanos();
        this.notices = notices;
        this.nanoClock = nanoClock;
        alreadyRead.forEach((path, result) -> {
            Watched watched = new Watched();
            watched.read = result;
            files.put(path, watched);
        });
    }

    /** Files new, or grown, since the last time they were handed out and unchanged for the settle time, by path. */
    public List<Ready> poll() {
        long now = nanoClock.getAsLong();
        List<Ready> ready = new ArrayList<>();
        for (Path directory : directories) {
            for (InputSource file : Inputs.filesUnder(directory, null)) {
                Watched watched = files.computeIfAbsent(file.path(), path -> new Watched());
                if (watched.done) {
                    continue;
                }
                Observation observed = observe(file.path());
                if (observed == null) {
                    continue; // gone or unreadable for now: looked at again at the next poll
                }
                if (!observed.equals(watched.seen)) {
                    watched.seen = observed;
                    watched.seenSinceNanos = now;
                }
                if (now - watched.seenSinceNanos < settleNanos || observed.equals(watched.handedOutAt)) {
                    continue;
                }
                DocumentReader.Result read = watched.read;
                if (read != null && !read.canReadOn()) {
                    if (read.compressed() && observed.size() != read.endByte() && read.endByte() != Long.MAX_VALUE) {
                        watched.done = true;
                        notices.accept(file.name() + " changed after it was read: what is appended to a gzip file"
                                + " is not read; put new data in new files");
                    }
                    watched.handedOutAt = observed;
                    continue;
                }
                if (read != null && observed.size() < read.endByte()) {
                    watched.done = true;
                    notices.accept(file.name() + " is now " + observed.size() + " bytes, shorter than the "
                            + read.endByte() + " already read: rewritten, not read again; put new data in new files,"
                            + " or append to this one");
                    continue;
                }
                if (read != null && observed.size() == read.endByte()) {
                    watched.handedOutAt = observed; // touched: nothing new
                    continue;
                }
                watched.handedOutAt = observed;
                ready.add(new Ready(InputSource.file(file.path(), observed.size()), read));
            }
        }
        ready.sort((a, b) -> a.file().path().compareTo(b.file().path()));
        return ready;
    }

    /** Records where the read of a handed-out file ended: what is appended later is read from there. */
    public void read(Path file, DocumentReader.Result result) {
        files.computeIfAbsent(file, path -> new Watched()).read = result;
    }

    private static Observation observe(Path file) {
        try {
            return new Observation(Files.size(file), Files.getLastModifiedTime(file));
        } catch (IOException e) {
            return null;
        }
    }
}
