package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.dataParallel;
import static io.streamtrain.monitor.TrainingRecords.evaluated;
import static io.streamtrain.monitor.TrainingRecords.metrics;
import static io.streamtrain.monitor.TrainingRecords.sample;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The dashboard in a real browser (Debian's headless Chromium over the DevTools protocol) against a real broker (one
 * for the class) holding the records of two runs, one of them replayed and partly re-emitted: each chart draws exactly
 * one point per (run, step), the latest sample is on the page, the dead letter and the lag are shown, a new record is
 * drawn live; the legend chooses the runs shown, the smoothing slider smooths the loss, the latest-step tile names its
 * run, the gradient norm is on a log scale, and the spikes the trainer reported are counted, listed and marked; a
 * data-parallel run's ranks, rows, throughput per rank and all-reduce time are shown while it is, and only then.
 */
class DashboardBrowserTest {
    private static final String[] CHARTS = {"chart-loss", "chart-perplexity", "chart-accuracy", "chart-tokens-per-s",
        "chart-learning-rate", "chart-gradient-norm", "chart-loss-vs-time"};
    private static final String TRAINER_GROUP = "streamtrain-trainer-under-test";
    private static final long PAGE_TIMEOUT_MILLIS = 60_000;
    private static final String NO_CHROMIUM =
        "skipped: no Chromium at /usr/bin/chromium; install it with: apt-get update && apt-get install -y chromium";

    private static TestKafka kafka;

    @TempDir
    Path runDirectory;

    @BeforeAll
    static void startKafka() {
        if (Files.isExecutable(HeadlessChromium.EXECUTABLE)) {
            kafka = TestKafka.start();
        }
    }

    @AfterAll
    static void stopKafka() {
        if (kafka != null) {
            kafka.close();
        }
    }

