package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.dataParallel;
import static io.streamtrain.monitor.TrainingRecords.metrics;
import static io.streamtrain.monitor.TrainingRecords.sample;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.schemas.TrainingMetrics;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ConsoleViewTest {
    @Test
    void shouldPrintOnlyWhatIsNewWhenTheOutputIsNotATerminal() {
        RunStore store = new RunStore();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ConsoleView view = new ConsoleView(store, new PrintStream(bytes, true, StandardCharsets.UTF_8), false);
        for (long step = 1; step <= 10; step++) {
            store.putMetrics(metrics("run-a", step));
        }
        store.putSample(sample("run-a", 10, "Wherefore art thou?"));
        view.refresh();
        view.refresh(); // nothing new: nothing printed
        store.putMetrics(metrics("run-b", 1));
        view.refresh();
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(3, lines.length, String.join("\n", lines));
        assertTrue(lines[0].startsWith("run-a step 10  loss "), lines[0]);
        assertTrue(lines[1].contains("sample: First Citizen:|Wherefore art thou?"), lines[1]);
        assertTrue(lines[2].startsWith("run-b step 1 "), lines[2]);
        assertTrue(!bytes.toString(StandardCharsets.UTF_8).contains("\033"), "no escape codes off a terminal");
    }

    @Test
    void shouldPrintEachSpikeOnceAndCountThemInTheTable() {
        RunStore store = new RunStore();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ConsoleView view = new ConsoleView(store, new PrintStream(bytes, true, StandardCharsets.UTF_8), false);
        for (long step = 1; step <= 30; step++) {
            TrainingMetrics m = metrics("run-a", step);
            store.putMetrics(step == 23 ? TrainingMetrics.newBuilder(m).setGradientNorm(270)
                .setSpike("gradient norm 270.0 is 200.0x its recent average 1.35").build() : m);
        }
        view.refresh();
        view.refresh();
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(1, printed.lines().filter(line -> line.contains("spike")).count(), printed);
        assertTrue(printed.contains("run-a step 23 spike: gradient norm 270.0 is 200.0x its recent average 1.35"), printed);
        String table = view.render();
        assertTrue(table.contains("spikes 1"), table);
        assertTrue(table.contains("latest spike: run run-a, step 23: gradient norm 270.0"), table);
    }

    @Test
    void shouldPrintTheRanksRowsThroughputPerRankAndAllReduceTimeOfADataParallelStep() {
        RunStore store = new RunStore();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ConsoleView view = new ConsoleView(store, new PrintStream(bytes, true, StandardCharsets.UTF_8), false);
        TrainingMetrics step = dataParallel(metrics("pair", 4), 2, 8, 1.25);
        store.putMetrics(step);
        store.putMetrics(metrics("solo", 4));
        view.refresh();
        String perRank = String.format("%.0f", step.getTokensPerSecond() / 2);
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(printed.lines().anyMatch(line -> line.startsWith("pair step 4 ")
            && line.endsWith(" | 2 ranks, 8 rows, " + perRank + " tokens/s per rank, all-reduce 1.3 ms")), printed);
        assertTrue(printed.lines().filter(line -> line.startsWith("solo step 4 ")).noneMatch(line -> line.contains("ranks")), printed);
        assertTrue(view.render().contains("2 ranks, 8 rows, " + perRank + " tokens/s per rank"), view.render());
    }

    @Test
    void shouldRedrawTheWholeTableInPlaceOnATerminal() {
        RunStore store = new RunStore();
        store.putMetrics(metrics("run-a", 3));
        store.addDeadLetter(new RunStore.DeadLetter(TrainingRecords.START, 0, 0, "streamtrain.token-batches-0@3", "bad ids"));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        new ConsoleView(store, new PrintStream(bytes, true, StandardCharsets.UTF_8), true).refresh();
        String screen = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(screen.startsWith("\033[H\033[2J"), "clears the screen first");
        assertTrue(screen.contains("dead letters 1"), screen);
        assertTrue(screen.lines().anyMatch(line -> line.startsWith("run-a") && line.contains(" 3 ")), screen);
    }
}
