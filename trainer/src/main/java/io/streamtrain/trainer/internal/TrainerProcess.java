package io.streamtrain.trainer.internal;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Instant;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Who a trainer process is, written into its Kafka Streams {@code client.id} so that the next trainer of the same
 * application id can read it from the consumer group's members: pid, the process's start time (a reused pid is not
 * the same process), host and run id. A member whose process is gone on this host is stale (a SIGKILL leaves it in
 * the group until its session times out) and may be evicted; a live one must never be.
 */
public record TrainerProcess(long pid, long startMillis, String host, String runId) {
    private static final Pattern CLIENT_ID = Pattern.compile(
            "streamtrain-(\\d+)-(\\d+)-run-(.+)-host-(.+?)(-StreamThread-\\d+-.*)?");

    /** This process, training run {@code runId}. */
    public static TrainerProcess current(String runId) {
        ProcessHandle self = ProcessHandle.current();
        return new TrainerProcess(self.pid(), startMillis(self).orElse(0L), localHost(), runId);
    }

    /** The name of this host, as the client ids carry it. */
    public static String localHost() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown-host";
        }
    }

    private static Optional<Long> startMillis(ProcessHandle process) {
        return process.info().startInstant().map(Instant::toEpochMilli);
    }

    /** The Kafka Streams {@code client.id}: {@code streamtrain-<pid>-<start ms>-run-<run id>-host-<host>}. */
    public String clientId() {
        return "streamtrain-" + pid + "-" + startMillis + "-run-" + runId + "-host-" + host;
    }

    /** The trainer behind a group member's client id (Kafka Streams appends {@code -StreamThread-N-consumer}). */
    public static Optional<TrainerProcess> ofClientId(String clientId) {
        Matcher matcher = CLIENT_ID.matcher(clientId);
        if (!matcher.matches()) {
            return Optional.empty();
        }
        return Optional.of(new TrainerProcess(Long.parseLong(matcher.group(1)), Long.parseLong(matcher.group(2)),
                matcher.group(4), matcher.group(3)));
    }

    /** Whether this process runs on this host. */
    public boolean isHere() {
        return host.equals(localHost());
    }

    /** Whether this process, on this host, is still alive (same pid and start time). */
    public boolean isAliveHere() {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .map(process -> startMillis == 0 || startMillis(process).map(start -> start == startMillis)
                        .orElse(true))
                .orElse(false);
    }

    @Override
    public String toString() {
        return "pid " + pid + " on " + host + ", run " + runId;
    }
}
