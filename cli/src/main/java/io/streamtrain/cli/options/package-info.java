/** Options shared by several commands, and the settings mechanism: every flag derived from a config key. Internal to the command line: no other module may import it. */
package io.streamtrain.cli.options;
