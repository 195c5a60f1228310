/** {@code streamtrain demo}: the whole pipeline in one process, its console and the sample corpus. Internal to the command line: no other module may import it. */
package io.streamtrain.cli.demo;
