/** Topic-based monitoring of training: follows the metrics, samples and dead-letter topics into a {@link io.streamtrain.monitor.RunStore} and shows it as a live web dashboard, a console table, PNG charts and JSON files. */
package io.streamtrain.monitor;
