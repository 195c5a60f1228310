package io.streamtrain.cli.support;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/** What a benchmark prints about where it ran: commit, CPU, memory, Java. Never throws: unknown is "unknown". */
public final class MachineInfo {
    /** Set by the launcher ({@code ./streamtrain}) from {@code git rev-parse}; read before asking git ourselves. */
    public static final String COMMIT_PROPERTY = "streamtrain.commit";
    private static final String UNKNOWN = "unknown";

    private MachineInfo() {}

    /** The Maven project version this jar was built as. */
    public static String projectVersion() {
        try (InputStream in = MachineInfo.class.getResourceAsStream("/io/streamtrain/cli/build.properties")) {
            if (in == null) {
                return UNKNOWN;
            }
            Properties properties = new Properties();
            properties.load(in);
            return properties.getProperty("version", UNKNOWN);
        } catch (IOException e) {
            return UNKNOWN;
        }
    }

    /** The git commit (12 hex digits, "+dirty" with uncommitted changes), from the launcher or git; else unknown. */
    public static String commit() {
        String fromLauncher = System.getProperty(COMMIT_PROPERTY, "");
        if (!fromLauncher.isBlank()) {
            return fromLauncher;
        }
        String head = run(List.of("git", "rev-parse", "--short=12", "HEAD"));
        if (head.isEmpty()) {
            return UNKNOWN;
        }
        String changes = run(List.of("git", "status", "--porcelain", "--untracked-files=no"));
        return changes.isEmpty() ? head : head + "+dirty";
    }

    /** CPU model and logical processors, e.g. {@code "AMD EPYC 7B13, 2 logical processors"}. */
    public static String cpu() {
        String model = UNKNOWN;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                if (line.startsWith("model name")) {
                    model = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            model = System.getProperty("os.arch", UNKNOWN);
        }
        return model + ", " + Runtime.getRuntime().availableProcessors() + " logical processors";
    }

    /** Physical memory of the machine and the JVM's maximum heap. */
    public static String memory() {
        long heap = Runtime.getRuntime().maxMemory();
        String physical = UNKNOWN;
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            physical = gib(os.getTotalMemorySize());
        }
        return physical + " RAM, " + gib(heap) + " max heap";
    }

    public static String javaVersion() {
        return System.getProperty("java.vm.name", "java") + " " + System.getProperty("java.runtime.version", UNKNOWN)
                + " (" + System.getProperty("java.vendor", UNKNOWN) + ")";
    }

    public static String os() {
        return System.getProperty("os.name", UNKNOWN) + " " + System.getProperty("os.version", "") + " "
                + System.getProperty("os.arch", "");
    }

    private static String gib(long bytes) {
        return String.format("%.1f GiB", bytes / (1024.0 * 1024 * 1024));
    }

    /** First line of a short command's output, or "" when it fails or takes more than 3 s. */
    private static String run(List<String> command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(false)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] output = process.getInputStream().readAllBytes();
            if (!process.waitFor(3, TimeUnit.SECONDS) || process.exitValue() != 0) {
                process.destroy();
                return "";
            }
            String text = new String(output, StandardCharsets.UTF_8).trim();
            int newline = text.indexOf('\n');
            return newline < 0 ? text : text.substring(0, newline);
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }
}
