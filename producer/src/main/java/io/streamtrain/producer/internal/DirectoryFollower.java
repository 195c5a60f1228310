package io.streamtrain.producer.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the files that appeared in watched directories, each once. Polling (not WatchService) because it works
 * the same on every file system, network mounts included. A new file is handed out when its size and modification
 * time are the same at two consecutive polls, so a file still being copied in is not read half-written; the
 * robust way remains to write under a hidden or .tmp/.part name and rename when complete (see {@link Inputs}).
 * A file is never read twice, even if it changes later. Not thread-safe.
 */
public final class DirectoryFollower {
    private record Observation(long size, FileTime modified) {}

    private final List<Path> directories;
    private final Set<Path> handedOut;
    private final Map<Path, Observation> seen = new HashMap<>();

    /** @param alreadyRead files read before following started: never handed out */
    public DirectoryFollower(List<Path> directories, Collection<Path> alreadyRead) {
        this.directories = List.copyOf(directories);
        this.handedOut = new HashSet<>(alreadyRead);
    }

    /** Files new since the last poll and unchanged since they were first seen, sorted by path. */
    public List<InputSource> poll() {
        List<InputSource> ready = new ArrayList<>();
        for (Path directory : directories) {
            for (InputSource file : Inputs.filesUnder(directory, null)) {
                if (handedOut.contains(file.path())) {
                    continue;
                }
                Observation now = observe(file.path());
                if (now == null) {
                    continue;
                }
                if (now.equals(seen.put(file.path(), now))) {
                    ready.add(InputSource.file(file.path(), now.size()));
                }
            }
        }
        ready.sort((a, b) -> a.path().compareTo(b.path()));
        for (InputSource file : ready) {
            handedOut.add(file.path());
            seen.remove(file.path());
        }
        return ready;
    }

    private static Observation observe(Path file) {
        try {
            return new Observation(Files.size(file), Files.getLastModifiedTime(file));
        } catch (IOException e) {
            return null; // gone or unreadable for now: looked at again at the next poll
        }
    }
}
