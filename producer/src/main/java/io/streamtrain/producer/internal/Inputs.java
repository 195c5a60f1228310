package io.streamtrain.producer.internal;

import io.streamtrain.producer.BadInputKind;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * Expands the inputs of a run into sources: {@code -} is standard input, a file is itself, a directory is every
 * regular file below it, recursively, sorted by path so that runs are reproducible. Below a directory, hidden
 * files and directories (name starting with '.') and files still being written by convention (.tmp, .part,
 * .partial, ending with ~) are left out; a file named explicitly is always read.
 */
public final class Inputs {
    public static final String STDIN_ARGUMENT = "-";

    private Inputs() {}

    /** Sources of {@code arguments} in order; missing or unreadable paths are reported to {@code log} and left out. */
    public static List<InputSource> expand(List<String> arguments, BadInputLog log) {
        List<InputSource> sources = new ArrayList<>();
        for (String argument : arguments) {
            if (argument.equals(STDIN_ARGUMENT)) {
                sources.add(InputSource.stdin());
                continue;
            }
            Path path = Path.of(argument);
            if (Files.isDirectory(path)) {
                sources.addAll(filesUnder(path, log));
            } else if (Files.isRegularFile(path)) {
                sources.add(InputSource.file(path, sizeOf(path)));
            } else if (Files.exists(path)) {
                log.report(BadInputKind.UNREADABLE_FILE, argument, 0, "not a regular file or directory");
            } else {
                log.report(BadInputKind.UNREADABLE_FILE, argument, 0,
                        "no such file or directory (working directory " + Path.of("").toAbsolutePath() + ")");
            }
        }
        return sources;
    }

    /** Regular files below {@code directory}, sorted by path; directories that cannot be listed go to {@code log}. */
    public static List<InputSource> filesUnder(Path directory, BadInputLog log) {
        List<Path> files = new ArrayList<>();
        try {
            Files.walkFileTree(directory, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attributes) {
                    return dir.equals(directory) || !isIgnored(dir) ? FileVisitResult.CONTINUE : FileVisitResult.SKIP_SUBTREE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) {
                    if (attributes.isRegularFile() && !isIgnored(file)) {
                        files.add(file);
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    if (log != null) {
                        log.report(BadInputKind.UNREADABLE_FILE, file.toString(), 0, "cannot list: " + e);
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            if (log != null) {
                log.report(BadInputKind.UNREADABLE_FILE, directory.toString(), 0, "cannot list: " + e);
            }
        }
        files.sort(null);
        List<InputSource> sources = new ArrayList<>(files.size());
        for (Path file : files) {
            sources.add(InputSource.file(file, sizeOf(file)));
        }
        return sources;
    }

    /** Hidden names and names of files still being written are not inputs when found under a directory. */
    static boolean isIgnored(Path path) {
        Path fileName = path.getFileName();
        if (fileName == null) {
            return false;
        }
        String name = fileName.toString();
        return name.startsWith(".") || name.endsWith("~") || name.endsWith(".tmp") || name.endsWith(".part")
                || name.endsWith(".partial");
    }

    static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return -1;
        }
    }
}
