/** The {@code streamtrain} command line: {@link io.streamtrain.cli.Main} and its subcommands. */
package io.streamtrain.cli;
