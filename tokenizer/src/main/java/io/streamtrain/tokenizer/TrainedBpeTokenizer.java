package io.streamtrain.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.GptBytePairEncodingParams;
import io.streamtrain.tokenizer.internal.Gpt2Pattern;
import io.streamtrain.tokenizer.internal.TokenTable;
import io.streamtrain.tokenizer.internal.VocabularyFile;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * A byte-level BPE vocabulary trained on the user's corpus by {@link BpeTrainer}, encoded by jtokkit with these
 * ranks and GPT-2's pre-tokenization. Ids are ranks; end-of-text is the last id (V - 1). Name: {@code bpe:<file name>}.
 */
public final class TrainedBpeTokenizer extends TableTokenizer {
    private final Encoding encoding;

    private TrainedBpeTokenizer(String name, TokenTable table, Encoding encoding) {
        super(name, table);
        this.encoding = encoding;
    }

    /**
     * Loads a vocabulary file; IllegalArgumentException naming the file (and line) when it is missing or malformed.
     */
    public static TrainedBpeTokenizer load(Path file) {
        byte[][] ranks = VocabularyFile.read(file);
        TokenTable table = TokenTable.of(ranks);
        Map<byte[], Integer> encoder = new HashMap<>(ranks.length * 2);
        for (int rank = 0; rank < ranks.length; rank++) {
            encoder.put(ranks[rank], rank);
        }
        // A name unique to the vocabulary: jtokkit's registry refuses a second encoding under one name.
        String encodingName = "streamtrain-bpe-" + table.fingerprint();
        GptBytePairEncodingParams params = new GptBytePairEncodingParams(encodingName, Gpt2Pattern.PATTERN, encoder,
                Map.of(END_OF_TEXT, table.endOfText()));
        Encoding encoding = Encodings.newLazyEncodingRegistry().registerGptBytePairEncoding(params)
                .getEncoding(encodingName)
                .orElseThrow(() -> new IllegalStateException("jtokkit did not register encoding " + encodingName));
        return new TrainedBpeTokenizer("bpe:" + file.getFileName(), table, encoding);
    }

    @Override
    public int[] encode(String text) {
        return encoding.encodeOrdinary(text).toArray();
    }
}
