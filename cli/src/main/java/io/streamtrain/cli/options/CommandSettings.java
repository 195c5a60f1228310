package io.streamtrain.cli.options;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.ConfigKey;
import picocli.CommandLine.IModelTransformer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * The settings of one command: its config keys (a Kafka {@link ConfigDef}: type, default, validator and doc of each
 * key together) and the flags that set them. Every flag is derived from its key: the help text is the key's doc, the
 * default shown is the key's default, and the value is validated by the key's validator. A command declares
 * <pre>{@code
 * static final CommandSettings SETTINGS = CommandSettings.of(TrainerConfig.CONFIG)
 *         .flag("--max-steps", TrainerConfig.MAX_STEPS, "N")
 *         .switchFlag("--follow", ProducerSettings.FOLLOW, true);
 * }</pre>
 * and gets, besides its flags, {@code --config FILE}, {@code -c KEY=VALUE} and {@code --list-config}. One precedence
 * for every command, lowest first: the key's default, {@code --config FILE}, the environment variable
 * {@code STREAMTRAIN_<KEY>} (the key upper-cased, dots and dashes as underscores, e.g. {@code STREAMTRAIN_MAX_STEPS}),
 * {@code -c KEY=VALUE}, and a flag given on the command line. A flag that is not given sets nothing. A key that is
 * neither defined nor under one of the command's pass-through prefixes (e.g. {@code streams.}) is a usage error
 * naming the nearest known key.
 */
public final class CommandSettings {
    /** Prefix of the environment variables read as settings. */
    public static final String ENVIRONMENT_PREFIX = "STREAMTRAIN_";
    static final String CONFIG_FILE_FLAG = "--config";
    static final String SET_FLAG = "-c";
    static final String LIST_FLAG = "--list-config";
    /** The rule, as written at the end of every configurable command's {@code --help}. */
    public static final String PRECEDENCE = "Settings, lowest precedence first: each key's default, --config FILE, "
            + "the environment variable STREAMTRAIN_<KEY> (e.g. STREAMTRAIN_MAX_STEPS for max.steps), -c KEY=VALUE, "
            + "and a flag given on this command line. --list-config prints every key with its value and where it "
            + "came from.";

    /** A flag bound to a key: {@code switchValue} is what a flag without a parameter sets; {@code list} takes 1..* values. */
    record Flag(String name, String key, String paramLabel, Object switchValue, boolean list) {}

    private final ConfigDef definition;
    private final List<String> passThroughPrefixes = new ArrayList<>();
    private final List<Flag> flags = new ArrayList<>();
    private final List<String> setFlagNames = new ArrayList<>(List.of(SET_FLAG, "--set"));

    private CommandSettings(ConfigDef definition) {
        this.definition = definition;
    }

    /** The settings of a command whose keys are those of {@code definition}. */
    public static CommandSettings of(ConfigDef definition) {
        return new CommandSettings(definition);
    }

    /** Keys starting with {@code prefix} are accepted as they are (passed on to a Kafka client, e.g. {@code streams.}). */
    public CommandSettings passThrough(String prefix) {
        passThroughPrefixes.add(prefix);
        return this;
    }

    /** Adds a group of flags shared by several commands, e.g. {@code .with(SharedFlags::pipeline)}. */
    public CommandSettings with(java.util.function.UnaryOperator<CommandSettings> group) {
        return group.apply(this);
    }

    /** More names for {@code -c KEY=VALUE}, e.g. {@code -P} for the producer's settings as before. */
    public CommandSettings setFlagAlso(String... names) {
        setFlagNames.addAll(List.of(names));
        return this;
    }

    /** A flag taking one value for {@code key}, e.g. {@code --max-steps N}. */
    public CommandSettings flag(String name, String key, String paramLabel) {
        return add(new Flag(name, key, paramLabel, null, false));
    }

    /** A flag without a value that sets {@code key} to {@code value}, e.g. {@code --follow} or {@code --no-dashboard}. */
    public CommandSettings switchFlag(String name, String key, Object value) {
        return add(new Flag(name, key, null, value, false));
    }

    /** A flag taking one or more values for a list {@code key}, e.g. {@code --input PATH...}. */
    public CommandSettings listFlag(String name, String key, String paramLabel) {
        return add(new Flag(name, key, paramLabel, null, true));
    }

