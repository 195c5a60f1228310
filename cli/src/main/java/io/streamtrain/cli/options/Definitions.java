package io.streamtrain.cli.options;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.ConfigKey;
import org.apache.kafka.common.config.ConfigException;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Builds a command's definition from the keys of the modules' configs, so that a key shared by several commands
 * (the model preset, the bootstrap servers, the application id) is defined once, in its module, and a command that
 * needs another default says so next to the key.
 */
public final class Definitions {
    private Definitions() {}

    /** The keys of every definition in order; a key defined again replaces the earlier one in its place. */
    public static ConfigDef merge(ConfigDef... definitions) {
        Map<String, ConfigKey> keys = new LinkedHashMap<>();
        for (ConfigDef definition : definitions) {
            keys.putAll(definition.configKeys());
        }
        ConfigDef merged = new ConfigDef();
        keys.values().forEach(merged::define);
        return merged;
    }

    /** A definition of the named keys of {@code source}, as they are there. */
    public static ConfigDef keys(ConfigDef source, String... names) {
        ConfigDef selected = new ConfigDef();
        for (String name : names) {
            selected.define(key(source, name));
        }
        return selected;
    }

    /** The key {@code name} of {@code source} with another default and doc (NO_DEFAULT_VALUE makes it required). */
    public static ConfigKey withDefault(ConfigDef source, String name, Object defaultValue, String documentation) {
        ConfigKey key = key(source, name);
        return new ConfigKey(key.name, key.type, defaultValue, key.validator, key.importance, documentation, key.group,
                key.orderInGroup, key.width, key.displayName, key.dependents, key.recommender, key.internalConfig);
    }

    /** The key {@code name} of {@code source} with its default and another doc. */
    public static ConfigKey withDoc(ConfigDef source, String name, String documentation) {
        return withDefault(source, name, key(source, name).defaultValue, documentation);
    }

    /** A definition of {@code keys}. */
    public static ConfigDef of(ConfigKey... keys) {
        ConfigDef definition = new ConfigDef();
        for (ConfigKey key : keys) {
            definition.define(key);
        }
        return definition;
    }

    /** {@code validator}, letting null through: for a key whose default (null) is derived by the command. */
    public static ConfigDef.Validator nullOr(ConfigDef.Validator validator) {
        return new ConfigDef.Validator() {
            @Override
            public void ensureValid(String name, Object value) {
                if (value != null) {
                    validator.ensureValid(name, value);
                }
            }

            @Override
            public String toString() {
                return validator.toString();
            }
        };
    }

    private static ConfigKey key(ConfigDef source, String name) {
        ConfigKey key = source.configKeys().get(name);
        if (key == null) {
            throw new ConfigException(name + " is not a key of the definition it is taken from");
        }
        return key;
    }
}
