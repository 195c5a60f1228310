package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs {@code model-cuda/build-ptx.sh --list} (what it would build, and with which flags: it needs no nvcc). */
final class BuildPtxScript {
    private BuildPtxScript() {
    }

    /** The lines of {@code build-ptx.sh --list}; skips the test where there is no bash. */
    static List<String> list(Path module) throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(Path.of("/bin/bash")) || Files.isExecutable(Path.of("/usr/bin/bash")),
                "skipped: no bash to run build-ptx.sh with");
        Process process = new ProcessBuilder("bash", module.resolve("build-ptx.sh").toString(), "--list")
                .redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        process.waitFor(60, TimeUnit.SECONDS);
        assertEquals(0, process.exitValue(), "build-ptx.sh --list failed:\n" + output);
        return output.lines().toList();
    }
}
