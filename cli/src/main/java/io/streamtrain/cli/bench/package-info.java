/** {@code streamtrain bench} and what it reports about the machine. Internal to the command line: no other module may import it. */
package io.streamtrain.cli.bench;