    @Test
    void shouldDrawOnePointPerRunAndStepAndTheLatestSampleWhenTheBrowserLoadsTheDashboard() throws Exception {
        assumeTrue(Files.isExecutable(HeadlessChromium.EXECUTABLE), NO_CHROMIUM);
        TrainerTopics topics = new TrainerTopics(kafka);
        topics.createTopics(Topics.METRICS, Topics.SAMPLES, Topics.DEAD_LETTERS, Topics.TOKEN_BATCHES);
        List<TrainingMetrics> records = new ArrayList<>();
        for (int pass = 0; pass < 2; pass++) { // run-a, then the same records again (a replay of the topic)
            for (long step = 1; step <= 30; step++) { // held-out evaluations at steps 10, 20 and 30, best at 20
                records.add(step % 10 == 0 ? evaluated(metrics("run-a", step), step == 20 ? 2.5 : 2.7)
                    : metrics("run-a", step));
            }
        }
        for (long step = 25; step <= 30; step++) { // a restarted trainer re-emits steps 25..30 with other values
            TrainingMetrics again = metrics("run-a", step, 2.0 + step / 1000.0);
            records.add(step == 30 ? evaluated(again, 2.6) : again);
        }
        for (long step = 1; step <= 12; step++) {
            records.add(metrics("run-b", step, 4.6 - step * 0.05));
        }
        List<TextSample> samples = List.of(sample("run-a", 10, "Thou art a villain, sir."),
            sample("run-b", 10, "What say you to this?"), sample("run-a", 30, "I will not be gone until the morn."));
        topics.send(records, samples);
        topics.sendDeadLetter("token id 70000 is not below the vocabulary size 257", 7);
        topics.sendBytes(Topics.TOKEN_BATCHES, 10);
        try (Admin admin = kafka.admin()) { // the trainer's group has consumed 4 of the 10 batches: lag 6
            admin.alterConsumerGroupOffsets(TRAINER_GROUP,
                Map.of(new TopicPartition(Topics.TOKEN_BATCHES, 0), new OffsetAndMetadata(4))).all().get();
        }

        Path target = Path.of("target");
        try (Monitor monitor = Monitor.start(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(),
                 MonitorConfig.HTTP_PORT, 0, MonitorConfig.RUN_DIRECTORY, runDirectory.toString(),
                 MonitorConfig.TRAINER_APPLICATION_ID, TRAINER_GROUP, MonitorConfig.LAG_POLL_INTERVAL_MS, 200L));
             HeadlessChromium chromium = HeadlessChromium.start(target.resolve("chromium-dashboard-test.log"))) {
            chromium.navigate(monitor.url());
            waitForPoints(chromium, 30, 12);
            assertEquals(2.030, chromium.evaluate("streamtrainDashboard.state.metrics.get('run-a').get(30).loss").asDouble(), 1e-12,
                "the re-emitted value of a step replaces the first one");
            JsonNode page = waitFor(chromium, "({samples: document.getElementById('samples').textContent,"
                + " firstSample: document.querySelector('#samples .sample .generated').textContent,"
                + " deadLetters: document.getElementById('dead-letters').textContent,"
                + " lag: document.getElementById('lag').textContent,"
                + " recentRows: document.querySelectorAll('#recent-steps tbody tr').length,"
                + " bestHeldOut: document.getElementById('best-held-out').textContent,"
                + " heldOut: streamtrainDashboard.pointCounts()['chart-loss'].heldOutByRun})",
                value -> value.path("lag").asText().equals("6") && value.path("deadLetters").asText().equals("1"));
            assertEquals("generated: I will not be gone until the morn.", page.path("firstSample").asText(),
                "the latest sample comes first");
            assertTrue(page.path("samples").asText().contains("What say you to this?"));
            assertEquals(15, page.path("recentRows").asInt());
            assertEquals(3, page.path("heldOut").path("run-a").asInt(), "train and held-out loss on one chart: " + page);
            assertEquals(0, page.path("heldOut").path("run-b").asInt(), "run-b was never evaluated");
            assertEquals("2.5000 @ 20", page.path("bestHeldOut").asText(), "the best held-out loss and its step");

            long sentAt = System.nanoTime();
            topics.send(List.of(metrics("run-b", 13, 3.9), metrics("run-b", 14, 3.85), metrics("run-b", 15, 3.8)), List.of());
            waitForPoints(chromium, 30, 15);
            System.out.printf("dashboard drew new points %.0f ms after they were sent%n", (System.nanoTime() - sentAt) / 1e6);
            chromium.screenshot(target.resolve("dashboard-screenshot.png"));
        }
        // Closing the monitor wrote the run directory's files one last time: one entry per (run, step).
        JsonNode history = new ObjectMapper().readTree(runDirectory.resolve(RunFiles.METRICS_HISTORY).toFile());
        assertEquals(45, history.size());
        assertEquals(2.5, history.get(19).get("eval_loss").asDouble(), 0, "held-out results reach the JSON file");
        assertEquals(3, new ObjectMapper().readTree(runDirectory.resolve(RunFiles.TEXT_SAMPLES).toFile()).size());
        assertTrue(Files.size(runDirectory.resolve("charts").resolve("loss.png")) > 0);
    }

    @Test
    void shouldShowOnlyTheTickedRunsSmoothTheLossAsToldNameTheRunOfTheLatestStepAndListItsSpikes() throws Exception {
        assumeTrue(Files.isExecutable(HeadlessChromium.EXECUTABLE), NO_CHROMIUM);
        String metricsTopic = "choose.metrics";
        String samplesTopic = "choose.samples";
        new TrainerTopics(kafka).createTopics(metricsTopic, samplesTopic, "choose.dead-letters");
        List<TrainingMetrics> records = new ArrayList<>();
        for (long step = 1; step <= 40; step++) {
            records.add(metrics("old-run", step)); // steps of 250 ms from START
            // a later run with fewer steps: its step 20 is the latest step trained, though old-run reached 40
            records.add(TrainingMetrics.newBuilder(metrics("new-run", Math.min(step, 20)))
                .setTime(TrainingRecords.START.plusSeconds(3600).plusMillis(Math.min(step, 20) * 250))
                .setSpike(step == 15 ? "gradient norm 270.0 is 200.0x its recent average 1.35" : null).build());
        }
        new TrainerTopics(kafka).send(metricsTopic, samplesTopic, records,
            List.of(sample("old-run", 40, "old words"), sample("new-run", 20, "new words")));

        try (Monitor monitor = monitorOf("choose");
             HeadlessChromium chromium = HeadlessChromium.start(Path.of("target", "chromium-dashboard-choose-test.log"))) {
            chromium.navigate(monitor.url());
            String page = "({counts: streamtrainDashboard.pointCounts(),"
                + " latest: document.getElementById('latest-step').textContent,"
                + " latestRun: document.getElementById('latest-step-run').textContent,"
                + " runCount: document.getElementById('run-count').textContent,"
                + " recentRuns: [...document.querySelectorAll('#recent-steps tbody tr td:first-child')].map(c => c.textContent),"
                + " sampleRuns: [...document.querySelectorAll('#samples .sample')].map(s => s.dataset.run),"
                + " spikes: document.getElementById('spikes').textContent,"
                + " spikeRows: [...document.querySelectorAll('#spike-table tbody tr')].map(r => r.textContent),"
                + " loss: streamtrainDashboard.chartData('chart-loss')})";
            JsonNode both = waitFor(chromium, "window.streamtrainDashboard ? " + page + " : null",
                value -> value.path("counts").path("chart-loss").path("byRun").path("old-run").asInt() == 40
                    && value.path("counts").path("chart-loss").path("byRun").path("new-run").asInt() == 20);
            assertEquals("log", both.path("counts").path("chart-gradient-norm").path("scale").asText(),
                "the gradient norm on a log scale");
            assertEquals("20", both.path("latest").asText(), "the latest step is the one trained last: " + both);
            assertEquals("new-run", both.path("latestRun").asText(), "the tile names the run of the latest step");
            assertEquals("2", both.path("runCount").asText());
            assertEquals("1", both.path("spikes").asText(), "the spike the trainer reported: " + both);
            assertEquals("new-run15gradient norm 270.0 is 200.0x its recent average 1.35", both.path("spikeRows").path(0).asText());
            assertEquals(1, both.path("counts").path("chart-gradient-norm").path("spikesByRun").path("new-run").asInt(),
                "a red dot on the gradient-norm chart");
            assertTrue(smoothedDiffersFromRaw(both.path("loss")), "smoothed by default (weight 0.9)");

            // Untick old-run in the legend: it leaves the charts, the recent steps and the samples.
            chromium.evaluate("document.querySelector('#legend input[data-run=\"old-run\"]').click()");
            JsonNode newOnly = waitFor(chromium, page,
                value -> value.path("counts").path("chart-loss").path("byRun").size() == 1);
            assertEquals(20, newOnly.path("counts").path("chart-loss").path("byRun").path("new-run").asInt(), newOnly.toString());
            assertEquals("1 of 2", newOnly.path("runCount").asText());
            assertTrue(newOnly.path("recentRuns").size() > 0, newOnly.toString());
            newOnly.path("recentRuns").forEach(run -> assertEquals("new-run", run.asText(), "recent steps: " + newOnly));
            newOnly.path("sampleRuns").forEach(run -> assertEquals("new-run", run.asText(), "samples: " + newOnly));

            // Untick new-run and tick old-run: the tile now names old-run's latest step.
            chromium.evaluate("document.querySelector('#legend input[data-run=\"new-run\"]').click();"
                + " document.querySelector('#legend input[data-run=\"old-run\"]').click()");
            JsonNode oldOnly = waitFor(chromium, page, value -> value.path("latestRun").asText().equals("old-run"));
            assertEquals("40", oldOnly.path("latest").asText());
            assertEquals("0", oldOnly.path("spikes").asText(), "the spikes of the runs shown");

            // Smoothing 0 through the slider: the smoothed line is the raw one.
            chromium.evaluate("(s => { s.value = '0'; s.dispatchEvent(new Event('input')); })(document.getElementById('smoothing'))");
            JsonNode unsmoothed = waitFor(chromium, page, value -> !smoothedDiffersFromRaw(value.path("loss")));
            assertEquals(40, unsmoothed.path("counts").path("chart-loss").path("smoothedByRun").path("old-run").asInt());

            // A reload keeps the choice of runs and the smoothing.
            chromium.navigate(monitor.url());
            JsonNode reloaded = waitFor(chromium, "window.streamtrainDashboard && document.body.dataset.updates ? ({runCount:"
                + " document.getElementById('run-count').textContent, smoothing: document.getElementById('smoothing').value}) : null",
                value -> value.path("runCount").asText().equals("1 of 2"));
            assertEquals(0, reloaded.path("smoothing").asDouble(), 0, reloaded.toString());
        }
    }

    @Test
    void shouldShowTheRanksThroughputPerRankAndAllReduceTimeOnlyWhileADataParallelRunIsShown() throws Exception {
        assumeTrue(Files.isExecutable(HeadlessChromium.EXECUTABLE), NO_CHROMIUM);
        String metricsTopic = "ranks.metrics";
        String samplesTopic = "ranks.samples";
        new TrainerTopics(kafka).createTopics(metricsTopic, samplesTopic, "ranks.dead-letters");
        List<TrainingMetrics> records = new ArrayList<>();
        for (long step = 1; step <= 12; step++) {
            records.add(metrics("solo", step));
            records.add(dataParallel(metrics("pair", step), 2, 8, 1.0 + step / 4.0)); // all-reduce 4.00 ms at step 12
        }
        new TrainerTopics(kafka).send(metricsTopic, samplesTopic, records, List.of());

        try (Monitor monitor = monitorOf("ranks");
             HeadlessChromium chromium = HeadlessChromium.start(Path.of("target", "chromium-dashboard-ranks-test.log"))) {
            chromium.navigate(monitor.url());
            String page = "({counts: streamtrainDashboard.pointCounts(),"
                + " shown: [...document.querySelectorAll('.data-parallel-only')].map(e => getComputedStyle(e).display !== 'none'),"
                + " ranks: document.getElementById('ranks').textContent,"
                + " rows: document.getElementById('ranks-rows').textContent,"
                + " allReduce: document.getElementById('all-reduce').textContent,"
                + " perRank: streamtrainDashboard.chartData('chart-tokens-per-s-per-rank'),"
                + " rankCells: [...document.querySelectorAll('#recent-steps tbody tr')].map(r => r.firstChild.textContent + ':'"
                + " + r.lastChild.textContent)})";
            JsonNode both = waitFor(chromium, "window.streamtrainDashboard ? " + page + " : null",
                value -> value.path("counts").path("chart-loss").path("byRun").path("pair").asInt() == 12
                    && value.path("counts").path("chart-loss").path("byRun").path("solo").asInt() == 12);
            both.path("shown").forEach(shown -> assertTrue(shown.asBoolean(), "tiles, charts and column of the ranks shown: " + both));
            assertEquals("2", both.path("ranks").asText(), both.toString());
            assertEquals("8 rows per step", both.path("rows").asText());
            assertEquals("4.0 ms", both.path("allReduce").asText(), "the latest data-parallel step's all-reduce time");
            JsonNode perRank = both.path("counts").path("chart-tokens-per-s-per-rank").path("byRun");
            assertEquals(12, perRank.path("pair").asInt(), both.toString());
            assertEquals(0, perRank.path("solo").asInt(), "one model has no per-rank throughput: " + both);
            assertEquals(12, both.path("counts").path("chart-all-reduce").path("byRun").path("pair").asInt(), both.toString());
            assertEquals(metrics("pair", 12).getTokensPerSecond() / 2, largestValue(both.path("perRank")), 1e-9,
                "tokens/s over the ranks (step 12's the largest): " + both.path("perRank"));
            both.path("rankCells").forEach(cell -> assertTrue(cell.asText().startsWith("pair:")
                ? cell.asText().matches("pair:2 / 8 / \\d+\\.\\d") : cell.asText().equals("solo:–"), "recent steps: " + both));

            // Untick the data-parallel run: a page of one model has no ranks tiles, charts or column.
            chromium.evaluate("document.querySelector('#legend input[data-run=\"pair\"]').click()");
            JsonNode solo = waitFor(chromium, page, value -> value.path("counts").path("chart-loss").path("byRun").size() == 1);
            solo.path("shown").forEach(shown -> assertTrue(!shown.asBoolean(), "nothing of the ranks shown for one model: " + solo));
            assertTrue(solo.path("shown").size() >= 5, "two tiles, two charts, the column: " + solo);
        }
    }

    /** A monitor of the topics {@code <prefix>.metrics}, {@code .samples} and {@code .dead-letters}, on a free port. */
    private static Monitor monitorOf(String prefix) throws Exception {
        return Monitor.start(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(), MonitorConfig.HTTP_PORT, 0,
            MonitorConfig.METRICS_TOPIC, prefix + ".metrics", MonitorConfig.SAMPLES_TOPIC, prefix + ".samples",
            MonitorConfig.DEAD_LETTERS_TOPIC, prefix + ".dead-letters"));
    }

    /** The largest value a chart draws (data: x, then the runs' series). */
    private static double largestValue(JsonNode data) {
        double largest = Double.NaN;
        for (int s = 1; s < data.size(); s++) {
            for (JsonNode value : data.get(s)) {
                if (!value.isNull() && !(value.asDouble() <= largest)) {
                    largest = value.asDouble();
                }
            }
        }
        return largest;
    }

    /** Whether the loss chart's data (x, raw, smoothed, held-out per run) has a smoothed value unlike its raw one. */
    private static boolean smoothedDiffersFromRaw(JsonNode data) {
        JsonNode raw = data.path(1);
        JsonNode smoothed = data.path(2);
        for (int i = 0; i < raw.size(); i++) {
            if (!raw.get(i).isNull() && Math.abs(raw.get(i).asDouble() - smoothed.get(i).asDouble()) > 1e-9) {
                return true;
            }
        }
        return false;
    }

    /** Waits until every chart has drawn exactly this many points of run-a and of run-b, and so has the smoothed loss. */
    private static void waitForPoints(HeadlessChromium chromium, int runA, int runB) throws Exception {
        waitFor(chromium, "window.streamtrainDashboard ? streamtrainDashboard.pointCounts() : null", counts -> {
            for (String chart : CHARTS) {
                JsonNode byRun = counts.path(chart).path("byRun");
                if (byRun.size() != 2 || byRun.path("run-a").asInt() != runA || byRun.path("run-b").asInt() != runB) {
                    return false;
                }
            }
            JsonNode smoothed = counts.path("chart-loss").path("smoothedByRun"); // the EMA line ends where its run ends
            return smoothed.path("run-a").asInt() == runA && smoothed.path("run-b").asInt() == runB;
        });
    }

    private static JsonNode waitFor(HeadlessChromium chromium, String expression, Predicate<JsonNode> done) throws Exception {
        long deadline = System.currentTimeMillis() + PAGE_TIMEOUT_MILLIS;
        JsonNode value = null;
        while (System.currentTimeMillis() < deadline) {
            value = chromium.evaluate(expression);
            if (value != null && !value.isNull() && !value.isMissingNode() && done.test(value)) {
                return value;
            }
            Thread.sleep(100);
        }
        fail("the page did not show what was expected within " + PAGE_TIMEOUT_MILLIS + " ms; last value of `" + expression + "`: " + value);
        return value;
    }
}
