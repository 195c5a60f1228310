package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.cuda.internal.KernelFamily;
import io.streamtrain.cuda.internal.PtxModules;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed PTX was generated from the committed CUDA sources, by the committed build-ptx.sh, with its flags:
 * the manifest next to the PTX records the SHA-256 of every source file and of the script, and the flags, when
 * model-cuda/build-ptx.sh last ran (git does not keep modification times). Runs on every machine; needs no GPU.
 */
class PtxFreshnessTest {

    @Test
    void shouldFailWhenACommittedPtxIsOlderThanItsSourceOrItsBuildScript() throws IOException,
            NoSuchAlgorithmException {
        Path module = ModuleFiles.moduleOrSkip();
        Map<String, String> actual = new TreeMap<>();
        try (Stream<Path> files = Files.list(ModuleFiles.sources(module))) {
            for (Path file : (Iterable<Path>) files.sorted()::iterator) {
                String name = file.getFileName().toString();
                if (name.endsWith(".cu") || name.endsWith(".cuh")) {
                    actual.put(name, sha256(file));
                }
            }
        }
        actual.put("build-ptx.sh", sha256(module.resolve("build-ptx.sh")));
        Map<String, String> recorded = new TreeMap<>();
        for (String line : manifest()) {
            if (!line.startsWith("flags ")) {
                String[] fields = line.trim().split("\\s+", 2);
                recorded.put(fields[1], fields[0]);
            }
        }
        assertEquals(recorded, actual, "the PTX under src/main/resources/io/streamtrain/cuda/ptx is stale or was built "
                + "from other sources or by another build-ptx.sh: run model-cuda/build-ptx.sh (needs nvcc) and commit "
                + "its output");
    }

    @Test
    void shouldRecordTheCompilerFlagsThatBuildPtxUses() throws IOException, InterruptedException {
        Path module = ModuleFiles.moduleOrSkip();
        List<String> recorded = new ArrayList<>();
        for (String line : manifest()) {
            if (line.startsWith("flags ")) {
                recorded.add(line);
            }
        }
        List<String> script = new ArrayList<>();
        for (String line : BuildPtxScript.list(module)) {
            if (line.startsWith("flags ")) {
                script.add(line);
            }
        }
        assertTrue(!script.isEmpty(), "build-ptx.sh --list prints its flags");
        assertEquals(script, recorded, "the PTX was built with other flags than build-ptx.sh has now: run "
                + "model-cuda/build-ptx.sh (needs nvcc) and commit its output");
    }

    @Test
    void shouldShipPortablePtxForEveryKernelFamily() {
        for (KernelFamily family : KernelFamily.values()) {
            String ptx = new String(PtxModules.readResource(family.portablePtx()), StandardCharsets.US_ASCII);
            assertTrue(ptx.contains(".target sm_80"), family.portablePtx() + " targets compute capability 8.0");
            assertTrue(ptx.contains(".entry"), family.portablePtx() + " has kernels");
        }
    }

    private static List<String> manifest() {
        List<String> lines = new ArrayList<>();
        for (String line : new String(PtxModules.readResource("sources.sha256"), StandardCharsets.UTF_8).split("\n")) {
            if (!line.isBlank()) {
                lines.add(line.trim());
            }
        }
        return lines;
    }

    private static String sha256(Path file) throws IOException, NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }
}
