package io.streamtrain.trainer.eos;

import io.streamtrain.trainer.Trainer;
import io.streamtrain.trainer.testing.NumberedBatches;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The trainer in a child JVM ({@link Trainer#main} with {@code key=value} arguments, the test's classpath), its
 * output in a log file: a process the test can SIGKILL at any moment, as a crash would.
 */
final class ChildTrainer {
    private final Process process;
    private final Path log;

    private ChildTrainer(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    static ChildTrainer start(Map<String, String> config, Path log) throws IOException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), Trainer.class.getName()));
        command.addAll(NumberedBatches.arguments(config));
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        return new ChildTrainer(process, log);
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** SIGKILL: no shutdown hook, no final checkpoint. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    /** The exit code once it exits by itself within {@code timeout}; killed and an AssertionError otherwise. */
    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            kill();
            throw new AssertionError("the trainer did not finish within " + timeout + "; its log:\n" + logTail());
        }
        return process.exitValue();
    }

    /** The last lines of its output, for failure messages. */
    String logTail() {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }
}
