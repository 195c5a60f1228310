package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.streamtrain.cuda.internal.PtxModules;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed PTX was generated from the committed CUDA sources: the manifest next to the PTX records the
 * SHA-256 of every source file when model-cuda/build-ptx.sh last ran (git does not keep modification times).
 * Runs on every machine; needs no GPU.
 */
class PtxFreshnessTest {

    private static Path sources() {
        for (Path candidate : new Path[] {Path.of("src/main/cuda"), Path.of("model-cuda/src/main/cuda")}) {
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    @Test
    void shouldFailWhenACommittedPtxIsOlderThanItsSource() throws IOException, NoSuchAlgorithmException {
        Path sources = sources();
        assumeTrue(sources != null, "skipped: the CUDA sources (model-cuda/src/main/cuda) are not beside this run");
        Map<String, String> actual = new TreeMap<>();
        try (Stream<Path> files = Files.list(sources)) {
            for (Path file : (Iterable<Path>) files.sorted()::iterator) {
                String name = file.getFileName().toString();
                if (name.endsWith(".cu") || name.endsWith(".cuh")) {
                    byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
                    actual.put(name, HexFormat.of().formatHex(digest));
                }
            }
        }
        Map<String, String> recorded = new TreeMap<>();
        String manifest = new String(PtxModules.readResource("sources.sha256"), StandardCharsets.UTF_8);
        for (String line : manifest.split("\n")) {
            if (!line.isBlank()) {
                String[] fields = line.trim().split("\\s+", 2);
                recorded.put(fields[1], fields[0]);
            }
        }
        assertEquals(recorded, actual, "the PTX under src/main/resources/io/streamtrain/cuda/ptx is stale or was built "
                + "from other sources: run model-cuda/build-ptx.sh (needs nvcc) and commit its output");
    }

    @Test
    void shouldShipPortablePtxForEveryKernelFamily() {
        for (String family : PtxModules.FAMILIES) {
            String ptx = new String(PtxModules.readResource(family + ".sm80.ptx"), StandardCharsets.US_ASCII);
            assertTrue(ptx.contains(".target sm_80"), family + ".sm80.ptx targets compute capability 8.0");
            assertTrue(ptx.contains(".entry"), family + ".sm80.ptx has kernels");
        }
    }
}
