package io.streamtrain.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The committed Grafana dashboard and Prometheus configuration against the metric names the trainer really exports. */
class GrafanaDashboardTest {
    /** A metric name in PromQL: an identifier not followed by '(' (that is a function). */
    private static final Pattern METRIC = Pattern.compile("\\b([a-zA-Z_:][a-zA-Z0-9_:]*)\\b(?!\\s*\\()");
    private static final Path MONITORING = Path.of(System.getProperty("streamtrain.repository", "..")).resolve("monitoring");

    private static Set<String> exported;

    @BeforeAll
    static void scrapeTheTrainersMeters(@TempDir Path stateDirectory) {
        exported = TrainerScrape.metricNames(stateDirectory);
        assertTrue(exported.contains("streamtrain_training_loss"), "the scrape carries the trainer's meters: " + exported);
    }

    @Test
    void shouldNameOnlyMetricsTheTrainerExportsWhenTheDashboardQueriesPrometheus() throws Exception {
        JsonNode dashboard = new ObjectMapper().readTree(MONITORING.resolve("grafana/dashboards/streamtrain.json").toFile());
        assertEquals("streamtrain", dashboard.path("uid").asText());
        List<String> unknown = new ArrayList<>();
        Set<String> used = new TreeSet<>();
        int queries = 0;
        for (JsonNode panel : dashboard.path("panels")) {
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            assertFalse(panel.path("targets").isEmpty(), "panel '" + panel.path("title").asText() + "' has a query");
            assertEquals("prometheus", panel.path("datasource").path("uid").asText(), panel.path("title").asText());
            for (JsonNode target : panel.path("targets")) {
                String expression = target.path("expr").asText();
                Set<String> names = metricNames(expression);
                assertFalse(names.isEmpty(), "panel '" + panel.path("title").asText() + "' queries no metric: " + expression);
                for (String name : names) {
                    used.add(name);
                    if (!exported.contains(name)) {
                        unknown.add(name + " (panel '" + panel.path("title").asText() + "')");
                    }
                }
                queries++;
            }
        }
        assertTrue(queries >= 20, "the dashboard has its queries: " + queries);
        assertTrue(unknown.isEmpty(), "the dashboard queries metrics the trainer does not export: " + unknown);
        for (String trainerMetric : List.of("streamtrain_training_loss", "streamtrain_training_accuracy", "streamtrain_training_tokens_total",
                "streamtrain_training_steps_total", "streamtrain_training_step_time_seconds_sum", "streamtrain_dead_letters_total",
                "streamtrain_skipped_replays_total", "streamtrain_device_memory_allocated_bytes")) {
            assertTrue(used.contains(trainerMetric), "the dashboard shows " + trainerMetric);
        }
    }

    @Test
    void shouldProvisionThePrometheusDatasourceAndScrapeTheTrainersMetricsEndpoint() throws Exception {
        String datasource = Files.readString(MONITORING.resolve("grafana/provisioning/datasources/prometheus.yml"));
        assertTrue(datasource.contains("uid: prometheus") && datasource.contains("url: http://prometheus:9090"), datasource);
        String dashboards = Files.readString(MONITORING.resolve("grafana/provisioning/dashboards/streamtrain.yml"));
        assertTrue(dashboards.contains("path: /var/lib/grafana/dashboards"), dashboards);
        String prometheus = Files.readString(MONITORING.resolve("prometheus.yml"));
        assertTrue(prometheus.contains("metrics_path: /metrics") && prometheus.contains("trainer:9404"), prometheus);
    }

    @Test
    void shouldFindTheMetricNamesOfAQuery() {
        assertEquals(Set.of("a_seconds_sum", "a_seconds_count"),
            metricNames("rate(a_seconds_sum[1m]) / rate(a_seconds_count[1m])"));
        assertEquals(Set.of("streamtrain_dead_letters_total"),
            metricNames("sum by (reason) (increase(streamtrain_dead_letters_total{reason=\"id-out-of-range\"}[5m]))"));
    }

    /** Metric names of a PromQL expression: label matchers, ranges and grouping clauses removed, functions skipped. */
    static Set<String> metricNames(String expression) {
        String bare = expression.replaceAll("\\{[^}]*}", " ").replaceAll("\\[[^]]*]", " ")
            .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " ");
        Set<String> names = new TreeSet<>();
        Matcher matcher = METRIC.matcher(bare);
        while (matcher.find()) {
            names.add(matcher.group(1));
        }
        return names;
    }
}
