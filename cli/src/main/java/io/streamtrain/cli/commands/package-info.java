/** The subcommands that have no package of their own: train, produce, monitor, replay, checkpoint, tokenizer. Internal to the command line: no other module may import it. */
package io.streamtrain.cli.commands;
