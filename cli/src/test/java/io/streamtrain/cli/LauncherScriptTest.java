package io.streamtrain.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./streamtrain} launcher script itself, run by bash on a copy of it in a temporary directory (so that it
 * builds there, not in the repository), with a PATH that holds only the tools it needs and no Maven.
 */
class LauncherScriptTest {
    private static final Path SCRIPT = Path.of("..", "streamtrain");
    private static final List<String> TOOLS = List.of("bash", "env", "dirname", "readlink", "find", "sed", "head", "touch",
            "cat");

    @TempDir
    Path root;

    @Test
    void withoutMavenOnThePathItBuildsWithTheWrapperAndShowsTheBuildOutputWithoutEscapeCodes() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/bin/bash")), "needs bash");
        Path javaHome = Path.of(System.getProperty("java.home"));
        assumeTrue(Files.isExecutable(javaHome.resolve("bin/javac")), "needs a JDK (javac) to run the test's Java");
        Files.copy(SCRIPT, root.resolve("streamtrain"));
        Path marker = root.resolve("wrapper-was-run");
        // A stand-in for ./mvnw that fails like a build does, printing in colour as Debian's Maven 3.8 does.
        executable(root.resolve("mvnw"), "#!/bin/bash\n"
                + "echo \"$@\" > '" + marker + "'\n"
                + "printf '\\033[1;31m[ERROR]\\033[0m COMPILATION ERROR in Foo.java\\033[0m\\n'\n"
                + "exit 1\n");
        Path bin = Files.createDirectory(root.resolve("bin"));
        for (String tool : TOOLS) {
            Path target = Stream.of("/usr/bin/", "/bin/").map(dir -> Path.of(dir + tool)).filter(Files::isExecutable)
                    .findFirst().orElseThrow(() -> new AssertionError("no " + tool + " on this machine"));
            executable(bin.resolve(tool), "#!/bin/bash\nexec " + target + " \"$@\"\n");
        }

        ProcessBuilder builder = new ProcessBuilder("/bin/bash", root.resolve("streamtrain").toString(), "--version")
                .directory(root.toFile());
        builder.environment().clear();
        builder.environment().put("PATH", bin.toString());
        builder.environment().put("JAVA_HOME", javaHome.toString());
        builder.environment().put("HOME", root.toString());
        Process process = builder.start();
        process.getOutputStream().close();
        byte[] stdout = process.getInputStream().readAllBytes();
        String stderr = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the launcher did not finish");
        String transcript = "stdout: " + new String(stdout, StandardCharsets.UTF_8) + "\nstderr: " + stderr;

        assertEquals(1, process.exitValue(), transcript);
        assertTrue(Files.exists(marker), "the launcher did not run ./mvnw:\n" + transcript);
        assertTrue(Files.readString(marker).contains("-pl cli -am package"), Files.readString(marker));
        assertTrue(stderr.contains("[ERROR] COMPILATION ERROR in Foo.java"), transcript);
        assertFalse(stderr.contains("\u001b"), "escape codes in the build output:\n" + transcript);
        assertTrue(stderr.contains("the Maven build failed"), transcript);
    }

    private static void executable(Path file, String content) throws IOException {
        Files.writeString(file, content);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
