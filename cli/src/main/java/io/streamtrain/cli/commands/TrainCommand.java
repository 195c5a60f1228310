package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.cli.options.SharedFlags;
import io.streamtrain.cli.support.ShutdownHooks;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.model.HuggingFaceGpt2;
import io.streamtrain.trainer.Trainer;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.world.RankTrainer;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code streamtrain train}: the trainer, a Kafka Streams application, until {@code --max-steps} or Ctrl-C (final
 * checkpoint either way). Its settings are the {@link TrainerConfig} keys: flags for the common ones, every key by
 * {@code -c KEY=VALUE}, {@code --config FILE} or {@code STREAMTRAIN_<KEY>} ({@link CommandSettings}).
 */
@Command(name = "train", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Train from the token-batch topic (Kafka Streams), one step per batch, until --max-steps or Ctrl-C.",
                "",
                "The model stays resident on the GPU or CPU; metrics and samples go to their topics, checkpoints to the "
                        + "run directory (a final one on stop). A restart resumes from the newest checkpoint and its Kafka "
                        + "offsets. Every trainer setting is reachable with -c KEY=VALUE (see --list-config); keys "
                        + "starting with streams. go to Kafka Streams."})
public final class TrainCommand extends ConfiguredCommand {
    static final CommandSettings SETTINGS = CommandSettings.of(TrainerConfig.CONFIG)
            .passThrough(TrainerConfig.STREAMS_PREFIX)
            .with(SharedFlags::kafka)
            .with(SharedFlags::pipeline)
            .with(SharedFlags::backend)
            .flag("--replicas", TrainerConfig.REPLICAS, "N")
            .flag("--world-size", TrainerConfig.WORLD_SIZE, "W")
            .flag("--rank", TrainerConfig.WORLD_RANK, "R")
            .flag("--topic", TrainerConfig.TOKEN_BATCHES_TOPIC, "TOPIC")
            .flag("--max-steps", TrainerConfig.MAX_STEPS, "N")
            .flag("--run-dir", TrainerConfig.RUN_DIR, "DIR")
            .flag("--init-from", TrainerConfig.INIT_FROM, "DIR")
            .flag("--application-id", TrainerConfig.APPLICATION_ID, "ID")
            .flag("--metrics-port", TrainerConfig.METRICS_PORT, "PORT")
            .flag("--metrics-host", TrainerConfig.METRICS_HOST, "ADDRESS")
            .flag("--sample-every", TrainerConfig.SAMPLE_EVERY_STEPS, "N")
            .flag("--eval-every", TrainerConfig.EVAL_EVERY_STEPS, "N")
            .flag("--dropout", TrainerConfig.DROPOUT, "P");

    public TrainCommand() {
        super(SETTINGS);
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws Exception {
        PrintStream console = WriterOutputStream.printStream(spec.commandLine().getOut(), "");
        TrainerConfig config = config(settings);
        if (config.worldSize() > 1) {
            return RankTrainer.runToEnd(config, console); // one rank of a world of processes
        }
        Trainer trainer = new Trainer(config, console);
        AtomicBoolean interrupted = new AtomicBoolean();
        Thread stopOnCtrlC = new Thread(() -> {
            interrupted.set(true);
            console.println("interrupted: stopping (final checkpoint) ...");
            trainer.stop();
        }, "streamtrain-train-stop");
        Runtime.getRuntime().addShutdownHook(stopOnCtrlC);
        try {
            trainer.start();
            long target = config.maxSteps() > 0 ? config.maxSteps() : Long.MAX_VALUE;
            while (!trainer.awaitSteps(target, Duration.ofMinutes(1))) {
                // until max-steps, Ctrl-C (the hook stops the trainer) or a failure (awaitSteps throws)
            }
        } catch (IllegalStateException e) {
            if (interrupted.get()) {
                return 130; // Ctrl-C: the hook stops the trainer
            }
            throw e;
        } finally {
            trainer.stop();
            ShutdownHooks.remove(stopOnCtrlC);
        }
        return 0;
    }

    /** The trainer's configuration from the settings this command was given: what {@link #call()} trains with. */
    static TrainerConfig config(ResolvedSettings settings) {
        String initFrom = (String) settings.value(TrainerConfig.INIT_FROM);
        if (initFrom == null || initFrom.isEmpty()) {
            SharedFlags.derivePipelineShape(settings);
        } else {
            // the model's shape comes from the directory: T must fit its context, not the preset's
            int contextLength;
            try {
                contextLength = HuggingFaceGpt2.readConfig(Path.of(initFrom)).contextLength();
            } catch (IOException e) {
                throw settings.usageError(settings.describe(TrainerConfig.INIT_FROM) + ": " + e.getMessage());
            }
            SharedFlags.derivePipelineShape(settings, contextLength, initFrom);
        }
        return settings.build(TrainerConfig::new);
    }
}
