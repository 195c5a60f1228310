/** Token tables, the GPT-2 pre-tokenization pattern, the vocabulary file format and the BPE pair merger. */
package io.streamtrain.tokenizer.internal;
