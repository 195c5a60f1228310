package io.streamtrain.schemas;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/** One fully populated record of each kind, for the serde tests. */
final class Records {
    static final Instant TIME = Instant.ofEpochMilli(1_790_000_000_123L);

    private Records() {}

    static TokenBatch tokenBatch() {
        int[] ids = {50256, 15496, 995, 0, 1, 2, 3, 50255};
        return TokenBatch.newBuilder()
                .setDataset("tinyshakespeare")
                .setSequence(42)
                .setTokenizer(TokenizerInfo.newBuilder().setName("gpt2").setVocabularySize(50257)
                        .setFingerprint("ab12cd").build())
                .setRows(2)
                .setSequenceLength(3)
                .setTokens(TokenIds.encode(ids, 0, ids.length))
                .setDocuments(List.of(new DocumentRef("doc-1", "corpus/a.txt", Map.of()),
                        new DocumentRef("doc-2", "corpus/b.jsonl:7", Map.of("lang", "en"))))
                .setCreatedAt(TIME)
                .build();
    }

    static TrainingMetrics trainingMetrics() {
        return TrainingMetrics.newBuilder()
                .setRunId("run-1").setStep(7).setTime(TIME)
                .setLoss(4.25).setAccuracy(0.125).setPerplexity(Math.exp(4.25)).setLearningRate(3e-4)
                .setGradientNorm(1.5).setTokens(4096).setTokensPerSecond(12345.5)
                .setWaitMillis(0.5).setComputeMillis(20.25).setEmitMillis(0.125)
                .setBackend("cpu").setDevice("8 threads").setSourceTopic(Topics.TOKEN_BATCHES)
                .setSourcePartition(3).setSourceOffset(1234567L)
                .setEvalLoss(4.5).setEvalAccuracy(0.1).setEvalPerplexity(Math.exp(4.5)).setEvalTokens(65536L)
                .build();
    }

    static TextSample textSample() {
        return TextSample.newBuilder()
                .setRunId("run-1").setStep(100).setTime(TIME)
                .setPrompt("ROMEO:").setGenerated(" But soft, what light \uD83C\uDF39 光").setActual(" Is the sun.")
                .setTemperature(0.8).setTopK(40).setMaxNewTokens(40).setSeed(1337)
                .build();
    }
}
