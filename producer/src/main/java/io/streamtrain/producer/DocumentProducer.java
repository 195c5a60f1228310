package io.streamtrain.producer;

import io.streamtrain.producer.internal.BadInputLog;
import io.streamtrain.producer.internal.BrokerCheck;
import io.streamtrain.producer.internal.DirectoryFollower;
import io.streamtrain.producer.internal.DocumentReader;
import io.streamtrain.producer.internal.HoldoutSplit;
import io.streamtrain.producer.internal.InputSource;
import io.streamtrain.producer.internal.Inputs;
import io.streamtrain.producer.internal.KafkaBatchPublisher;
import io.streamtrain.producer.internal.Mix64;
import io.streamtrain.producer.internal.PackedBatch;
import io.streamtrain.producer.internal.Progress;
import io.streamtrain.producer.internal.RowShuffler;
import io.streamtrain.producer.internal.TokenPacker;
import io.streamtrain.producer.internal.TokenizingPipeline;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.TokenizerInfo;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Documents in, TokenBatch records out: reads the inputs (files, directories recursively in path order, {@code -}
 * for standard input; plain text, JSON Lines, gzip of either), tokenizes on a bounded pool in input order, packs
 * the stream {@code EOT doc0 EOT doc1 ...} into (B, T+1) windows (see the packing rule below) and publishes each
 * window as a TokenBatch keyed by the dataset name with the idempotent producer (on a topic of P > 1 partitions,
 * batch k goes to partition k mod P as shard {@code <dataset>@<p>}, unless {@code spread=false}).
 *
 * <pre>{@code
 * ProducerSettings settings = ProducerSettings.builder()
 *         .bootstrapServers("localhost:9092").dataset("shakespeare").tokenizer("byte")
 *         .batchRows(4).sequenceLength(64).inputs(List.of("data/")).build();
 * ProducerSummary summary = DocumentProducer.run(settings, System.out); // throws ProducerException when fatal
 * }</pre>
 *
 * <p>Packing: batch k of a run holds stream tokens {@code [k*B*T, (k+1)*B*T]}; its row b holds the T+1 tokens
 * starting at {@code k*B*T + b*T}, so rows and batches share one boundary token and every token after the first is
 * a target exactly once. The tail that does not fill a batch carries over between files and {@code --follow}
 * ingestions; at the end of the run it is dropped, not padded, and counted in
 * {@link ProducerSummary#droppedTailTokens()}.
 *
 * <p>Errors: bad input (unreadable file, invalid JSON line, missing {@code text}, invalid UTF-8, empty document) is
 * printed with file and line, skipped and counted. Fatal errors throw {@link ProducerException} with what to do:
 * no input at all (nothing found, or no good document), unknown tokenizer, broker unreachable within
 * {@code broker.timeout.ms}, a batch Kafka refused.
 *
 * <p>Follow: with {@code follow=true}, after the inputs the run keeps watching the input directories until
 * {@link #stop()} (e.g. from a shutdown hook on Ctrl-C): it ingests each new file, in name order, once it stayed
 * unchanged for {@code follow.settle.ms}, and what is appended to a file already read (see {@link ProducerSettings}).
 */
public final class DocumentProducer implements Callable<ProducerSummary> {
    private final ProducerSettings settings;
    private final PrintStream out;
    private final InputStream stdin;
    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private final AtomicBoolean started = new AtomicBoolean();

    /** A producer that reads {@code -} from {@code System.in}; call {@link #call()} once. */
    public DocumentProducer(ProducerSettings settings, PrintStream out) {
        this(settings, out, System.in);
    }

    /** @param stdin what {@code -} reads (tests, or a CLI that pipes its own stream) */
    public DocumentProducer(ProducerSettings settings, PrintStream out, InputStream stdin) {
        this.settings = settings;
        this.out = out;
        this.stdin = stdin;
    }

    /** Runs to the end of the inputs (or, with follow, until stopped from another thread) and returns the summary. */
    public static ProducerSummary run(ProducerSettings settings, PrintStream out) {
        return new DocumentProducer(settings, out).call();
    }

    /** Asks a running {@link #call()} to finish: the current document completes, full batches are published. */
    public void stop() {
        stopRequested.countDown();
    }

    private boolean stopping() {
        return stopRequested.getCount() == 0;
    }

    /**
     * Runs the producer once.
     *
     * @throws ProducerException on a fatal error, with a message that says what to do
     */
    @Override
    public ProducerSummary call() {
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("a DocumentProducer runs once; create a new one");
        }
        long startNanos = System.nanoTime();
        Progress progress = new Progress(out, settings.progress(), -1, settings.progressInterval().toMillis());
        BadInputLog badInputs = new BadInputLog(progress::message);

        List<InputSource> sources = Inputs.expand(settings.inputs(), badInputs);
        List<Path> followed = settings.follow() ? directories(settings.inputs()) : List.of();
        if (!followed.isEmpty()) {
            sources = settledOrNamed(sources, followed, progress);
        }
        if (sources.isEmpty() && followed.isEmpty()) {
            throw new ProducerException(noInputMessage());
        }
        if (settings.follow() && followed.isEmpty()) {
            throw new ProducerException("follow watches directories, but none of the inputs " + settings.inputs()
                    + " is a directory; pass the directory where new files will appear");
        }
        progress.setTotalBytes(settings.follow() ? -1 : totalBytes(sources) * settings.epochs());
        Tokenizer tokenizer = openTokenizer(settings.tokenizerSpec());
        KafkaClientSettings clients = settings.kafkaClients();
        Map<String, Object> clientConfig = clients.clientConfig();
        String topic = settings.evaluationCorpus() ? settings.evalTopic() : settings.topic();
        boolean holdout = settings.holdout() > 0;
        BrokerCheck.Ready ready = BrokerCheck.ensureReady(clients, topic, settings.topicCreate(),
                settings.brokerTimeout());
        progress.message(ready.description());
        if (holdout) {
            progress.message(BrokerCheck.ensureReady(clients, settings.evalTopic(), settings.topicCreate(),
                    settings.brokerTimeout()).description());
        }
        // the training batches spread over the topic's partitions; an evaluation set stays in order in one
        int spread = settings.spread() && !settings.evaluationCorpus() ? ready.partitions() : 1;
        progress.message("producing dataset " + settings.dataset() + ": tokenizer " + tokenizer.name() + " (V="
                + tokenizer.vocabularySize() + "), B=" + settings.batchRows() + ", T=" + settings.sequenceLength()
                + ", " + settings.threads() + " tokenizer threads, " + sources.size()
                + (sources.size() == 1 ? " source" : " sources")
                + (followed.isEmpty() ? "" : ", then following " + followed)
                + (settings.evaluationCorpus() ? "; an evaluation corpus, to " + topic : "")
                + (holdout ? String.format(Locale.ROOT, "; holding out %.3g of it for evaluation, to %s",
                settings.holdout(), settings.evalTopic()) : "")
                + (settings.shuffleRows() > 0 ? "; shuffled through " + settings.shuffleRows() + " rows" : "")
                + (spread > 1 ? "; spread over " + spread + " partitions as shards " + settings.dataset() + "@0.."
                + (spread - 1) : ""));

        TokenizerInfo tokenizerInfo = new TokenizerInfo(tokenizer.name(), tokenizer.vocabularySize(),
                tokenizer.fingerprint());
        int recordBytes = 4 * settings.batchRows() * (settings.sequenceLength() + 1);
        long[] counts = {0, 0}; // documents, held-out tokens
        int[] epoch = {0};
        TrainingSide train;
        TokenPacker evalPacker = null;
        try (KafkaBatchPublisher publisher = new KafkaBatchPublisher(clientConfig, topic, settings.dataset(),
                tokenizerInfo, recordBytes, spread);
             KafkaBatchPublisher evalPublisher = holdout ? new KafkaBatchPublisher(clientConfig, settings.evalTopic(),
                     settings.dataset(), tokenizerInfo, recordBytes, 1) : null) {
            train = new TrainingSide(settings, tokenizer.endOfText(), publisher::publish);
            HoldoutSplit split = holdout
                    ? new HoldoutSplit(settings.holdout(), settings.holdoutBlockTokens(), settings.seed()) : null;
            TokenPacker heldOut = holdout ? new TokenPacker(settings.batchRows(), settings.sequenceLength(),
                    tokenizer.endOfText(), settings.evalFirstSequence(), evalPublisher::publish) : null;
            evalPacker = heldOut;
            try (TokenizingPipeline pipeline = new TokenizingPipeline(tokenizer, settings.threads(), encoded -> {
                PackedBatch.DocumentId id = new PackedBatch.DocumentId(encoded.document().id(),
                        encoded.document().source(), encoded.document().metadata());
                int[] ids = encoded.ids();
                if (split == null) {
                    train.packer.add(id, ids);
                } else {
                    split.split(ids, (from, to, held) -> {
                        if (!held) {
                            train.packer.add(id, ids, from, to, from == 0);
                        } else if (epoch[0] == 0) { // held-out text is sent once
                            heldOut.add(id, ids, from, to, from == 0);
                            counts[1] += to - from + (from == 0 ? 1 : 0);
                        }
                    });
                }
                counts[0]++;
                progress.setCounts(counts[0], train.packer.streamTokens(), train.batches());
            })) {
                DocumentReader reader = new DocumentReader(settings.inputFormat(), settings.maxDocumentBytes(),
                        settings.follow(), badInputs, progress::addBytes, this::stopping);
                Map<Path, DocumentReader.Result> read = new HashMap<>();
                for (; epoch[0] < settings.epochs(); epoch[0]++) {
                    if (epoch[0] > 0 && (holdout || train.shuffler != null)) {
                        train.startEpoch(epoch[0]);
                    }
                    for (InputSource source : sources) {
                        if (stopping()) {
                            break;
                        }
                        DocumentReader.Result result = reader.read(source, stdin, pipeline::accept);
                        if (!source.isStdin()) {
                            read.put(source.path(), result);
                        }
                    }
                    if (holdout || train.shuffler != null) {
                        // every document of this epoch is packed while epoch[0] still names it: the held-out
                        // split reads it on this thread when the pipeline hands a document on
                        pipeline.flush();
                    }
                }
                epoch[0] = 0; // what --follow reads is new input: its held-out part is sent
                if (!followed.isEmpty()) {
                    follow(followed, read, reader, pipeline, progress);
                }
                pipeline.flush();
            }
            train.drain();
            publisher.flush();
            if (evalPublisher != null) {
                evalPublisher.flush();
            }
        }
        progress.finish();

        ProducerSummary summary = new ProducerSummary(topic, settings.dataset(), counts[0],
                train.packer.streamTokens(), train.batches(), settings.firstSequence(), train.nextSequence(),
                progress.bytes(), train.droppedTokens(), badInputs.counts(), badInputs.examples(),
                !settings.follow() && stopping(),
                Duration.ofNanos(System.nanoTime() - startNanos),
                holdout ? settings.evalTopic() : null, counts[1], evalPacker == null ? 0 : evalPacker.batches());
        if (settings.progress() != ProgressMode.NONE) {
            out.print(summary.describe());
        }
        if (summary.documents() == 0 && !settings.follow() && !stopping()) {
            throw new ProducerException("no documents: every input was bad (" + summary.badInputTotal()
                    + " bad inputs, listed above); fix them or pass other inputs");
        }
        return summary;
    }

    /**
     * Where training batches are made: a packer of B rows straight to the topic, or, with {@code shuffle.rows}, a
     * packer of one row into a {@link RowShuffler} whose B-row batches go to the topic.
     */
    private static final class TrainingSide {
        final TokenPacker packer;
        final RowShuffler shuffler;
        private final long seed;
        private final int sequenceLength;

        TrainingSide(ProducerSettings settings, int endOfText, Consumer<PackedBatch> sink) {
            this.seed = settings.seed();
            this.sequenceLength = settings.sequenceLength();
            if (settings.shuffleRows() > 0) {
                shuffler = new RowShuffler(settings.batchRows(), sequenceLength, settings.shuffleRows(), seed,
                        settings.firstSequence(), sink);
                packer = new TokenPacker(1, sequenceLength, endOfText, 0, shuffler::accept);
            } else {
                shuffler = null;
                packer = new TokenPacker(settings.batchRows(), sequenceLength, endOfText, settings.firstSequence(),
                        sink);
            }
        }

        /** With shuffle: the epoch's windows start at an offset in [0, T) drawn from (seed, epoch). */
        void startEpoch(int epoch) {
            if (shuffler != null) {
                packer.skip(epochOffset(seed, epoch, sequenceLength));
            }
        }

        void drain() {
            if (shuffler != null) {
                shuffler.drain();
            }
        }

        long batches() {
            return shuffler != null ? shuffler.batches() : packer.batches();
        }

        long nextSequence() {
            return shuffler != null ? shuffler.nextSequence() : packer.nextSequence();
        }

        /** Stream tokens never published as a target: the packer's tail, and rows that did not fill a last batch. */
        long droppedTokens() {
            return packer.tailTokens() + (shuffler != null ? (long) shuffler.droppedRows() * sequenceLength : 0);
        }
    }

    /** The window offset of a shuffled epoch: SplitMix64 of (seed, epoch), in [0, T). */
    static int epochOffset(long seed, int epoch, int sequenceLength) {
        return (int) Long.remainderUnsigned(Mix64.mix(seed + (epoch + 1) * Mix64.GAMMA), sequenceLength);
    }

    /**
     * Ingests new files of {@code directories}, and what is appended to files already read, until stopped,
     * publishing what each poll brings.
     */
    private void follow(List<Path> directories, Map<Path, DocumentReader.Result> alreadyRead, DocumentReader reader,
                        TokenizingPipeline pipeline, Progress progress) {
        DirectoryFollower follower = new DirectoryFollower(directories, alreadyRead, settings.followSettle(),
                progress::message);
        pipeline.flush(); // what was read so far is published before waiting
        long pollMillis = settings.followPollInterval().toMillis();
        while (!awaitStop(pollMillis)) {
            for (DirectoryFollower.Ready next : follower.poll()) {
                if (stopping()) {
                    break;
                }
                InputSource file = next.file();
                if (next.appended()) {
                    progress.message("appended to " + file.name() + ": reading on from byte " + next.before().endByte());
                    follower.read(file.path(), reader.readFrom(file, next.before(), pipeline::accept));
                } else {
                    progress.message("new file " + file.name());
                    follower.read(file.path(), reader.read(file, stdin, pipeline::accept));
                }
            }
            pipeline.flush();
            progress.tick();
        }
    }

    /** True when stopped, false after {@code millis} without a stop. */
    private boolean awaitStop(long millis) {
        try {
            return stopRequested.await(millis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    /**
     * With follow, the sources less those found under a followed directory that changed within the settle time: they
     * are still being written, and the watch reads them once they settle.
     */
    private List<InputSource> settledOrNamed(List<InputSource> sources, List<Path> followed, Progress progress) {
        long settleMillis = settings.followSettle().toMillis();
        List<InputSource> settled = new ArrayList<>();
        for (InputSource source : sources) {
            if (!source.isStdin() && followed.stream().anyMatch(source.path()::startsWith)
                    && !settings.inputs().contains(source.path().toString())) {
                try {
                    long age = System.currentTimeMillis() - Files.getLastModifiedTime(source.path()).toMillis();
                    if (age < settleMillis) {
                        progress.message(source.name() + " changed " + age + " ms ago: read once it settles ("
                                + ProducerSettings.FOLLOW_SETTLE_MS + "=" + settleMillis + ")");
                        continue;
                    }
                } catch (java.io.IOException e) {
                    // unreadable: the read reports it
                }
            }
            settled.add(source);
        }
        return settled;
    }

    private String noInputMessage() {
        List<String> inputs = settings.inputs();
        if (inputs.isEmpty()) {
            return "no input: pass files, directories or - for standard input (--input PATH...)";
        }
        return "no input: " + inputs + " holds no readable file (see the lines above); pass files, directories "
                + "with files in them, or - for standard input";
    }

    private static List<Path> directories(List<String> inputs) {
        List<Path> directories = new ArrayList<>();
        for (String input : inputs) {
            if (!input.equals(Inputs.STDIN_ARGUMENT) && Files.isDirectory(Path.of(input))) {
                directories.add(Path.of(input));
            }
        }
        return directories;
    }

    private static long totalBytes(List<InputSource> sources) {
        long total = 0;
        for (InputSource source : sources) {
            if (source.sizeBytes() < 0) {
                return -1;
            }
            total += source.sizeBytes();
        }
        return total;
    }

    private static Tokenizer openTokenizer(String spec) {
        try {
            return Tokenizers.open(spec);
        } catch (RuntimeException e) {
            throw new ProducerException("cannot open tokenizer '" + spec + "': " + e.getMessage(), e);
        }
    }
}
