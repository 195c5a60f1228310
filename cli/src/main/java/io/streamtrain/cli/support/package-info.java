/** What every command uses: error and usage handling, logging, console output helpers. Internal to the command line: no other module may import it. */
package io.streamtrain.cli.support;
