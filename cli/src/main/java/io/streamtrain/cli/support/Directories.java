package io.streamtrain.cli.support;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/** Temporary directories of the CLI (broker data, the extracted sample corpus) and their removal. */
public final class Directories {
    private Directories() {}

    /** Deletes {@code directory} and everything under it; absent is fine. */
    public static void deleteRecursively(Path directory) throws IOException {
        if (!Files.exists(directory)) {
            return;
        }
        Files.walkFileTree(directory, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                Files.deleteIfExists(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** {@link #deleteRecursively}, warning on {@code System.err} instead of failing: for clean-up paths. */
    public static void deleteQuietly(Path directory, String what) {
        try {
            deleteRecursively(directory);
        } catch (IOException e) {
            System.err.println("warning: could not delete " + what + " in " + directory + ": " + e.getMessage());
        }
    }
}
