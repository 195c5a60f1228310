/** The GPT: its config, flat parameter layout, backend seam, training step, generation and checkpoints. */
package io.streamtrain.model;