    private CommandSettings add(Flag flag) {
        if (!definition.configKeys().containsKey(flag.key())) {
            throw new IllegalArgumentException(flag.name() + " sets " + flag.key() + ", which is not a defined key");
        }
        flags.add(flag);
        return this;
    }

    /** The keys of this command. */
    public ConfigDef definition() {
        return definition;
    }

    /** Each flag's name and the key it sets, in declaration order. */
    public Map<String, String> flagKeys() {
        Map<String, String> keys = new LinkedHashMap<>();
        flags.forEach(flag -> keys.put(flag.name(), flag.key()));
        return keys;
    }

    List<Flag> flags() {
        return flags;
    }

    /** The flag of {@code key}, or null. */
    Flag flagOf(String key) {
        return flags.stream().filter(flag -> flag.key().equals(key)).findFirst().orElse(null);
    }

    /** Adds the flags, {@code --config}, {@code -c} and {@code --list-config} to a command and the rule to its help. */
    public CommandSpec addTo(CommandSpec spec) {
        for (Flag flag : flags) {
            ConfigKey key = definition.configKeys().get(flag.key());
            OptionSpec.Builder option = OptionSpec.builder(flag.name()).description(help(key, flag));
            if (flag.switchValue() != null) {
                option.arity("0").type(boolean.class);
            } else if (flag.list()) {
                option.arity("1..*").type(List.class).auxiliaryTypes(String.class).paramLabel(flag.paramLabel());
            } else {
                option.arity("1").type(javaType(key.type)).paramLabel(flag.paramLabel());
            }
            spec.addOption(option.build());
        }
        spec.addOption(OptionSpec.builder(CONFIG_FILE_FLAG).paramLabel("FILE").type(Path.class)
                .description("A properties file of settings (KEY=VALUE lines, the keys of --list-config).").build());
        spec.addOption(OptionSpec.builder(setFlagNames.toArray(String[]::new)).paramLabel("KEY=VALUE").type(Map.class)
                .auxiliaryTypes(String.class, String.class)
                .description("Any setting by its key, repeatable, e.g. -c KEY=VALUE -c KEY=VALUE; --list-config lists them.").build());
        spec.addOption(OptionSpec.builder(LIST_FLAG).arity("0").type(boolean.class)
                .description("Print every setting: its value, where the value came from, its flag, environment "
                        + "variable, default and doc; then exit.").build());
        List<String> footer = new ArrayList<>(List.of(spec.usageMessage().footer()));
        footer.add("");
        footer.add(escape(PRECEDENCE));
        spec.usageMessage().footer(footer.toArray(String[]::new));
        return spec;
    }

    private static String help(ConfigKey key, Flag flag) {
        String text = key.documentation;
        if (flag.switchValue() != null) {
            text = "Sets " + key.name + "=" + flag.switchValue() + ": " + text;
        }
        String shownDefault = key.hasDefault() ? shown(key.defaultValue) : "";
        if (flag.switchValue() == null && !shownDefault.isEmpty()) {
            text += " (default: " + shownDefault + ")";
        }
        return escape(text);
    }

    /** picocli formats descriptions with String.format. */
    private static String escape(String text) {
        return text.replace("%", "%%");
    }

    /** A default or value as a user would write it. */
    static String shown(Object value) {
        if (value == null) {
            return "";
        }
        if (value instanceof Collection<?> list) {
            return String.join(",", list.stream().map(String::valueOf).toList());
        }
        return String.valueOf(value);
    }

    private static Class<?> javaType(ConfigDef.Type type) {
        return switch (type) {
            case INT -> Integer.class;
            case LONG -> Long.class;
            case DOUBLE -> Double.class;
            case BOOLEAN -> Boolean.class;
            default -> String.class;
        };
    }

