package io.streamtrain.monitor;

import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.streamtrain.trainer.TrainingMeters;
import java.nio.file.Path;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;

/**
 * The metric names of the trainer's /metrics, read off a real PrometheusMeterRegistry with the binders the trainer binds
 * (its {@link TrainingMeters}, the JVM binders, and {@link KafkaStreamsMetrics} of a Kafka Streams client, created but
 * not started: its thread and client metrics exist from construction).
 */
final class TrainerScrape {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", Pattern.MULTILINE);

    private TrainerScrape() {}

    static Set<String> metricNames(Path stateDirectory) {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new TrainingMeters(() -> 0L).bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        Properties properties = new Properties();
        properties.put(StreamsConfig.APPLICATION_ID_CONFIG, "streamtrain-trainer");
        properties.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "localhost:1"); // never contacted: the client is not started
        properties.put(StreamsConfig.STATE_DIR_CONFIG, stateDirectory.toString());
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream("streamtrain.token-batches").to("streamtrain.metrics");
        try (JvmGcMetrics gc = new JvmGcMetrics(); KafkaStreams streams = new KafkaStreams(builder.build(), properties);
             KafkaStreamsMetrics streamsMetrics = new KafkaStreamsMetrics(streams)) {
            gc.bindTo(registry);
            streamsMetrics.bindTo(registry);
            Set<String> names = new TreeSet<>();
            Matcher matcher = SAMPLE.matcher(registry.scrape());
            while (matcher.find()) {
                names.add(matcher.group(1));
            }
            return names;
        }
    }
}
