package io.streamtrain.cli.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The sample corpus that ships in the jar ({@code io/streamtrain/cli/sample-corpus/}): short original essays and
 * stories written for this project (see its README.md), one document per file, listed in {@code INDEX}. The demo
 * trains on it when no {@code --input} is given; it is copied out to a directory because the producer reads files.
 */
public final class SampleCorpus {
    static final String RESOURCE_DIRECTORY = "/io/streamtrain/cli/sample-corpus/";

    private SampleCorpus() {}

    /** The document file names, in INDEX order. */
    public static List<String> documentNames() {
        List<String> names = new ArrayList<>();
        try (InputStream in = open("INDEX");
             BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = reader.readLine()) != null; ) {
                line = line.strip();
                if (!line.isEmpty() && !line.startsWith("#")) {
                    names.add(line);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the sample corpus index in the streamtrain jar", e);
        }
        return names;
    }

    /** Copies every document into {@code directory} (created when missing) and returns it. */
    public static Path copyTo(Path directory) {
        try {
            Files.createDirectories(directory);
            for (String name : documentNames()) {
                try (InputStream in = open(name)) {
                    Files.copy(in, directory.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            return directory;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy the sample corpus to " + directory + ": " + e.getMessage(), e);
        }
    }

    private static InputStream open(String name) throws IOException {
        InputStream in = SampleCorpus.class.getResourceAsStream(RESOURCE_DIRECTORY + name);
        if (in == null) {
            throw new IOException("the streamtrain jar has no sample corpus file " + RESOURCE_DIRECTORY + name
                    + ": rebuild it (./streamtrain rebuilds when sources change)");
        }
        return in;
    }
}
