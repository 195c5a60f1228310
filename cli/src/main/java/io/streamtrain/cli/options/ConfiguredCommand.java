package io.streamtrain.cli.options;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/**
 * A command whose flags come from a {@link CommandSettings}: it resolves them, answers {@code --list-config}, and
 * runs with what it was given. A subclass passes its settings to the constructor and is annotated
 * {@code @Command(modelTransformer = CommandSettings.Flags.class)}.
 */
public abstract class ConfiguredCommand implements Callable<Integer>, CommandSettings.Configurable {
    private final CommandSettings settings;

    @Spec
    protected CommandSpec spec;

    protected ConfiguredCommand(CommandSettings settings) {
        this.settings = settings;
    }

    @Override
    public final CommandSettings settings() {
        return settings;
    }

    @Override
    public final Integer call() throws Exception {
        ResolvedSettings resolved = settings.resolve(spec);
        if (resolved.printListIfRequested()) {
            return 0;
        }
        return run(resolved);
    }

    /** The command, with the settings it was given; returns its exit code. */
    protected abstract Integer run(ResolvedSettings settings) throws Exception;
}
