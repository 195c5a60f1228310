package io.streamtrain.producer;

import io.streamtrain.producer.internal.Progress;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.StringJoiner;

/**
 * What a {@link DocumentProducer} run did.
 *
 * @param topic             the topic the batches went to
 * @param dataset           their dataset (the record key)
 * @param documents         good documents packed
 * @param tokens            tokens of the packed stream, one end-of-text per document included
 * @param batches           TokenBatch records published and acknowledged by the broker
 * @param firstSequence     sequence number of the first batch of the run
 * @param nextSequence      the number the next batch of this dataset should get (first.sequence of a follow-up run)
 * @param bytesRead         bytes read from the inputs (compressed size for gzip)
 * @param droppedTailTokens stream tokens after the last batch, never published because they did not fill a batch
 * @param badInputs         skipped input per kind, every kind present
 * @param badInputExamples  the first bad inputs with file and line (at most 100)
 * @param stoppedEarly      true when {@link DocumentProducer#stop()} ended a run before its inputs were all read
 * @param elapsed           wall time of the run
 * @param evalTopic         the topic of the held-out batches, or null without a holdout
 * @param heldOutTokens     tokens held out for evaluation (sent once, whatever the epochs), end-of-texts included
 * @param evalBatches       evaluation batches published to evalTopic
 */
public record ProducerSummary(String topic, String dataset, long documents, long tokens, long batches,
                              long firstSequence, long nextSequence, long bytesRead, long droppedTailTokens,
                              Map<BadInputKind, Long> badInputs, List<BadInput> badInputExamples,
                              boolean stoppedEarly, Duration elapsed, String evalTopic, long heldOutTokens,
                              long evalBatches) {

    public ProducerSummary {
        badInputs = Map.copyOf(badInputs);
        badInputExamples = List.copyOf(badInputExamples);
    }

    /** Skipped inputs of every kind. */
    public long badInputTotal() {
        return badInputs.values().stream().mapToLong(Long::longValue).sum();
    }

    /** A few lines for the end of a run. */
    public String describe() {
        double seconds = Math.max(1e-3, elapsed.toNanos() / 1e9);
        StringBuilder text = new StringBuilder();
        if (batches > 0) {
            text.append(String.format(Locale.ROOT, "published %,d batches (sequence %d to %d) of dataset %s to topic %s%n",
                    batches, firstSequence, nextSequence - 1, dataset, topic));
        } else {
            text.append(String.format(Locale.ROOT, "published no batch of dataset %s to topic %s: the input does not "
                    + "fill one (B*T+1 tokens)%n", dataset, topic));
        }
        text.append(String.format(Locale.ROOT,
                "read %,d documents, %,d tokens (one end-of-text per document included), %s in %.1f s "
                        + "(%.1f MB/s, %,.0f tokens/s)%s%n",
                documents, tokens, Progress.humanBytes(bytesRead), seconds, bytesRead / 1e6 / seconds, tokens / seconds,
                stoppedEarly ? "; stopped before the end of the input" : ""));
        if (droppedTailTokens > 0) {
            text.append(String.format(Locale.ROOT,
                    "dropped the last %,d tokens: they do not fill a batch (a follow-up run with more input "
                            + "starts afresh)%n", droppedTailTokens));
        }
        if (evalTopic != null) {
            text.append(String.format(Locale.ROOT, "held out %,d tokens for evaluation: %,d batches to topic %s%s%n",
                    heldOutTokens, evalBatches, evalTopic, evalBatches > 0 ? ""
                            : " (they do not fill one batch of B*T+1 tokens: raise the holdout or lower B or T)"));
        }
        long bad = badInputTotal();
        if (bad > 0) {
            StringJoiner kinds = new StringJoiner(", ");
            for (BadInputKind kind : BadInputKind.values()) {
                long count = badInputs.getOrDefault(kind, 0L);
                if (count > 0) {
                    kinds.add(String.format(Locale.ROOT, "%,d %s", count, kind.description()));
                }
            }
            text.append(String.format(Locale.ROOT, "skipped %,d bad input%s: %s%n", bad, bad == 1 ? "" : "s", kinds));
        } else {
            text.append("no bad input\n");
        }
        return text.toString();
    }
}
