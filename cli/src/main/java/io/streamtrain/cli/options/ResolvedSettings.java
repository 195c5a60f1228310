package io.streamtrain.cli.options;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.ConfigKey;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one run of a command was given, after {@link CommandSettings#resolve}: each key that was set, its value and
 * where it came from (a flag, {@code -c}, an environment variable or {@code --config FILE}). Keys not set are absent,
 * so that the config class built from {@link #originals()} applies its own defaults. Every value was checked by its
 * key's validator; a bad one is a usage error naming where it came from, e.g.
 * {@code --model must be one of tiny, small, gpt2, got 'huge'}.
 */
public final class ResolvedSettings {
    private static final Pattern CONFIG_EXCEPTION_KEY =
            Pattern.compile("(?:for configuration |required configuration \")([^\\s:\"]+)");

    private final CommandSettings settings;
    private final CommandSpec spec;
    private final Map<String, Object> values = new LinkedHashMap<>();
    private final Map<String, String> sources = new LinkedHashMap<>();
    private boolean listRequested;
    private Set<String> ignoredVariables = Set.of();

    ResolvedSettings(CommandSettings settings, CommandSpec spec) {
        this.settings = settings;
        this.spec = spec;
    }

    /** Sets {@code key}; called in precedence order, so the last source wins. */
    void put(String key, Object value, String source) {
        values.remove(key);
        values.put(key, value);
        sources.put(key, source);
    }

    /** The {@code STREAMTRAIN_*} variables that name no key of this command (shown by --list-config). */
    void ignoredVariables(Set<String> variables) {
        ignoredVariables = Set.copyOf(variables);
    }

    void listRequested(boolean requested) {
        listRequested = requested;
    }

    /** Checks every value that was set against its key's type and validator. */
    void validateEach() {
        values.forEach((name, value) -> {
            ConfigKey key = settings.definition().configKeys().get(name);
            if (key == null) {
                return; // passed through to a Kafka client, which checks it
            }
            Object parsed;
            try {
                parsed = ConfigDef.parseType(name, value, key.type);
            } catch (ConfigException e) {
                throw usageError(describe(name) + " must be of type " + key.type.name().toLowerCase()
                        + ", got " + quoted(value));
            }
            if (key.validator != null) {
                try {
                    key.validator.ensureValid(name, parsed);
                } catch (ConfigException e) {
                    throw usageError(describe(name) + " must be " + constraint(key.validator, e) + ", got " + quoted(value));
                }
            }
        });
    }

    /** A value for a message: numbers as they are, anything else in quotes. */
    private static String quoted(Object value) {
        String text = CommandSettings.shown(value);
        return text.matches("-?[0-9][0-9.eE+-]*") ? text : "'" + text + "'";
    }

    /** What a validator asks for, in words: "one of a, b", "at least 0", "in [0, 65535]", else Kafka's message. */
    private static String constraint(ConfigDef.Validator validator, ConfigException e) {
        String text = String.valueOf(validator);
        if (validator instanceof ConfigDef.ValidString || validator instanceof ConfigDef.ValidList) {
            return "one of " + text.replaceAll("^\\[|\\]$", "");
        }
        if (validator instanceof ConfigDef.Range || text.matches("^\\[[^\\]]*\\.\\.\\.[^\\]]*\\]$")) {
            Matcher atLeast = Pattern.compile("^\\[([^,]+),\\.\\.\\.\\]$").matcher(text);
            Matcher between = Pattern.compile("^\\[([^,]+),\\.\\.\\.,([^,]+)\\]$").matcher(text);
            Matcher atMost = Pattern.compile("^\\[\\.\\.\\.,([^,]+)\\]$").matcher(text);
            if (atLeast.matches()) {
                return "at least " + atLeast.group(1);
            }
            if (between.matches()) {
                return "in [" + between.group(1) + ", " + between.group(2) + "]";
            }
            if (atMost.matches()) {
                return "at most " + atMost.group(1);
            }
        }
        if (validator instanceof ConfigDef.NonEmptyString) {
            return "a non-empty string";
        }
        String message = e.getMessage();
        int colon = message.indexOf(": ");
        return "valid (" + (colon >= 0 ? message.substring(colon + 2) : message) + ")";
    }

    /** Whether {@code key} was set by any source. */
    public boolean isSet(String key) {
        return values.containsKey(key);
    }

    /** The value of {@code key} parsed to its type: the one set, else the key's default. */
    public Object value(String key) {
        ConfigKey definition = settings.definition().configKeys().get(key);
        if (!values.containsKey(key)) {
            return definition.hasDefault() ? definition.defaultValue : null;
        }
        return ConfigDef.parseType(key, values.get(key), definition.type);
    }

    /**
     * Where {@code key} came from, for messages: the flag when it was given there (or is unset and has one), else
     * {@code KEY (from SOURCE)}, e.g. {@code sequence.length (from STREAMTRAIN_SEQUENCE_LENGTH)}.
     */
    public String describe(String key) {
        String source = sources.get(key);
        CommandSettings.Flag flag = settings.flagOf(key);
        if (source == null) {
            return flag != null ? flag.name() : key;
        }
        return flag != null && source.equals(flag.name()) ? source : key + " (from " + source + ")";
    }

    /** Sets {@code key} to a value derived from other settings (e.g. B from the model preset). */
    public void derive(String key, Object value) {
        put(key, value, "the model preset");
    }

    /** The keys that were set, with their values as given: what the command's config class is built from. */
    public Map<String, Object> originals() {
        return new LinkedHashMap<>(values);
    }

    /**
     * The command's config built from {@link #originals()}; a {@link ConfigException} (e.g. two keys that do not fit
     * together) becomes a usage error saying where the key came from.
     */
    public <T> T build(Function<Map<String, Object>, T> constructor) {
        requireKeysWithoutDefault();
        try {
            return constructor.apply(originals());
        } catch (ConfigException e) {
            String message = e.getMessage();
            Matcher key = CONFIG_EXCEPTION_KEY.matcher(message);
            if (key.find() && sources.containsKey(key.group(1))) {
                message += " (" + key.group(1) + " from " + sources.get(key.group(1)) + ")";
            } else if (key.find(0) && settings.flagOf(key.group(1)) != null) {
                message += " (flag " + settings.flagOf(key.group(1)).name() + ")";
            }
            throw usageError(message);
        }
    }

    /** A usage error naming the first key that has no default and was not set. */
    public void requireKeysWithoutDefault() {
        for (ConfigKey key : settings.definition().configKeys().values()) {
            if (!key.hasDefault() && !isSet(key.name)) {
                throw usageError(describe(key.name) + " is required" + (settings.flagOf(key.name) != null
                        ? " (or " + key.name + " by -c, --config or " + CommandSettings.environmentVariable(key.name) + ")"
                        : " (" + key.name + " by -c, --config or " + CommandSettings.environmentVariable(key.name) + ")"));
            }
        }
    }

    /** A usage error (exit code 2) of this command. */
    public ParameterException usageError(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /**
     * With {@code --list-config}: prints every key (value, source, flag, environment variable, default, doc) and
     * returns true: the command then exits 0.
     */
    public boolean printListIfRequested() {
        if (!listRequested) {
            return false;
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(spec.qualifiedName() + " settings (" + CommandSettings.PRECEDENCE + ")");
        for (ConfigKey key : settings.definition().configKeys().values()) {
            String value = CommandSettings.shown(value(key.name));
            out.println();
            out.println(key.name + " = " + value + "   (" + (isSet(key.name) ? "from " + sources.get(key.name) : "default") + ")");
            CommandSettings.Flag flag = settings.flagOf(key.name);
            String shownDefault = key.hasDefault() ? CommandSettings.shown(key.defaultValue) : "(required)";
            out.println("    " + (flag != null ? "flag " + flag.name() + ", " : "") + "env "
                    + CommandSettings.environmentVariable(key.name) + ", default " + (shownDefault.isEmpty() ? "(empty)" : shownDefault));
            out.println("    " + key.documentation);
        }
        values.forEach((name, value) -> {
            if (!settings.definition().configKeys().containsKey(name)) {
                out.println();
                out.println(name + " = " + CommandSettings.shown(value) + "   (from " + sources.get(name) + "; passed through)");
            }
        });
        if (!ignoredVariables.isEmpty()) {
            out.println();
            out.println("ignored (no key of " + spec.qualifiedName() + "): " + String.join(", ", new TreeSet<>(ignoredVariables)));
        }
        out.flush();
        return true;
    }
}
