/** Text to token ids and back: byte-level, GPT-2 BPE (r50k_base) and BPE vocabularies trained on the user's corpus. */
package io.streamtrain.tokenizer;
