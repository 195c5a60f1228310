package io.streamtrain.model;

/**
 * The parameter tensors of the GPT, in the order of the one flat layout that parameters,
 * gradients and both AdamW moments share.
 *
 * <p>The matrices (which get weight decay) come first, so that AdamW is one loop over the
 * buffer with a single boundary, {@link #decayedSize}, between decayed and undecayed elements.
 * Shapes follow PyTorch's {@code nn.Linear} convention (out, in) and the state_dict names of the
 * reference trainer {@code torch_gpt_bench.py}; per-layer tensors carry a leading L.
 */
public enum ParameterTensor {
    // name       state_dict name pattern          decayed   shape
    WTE("wte.weight", true),            // (Vp, C) token embedding, tied to the output head
    WPE("wpe.weight", true),            // (T, C) position embedding
    QKVW("blocks.%d.qkv.weight", true),  // (L, 3C, C)
    ATTPROJW("blocks.%d.proj.weight", true), // (L, C, C)
    FCW("blocks.%d.fc.weight", true),    // (L, 4C, C)
    FCPROJW("blocks.%d.out.weight", true), // (L, C, 4C)
    LN1W("blocks.%d.ln1.weight", false), // (L, C)
    LN1B("blocks.%d.ln1.bias", false),   // (L, C)
    QKVB("blocks.%d.qkv.bias", false),   // (L, 3C)
    ATTPROJB("blocks.%d.proj.bias", false), // (L, C)
    LN2W("blocks.%d.ln2.weight", false), // (L, C)
    LN2B("blocks.%d.ln2.bias", false),   // (L, C)
    FCB("blocks.%d.fc.bias", false),     // (L, 4C)
    FCPROJB("blocks.%d.out.bias", false), // (L, C)
    LNFW("ln_f.weight", false),          // (C)
    LNFB("ln_f.bias", false);            // (C)

    private final String stateDictName;
    private final boolean decayed;

    ParameterTensor(String stateDictName, boolean decayed) {
        this.stateDictName = stateDictName;
        this.decayed = decayed;
    }

    /** Whether AdamW applies weight decay to this tensor (matrices and embeddings). */
    public boolean decayed() {
        return decayed;
    }

    /** Whether the tensor has one slice per layer. */
    public boolean perLayer() {
        return stateDictName.contains("%d");
    }

    /** The reference state_dict name of this tensor, of layer {@code layer} where it is per layer. */
    public String stateDictName(int layer) {
        return perLayer() ? String.format(stateDictName, layer) : stateDictName;
    }

    /** Shape of one layer's slice (or of the whole tensor where it is not per layer). */
    public int[] layerShape(GptConfig config) {
        int c = config.channels();
        return switch (this) {
            case WTE -> new int[] {config.paddedVocabularySize(), c};
            case WPE -> new int[] {config.contextLength(), c};
            case QKVW -> new int[] {3 * c, c};
            case ATTPROJW -> new int[] {c, c};
            case FCW -> new int[] {4 * c, c};
            case FCPROJW -> new int[] {c, 4 * c};
            case LN1W, LN1B, ATTPROJB, LN2W, LN2B, FCPROJB, LNFW, LNFB -> new int[] {c};
            case QKVB -> new int[] {3 * c};
            case FCB -> new int[] {4 * c};
        };
    }

    /** Elements in one layer's slice. */
    public long layerSize(GptConfig config) {
        long n = 1;
        for (int d : layerShape(config)) {
            n *= d;
        }
        return n;
    }

    /** Elements in the whole tensor, all layers. */
    public long size(GptConfig config) {
        return layerSize(config) * (perLayer() ? config.layers() : 1);
    }

    /** Offset of this tensor in the flat layout. */
    public long offset(GptConfig config) {
        long offset = 0;
        for (ParameterTensor t : values()) {
            if (t == this) {
                return offset;
            }
            offset += t.size(config);
        }
        throw new AssertionError();
    }

    /** Elements of all tensors together: the length of the flat parameter buffer. */
    public static long totalSize(GptConfig config) {
        long n = 0;
        for (ParameterTensor t : values()) {
            n += t.size(config);
        }
        return n;
    }

    /** Elements of the decayed tensors, which lead the layout: [0, decayedSize) gets weight decay. */
    public static long decayedSize(GptConfig config) {
        long n = 0;
        for (ParameterTensor t : values()) {
            if (t.decayed) {
                n += t.size(config);
            }
        }
        return n;
    }
}