    /** The environment variable of a key: {@code STREAMTRAIN_} and the key upper-cased, dots and dashes as underscores. */
    public static String environmentVariable(String key) {
        return ENVIRONMENT_PREFIX + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** {@link #resolve(CommandSpec, Map)} with the environment of the root command, else the process's. */
    public ResolvedSettings resolve(CommandSpec spec) {
        Map<String, String> environment = spec.root().userObject() instanceof Environment root
                ? root.environment() : System.getenv();
        return resolve(spec, environment);
    }

    /**
     * The settings a command was given, in precedence order, from its parse result and {@code environment}.
     * A usage error (exit code 2) for an unreadable {@code --config} file or an unknown key.
     */
    public ResolvedSettings resolve(CommandSpec spec, Map<String, String> environment) {
        ParseResult parsed = spec.commandLine().getParseResult();
        ResolvedSettings settings = new ResolvedSettings(this, spec);
        Path file = parsed.matchedOptionValue(CONFIG_FILE_FLAG, null);
        if (file != null) {
            String source = "--config " + file;
            readProperties(spec, file).forEach((key, value) -> settings.put(known(spec, key, source), value, source));
        }
        Set<String> unused = new TreeSet<>(environment.keySet());
        unused.removeIf(variable -> !variable.startsWith(ENVIRONMENT_PREFIX));
        for (String key : definition.configKeys().keySet()) {
            String variable = environmentVariable(key);
            if (environment.containsKey(variable)) {
                settings.put(key, environment.get(variable), variable);
                unused.remove(variable);
            }
        }
        for (String prefix : new LinkedHashSet<>(passThroughPrefixes)) {
            String variablePrefix = environmentVariable(prefix);
            environment.forEach((variable, value) -> {
                if (variable.startsWith(variablePrefix) && variable.length() > variablePrefix.length()) {
                    String key = prefix + variable.substring(variablePrefix.length()).toLowerCase(Locale.ROOT).replace('_', '.');
                    settings.put(key, value, variable);
                    unused.remove(variable);
                }
            });
        }
        settings.ignoredVariables(unused);
        Map<String, String> set = parsed.matchedOptionValue(SET_FLAG, Map.of());
        set.forEach((key, value) -> settings.put(known(spec, key, "-c"), value, "-c " + key));
        for (Flag flag : flags) {
            if (parsed.hasMatchedOption(flag.name())) {
                Object value = flag.switchValue() != null ? flag.switchValue() : parsed.matchedOptionValue(flag.name(), null);
                settings.put(flag.key(), value, flag.name());
            }
        }
        settings.listRequested(parsed.hasMatchedOption(LIST_FLAG));
        settings.validateEach();
        return settings;
    }

    private static Map<String, String> readProperties(CommandSpec spec, Path file) {
        Properties properties = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            properties.load(in);
        } catch (IOException e) {
            throw new ParameterException(spec.commandLine(), "cannot read --config " + file.toAbsolutePath() + ": " + e);
        }
        Map<String, String> values = new LinkedHashMap<>();
        properties.stringPropertyNames().stream().sorted().forEach(key -> values.put(key, properties.getProperty(key).trim()));
        return values;
    }

    /** {@code key} when it is defined or passed through; else a usage error naming the nearest defined key. */
    private String known(CommandSpec spec, String key, String source) {
        if (definition.configKeys().containsKey(key) || passThroughPrefixes.stream().anyMatch(key::startsWith)) {
            return key;
        }
        String nearest = nearest(key, definition.configKeys().keySet());
        String passed = passThroughPrefixes.isEmpty() ? ""
                : " (or a key starting with " + String.join(" or ", new LinkedHashSet<>(passThroughPrefixes)) + ")";
        throw new ParameterException(spec.commandLine(), "unknown setting '" + key + "' (" + source + "); did you mean '"
                + nearest + "'" + passed + "? --list-config prints every setting");
    }

    /** The candidate with the smallest edit distance to {@code key}. */
    static String nearest(String key, Collection<String> candidates) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : candidates) {
            int distance = editDistance(key, candidate);
            if (distance < bestDistance) {
                best = candidate;
                bestDistance = distance;
            }
        }
        return best;
    }

    private static int editDistance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j] + 1, current[j - 1] + 1));
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    /**
     * The model transformer of a configurable command: {@code @Command(modelTransformer = CommandSettings.Flags.class)}
     * on a command that implements {@link Configurable} adds its flags when picocli builds the command.
     */
    public static final class Flags implements IModelTransformer {
        @Override
        public CommandSpec transform(CommandSpec spec) {
            if (!(spec.userObject() instanceof Configurable command)) {
                throw new IllegalStateException(spec.name() + ": a command with CommandSettings.Flags implements Configurable");
            }
            return command.settings().addTo(spec);
        }
    }

    /** A command whose flags come from a {@link CommandSettings}. */
    public interface Configurable {
        CommandSettings settings();
    }

    /** Where the commands read {@code STREAMTRAIN_*} variables: the root command, so that tests can give their own. */
    public interface Environment {
        Map<String, String> environment();
    }
}
