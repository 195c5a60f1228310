/** Subcommands, the embedded Kafka broker, the benchmark and the demo's plumbing behind {@code streamtrain}. */
package io.streamtrain.cli.internal;
