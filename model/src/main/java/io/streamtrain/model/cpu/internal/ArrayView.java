package io.streamtrain.model.cpu.internal;

/** Elements [offset, offset + length) of a Java array: the part of a CPU tensor view that is the same for floats and ints. */
abstract class ArrayView {
    /** Index in the backing array of element 0 of this view. */
    public final int offset;
    /** Number of elements of this view. */
    public final int length;

    ArrayView(int arrayLength, int offset, int length, String elements) {
        if (offset < 0 || length < 0 || offset > arrayLength - length) {
            throw new IndexOutOfBoundsException("view [" + offset + ", " + offset + " + " + length
                    + ") lies outside its allocation of " + arrayLength + " " + elements);
        }
        this.offset = offset;
        this.length = length;
    }

    public long size() {
        return length;
    }

    /** Checks that [offset, offset + size) lies inside this view and returns the absolute offset. */
    int sliceOffset(long offset, long size) {
        if (offset < 0 || size < 0 || offset > length - size) {
            throw new IndexOutOfBoundsException("slice [" + offset + ", " + offset + " + " + size
                    + ") does not fit in a view of " + length + " elements");
        }
        return this.offset + (int) offset;
    }

    /** Checks that this view holds at least {@code needed} elements, naming the kernel and argument otherwise. */
    void requireAtLeast(long needed, String kernel, String argument) {
        if (length < needed) {
            throw new IllegalArgumentException(kernel + ": " + argument + " has " + length
                    + " elements but the shape needs " + needed + ": check the sizes passed to the kernel");
        }
    }
}
