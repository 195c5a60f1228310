package io.streamtrain.trainer.internal;

import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.ModelAnnouncement;
import io.streamtrain.schemas.Topics;
import io.streamtrain.trainer.TrainerListener;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Announces models on the compacted models topic: a {@link ModelAnnouncement} for every checkpoint written (keyed by
 * run id, so compaction keeps the newest) and for every new best model (keyed {@code <run id>/best}), with step,
 * tokens trained, the held-out loss of that step where one was reported, the file's URI, size and SHA-256.
 * Sends asynchronously; a failed send is reported on the log and training goes on. {@link #close()} flushes.
 */
public final class ModelAnnouncer implements TrainerListener, AutoCloseable {
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private final Producer<String, byte[]> producer;
    private final String topic;
    private final String runId;
    private final String tokenizer;
    private final LongSupplier tokensTrained;
    private final PrintStream log;
    private final Serializer<ModelAnnouncement> serializer = AvroSerdes.modelAnnouncement().serializer();
    private long heldOutStep = -1;
    private double heldOutLoss;

    /**
     * @param tokensTrained the run's tokens trained so far, asked when a checkpoint is announced (the listener is
     *                      called right after the checkpoint, before the next step)
     */
    public ModelAnnouncer(Producer<String, byte[]> producer, String topic, String runId, String tokenizer,
                          LongSupplier tokensTrained, PrintStream log) {
        this.producer = producer;
        this.topic = topic;
        this.runId = runId;
        this.tokenizer = tokenizer;
        this.tokensTrained = tokensTrained;
        this.log = log;
    }

    @Override
    public synchronized void onCheckpoint(Path path, long step) {
        announce(path, step, false, heldOutStep == step ? heldOutLoss : null);
    }

    @Override
    public synchronized void onHeldOutLoss(long step, double loss) {
        heldOutStep = step;
        heldOutLoss = loss;
    }

    @Override
    public synchronized void onNewBest(Path checkpoint, long step, double loss) {
        announce(checkpoint, step, true, loss);
    }

    private void announce(Path path, long step, boolean best, Double loss) {
        ModelAnnouncement announcement = ModelAnnouncement.newBuilder()
                .setRunId(runId).setKind(best ? "best" : "checkpoint").setStep(step)
                .setTokensTrained(tokensTrained.getAsLong()).setHeldOutLoss(loss)
                .setUri(path.toAbsolutePath().toUri().toString()).setSha256(sha256(path)).setSizeBytes(size(path))
                .setTokenizer(tokenizer).setTime(Instant.now()).build();
        producer.send(new ProducerRecord<>(topic, Topics.modelKey(runId, best), serializer.serialize(topic,
                announcement)), (metadata, exception) -> {
                    if (exception != null) {
                        log.println("could not announce the " + (best ? "best model" : "checkpoint") + " of step " + step
                                + " on " + topic + ": " + exception.getMessage());
                    }
                });
    }

    /** Lowercase hex SHA-256 of a file. */
    public static String sha256(Path file) {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM lacks SHA-256, which every Java platform must provide", e);
        }
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
            in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + " to announce it: " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the size of " + file + ": " + e.getMessage(), e);
        }
    }

    /** Sends what is pending and closes the producer. */
    @Override
    public synchronized void close() {
        producer.close(CLOSE_TIMEOUT);
    }

}
