package io.streamtrain.model;

/** An id outside the model's vocabulary [0, V), at {@link #index()} of the ids given. */
public final class TokenIdOutOfRangeException extends IllegalArgumentException {
    private final int index;
    private final int id;
    private final int vocabularySize;

    public TokenIdOutOfRangeException(String what, int index, int id, int vocabularySize) {
        super(what + "[" + index + "] = " + id + " is not an id of the vocabulary [0, " + vocabularySize + ")");
        this.index = index;
        this.id = id;
        this.vocabularySize = vocabularySize;
    }

    /** Where the id stands in the array given. */
    public int index() { return index; }

    /** The id. */
    public int id() { return id; }

    /** V. */
    public int vocabularySize() { return vocabularySize; }
}
