package io.streamtrain.tokenizer.internal;

import java.util.regex.Pattern;

/**
 * GPT-2's pre-tokenization: text is split into pieces (contractions, letter runs, digit runs, punctuation runs,
 * whitespace) and BPE merges happen within a piece only. The same regex and flags jtokkit uses for r50k_base, so a
 * vocabulary trained with it encodes the way it was trained.
 */
public final class Gpt2Pattern {
    public static final String REGEX =
            "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    public static final Pattern PATTERN = Pattern.compile(REGEX, Pattern.UNICODE_CHARACTER_CLASS);

    private Gpt2Pattern() {}
}
