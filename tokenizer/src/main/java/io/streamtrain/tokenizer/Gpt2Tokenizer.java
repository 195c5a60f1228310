package io.streamtrain.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;
import io.streamtrain.tokenizer.internal.TokenTable;

/** GPT-2 BPE (r50k_base) through jtokkit: V = 50257, end-of-text 50256. Loaded once, shared. */
public final class Gpt2Tokenizer extends TableTokenizer {
    public static final String NAME = "gpt2";
    private static final int RANKS = 50256;

    private final Encoding encoding;

    private Gpt2Tokenizer(Encoding encoding) {
        super(NAME, TokenTable.of(ranks(encoding)));
        this.encoding = encoding;
    }

    /** The shared instance (about 0.5 s to load the first time). */
    public static Gpt2Tokenizer get() {
        return Holder.INSTANCE;
    }

    @Override
    public int[] encode(String text) {
        return encoding.encodeOrdinary(text).toArray();
    }

    /** Bytes of each rank, asked of jtokkit one id at a time (r50k_base's ranks are 0..50255 without gaps). */
    private static byte[][] ranks(Encoding encoding) {
        byte[][] ranks = new byte[RANKS][];
        IntArrayList one = new IntArrayList(1);
        one.add(0);
        for (int id = 0; id < RANKS; id++) {
            one.set(0, id);
            ranks[id] = encoding.decodeBytes(one);
        }
        return ranks;
    }

    private static final class Holder {
        static final Gpt2Tokenizer INSTANCE =
                new Gpt2Tokenizer(Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE));
    }
}
