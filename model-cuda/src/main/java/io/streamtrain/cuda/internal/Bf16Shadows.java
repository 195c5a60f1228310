package io.streamtrain.cuda.internal;

import io.streamtrain.model.Tensor;
import java.util.Arrays;
import java.util.function.LongFunction;

/**
 * bf16 copies ("shadows") of float32 tensors that the matrix products read as operands, kept with the tensor so that
 * a product needs no conversion pass: the kernel that writes such a tensor writes its bf16 copy in the same pass
 * (layernorm, GELU, cross-entropy's dlogits, AdamW's parameters), and a tensor that no such kernel wrote is converted
 * once, into its own copy, which every later product reads until the tensor is written again.
 *
 * <p>A copy is bf16(value), rounded to nearest, exactly what a conversion pass gives, so the products compute the same
 * either way. Validity: {@code CudaKernels} calls {@link #written} for every float32 output of every call before it is
 * enqueued (kernels, fills, copies, host writes), which marks every copy overlapping it stale; a producer then marks
 * its own copy valid ({@link #forProducer}). Calls are enqueued in stream order, so a copy marked valid is valid when
 * the products after it run. Copies are made where a product first asks for one (the first, direct run of a step
 * graph's key allocates them; see {@code StepGraphPolicy}), and a producer writes one only where one was made for its
 * output or for a view inside it (AdamW's parameters: the weights are views of them). A copy is allocated once, when a
 * tensor is first seen (inside a step graph's capture or replay too: new activations after a reallocation), never per
 * step. Step graphs may run a step's calls more than once (a replay that finds the calls changed captures them again):
 * {@link #save} before a step and {@link #restore} before every run of it, so that each run starts from the validity
 * the device memory really has.
 *
 * <p>Copy-only values: a producer may write only the copy ({@link #forCopyOnlyProducer}: the cross-entropy's dlogits,
 * which only the output head's products read, from the copy). The float32 tensor is then stale until something reads
 * it as float32: {@link #floatsRead} (before a kernel or a host read takes the float32 values), a conversion of an
 * overlapping range, and a write of part of it ({@link #written}) first convert the copy back into it
 * ({@code from_bf16}), so that every reader sees the values rounded to bf16 and nothing is lost.
 *
 * <p>Optional producers (a product's epilogue) write a copy only where a consumer had to convert their output; that
 * is learned in the first run of a step, also when the consumer makes the copy (the product's output range is
 * remembered), so that a step's calls are the same from its second run on. Not thread-safe.
 */
public final class Bf16Shadows {
    private final Bf16Conversion conversion;
    private final LongFunction<CudaTensor> allocate;
    /** Entries: the float32 byte range [begin, end) and its bf16 copy (2 bytes per element, from copyAddress). */
    private long[] begin = new long[64];
    private long[] end = new long[64];
    private long[] copyAddress = new long[64];
    private boolean[] valid = new boolean[64];
    /** Whether the last write was a product's (an optional producer), and whether a consumer then had to convert. */
    private boolean[] lastWriterOptional = new boolean[64];
    private boolean[] optionalWanted = new boolean[64];
    /** Whether the copy holds newer values than the float32 tensor (a copy-only producer wrote it). */
    private boolean[] floatStale = new boolean[64];
    private CudaTensor[] copies = new CudaTensor[64];
    private boolean[] saved = new boolean[64];
    private boolean[] savedFloatStale = new boolean[64];
    private int count;
    private int savedCount;
    private int floatStaleCount;
    private int savedFloatStaleCount;
    /** Output ranges an optional producer wrote while no copy of them existed (null begin: a free slot). */
    private final OptionalWrites optionalWrites = new OptionalWrites();
    private long bytes;

    /**
     * {@code allocate} makes float32 device memory of a given number of elements (each holds 2 bf16), also while a step
     * graph is captured or replayed; {@code conversion} makes the conversions.
     */
    public Bf16Shadows(Bf16Conversion conversion, LongFunction<CudaTensor> allocate) {
        this.conversion = conversion;
        this.allocate = allocate;
    }

    /**
     * Marks every copy overlapping {@code tensor} stale: it is about to be written (null: nothing). Copy-only values
     * that the write does not wholly cover are converted back into the float32 tensor first.
     */
    public void written(Tensor tensor) {
        if (!(tensor instanceof CudaTensor t) || t.holdsInts()) {
            return;
        }
        long b = t.address();
        long e = b + 4 * t.size();
        for (int i = 0; i < count; i++) {
            if (begin[i] < e && b < end[i]) {
                if (floatStale[i] && !(b <= begin[i] && end[i] <= e)) {
                    writeBack(i);
                }
                clearFloatStale(i);
                valid[i] = false;
                lastWriterOptional[i] = false;
            }
        }
        optionalWrites.remove(b, e);
    }

    /**
     * Before a kernel or a host read takes the float32 values of {@code tensor} (null: nothing): copy-only values
     * overlapping it are converted back into it.
     */
    public void floatsRead(Tensor tensor) {
        if (floatStaleCount == 0 || !(tensor instanceof CudaTensor t) || t.holdsInts()) {
            return;
        }
        floatsRead(t.address(), t.address() + 4 * t.size());
    }

    private void floatsRead(long b, long e) {
        for (int i = 0; i < count && floatStaleCount > 0; i++) {
            if (floatStale[i] && begin[i] < e && b < end[i]) {
                writeBack(i);
            }
        }
    }

    private void writeBack(int i) {
        conversion.convertBack(begin[i], copyAddress[i], (end[i] - begin[i]) / 4);
        clearFloatStale(i);
    }

    private void clearFloatStale(int i) {
        if (floatStale[i]) {
            floatStale[i] = false;
            floatStaleCount--;
        }
    }

    /**
     * The address of the bf16 copy of out[0, n) for the kernel that is about to write out to fill in the same pass
     * (every element of it), marked valid; or 0 (the kernel writes none) where no product has asked for a copy of out
     * or of a view inside it.
     */
    public long forProducer(CudaTensor out, long n) {
        long b = out.address();
        long e = b + 4 * n;
        int exact = find(b, e);
        if (exact < 0) {
            boolean wanted = false;
            for (int i = 0; i < count && !wanted; i++) {
                wanted = b <= begin[i] && end[i] <= e;
            }
            if (!wanted) {
                return 0;
            }
            exact = add(b, e);
        }
        valid[exact] = true;
        return copyAddress[exact];
    }

    /**
     * As {@link #forProducer}, for a producer that then writes only the copy (not the float32 tensor) where it returns
     * an address: the float32 values are converted back from the copy when something reads them as float32.
     */
    public long forCopyOnlyProducer(CudaTensor out, long n) {
        long address = forProducer(out, n);
        if (address != 0) {
            int exact = find(out.address(), out.address() + 4 * n);
            if (!floatStale[exact]) {
                floatStale[exact] = true;
                floatStaleCount++;
            }
        }
        return address;
    }

    /**
     * As {@link #forProducer}, for a producer whose copy is optional, a matrix product's epilogue: it writes a copy
     * only where a consumer had to convert out after such a product wrote it (qkv for attention; not the logits,
     * whose copy the cross-entropy's dlogits give), else returns 0.
     */
    public long forOptionalProducer(CudaTensor out, long n) {
        int exact = find(out.address(), out.address() + 4 * n);
        if (exact < 0) {
            optionalWrites.add(out.address(), out.address() + 4 * n);
            return 0;
        }
        if (!optionalWanted[exact]) {
            lastWriterOptional[exact] = true;
            return 0;
        }
        valid[exact] = true;
        return copyAddress[exact];
    }

    /**
     * The bf16 copy of src[0, n) for a kernel that takes its operands as tensors (attention): src's own copy, valid, or
     * converted now (made on first use).
     */
    public CudaTensor operandTensor(CudaTensor src, long n) {
        long b = src.address();
        int exact = find(b, b + 4 * n);
        if (exact < 0) {
            exact = add(b, b + 4 * n);
        }
        convertUnlessValid(exact, src, n);
        return copies[exact];
    }

    private void convertUnlessValid(int exact, CudaTensor src, long n) {
        if (!valid[exact]) {
            floatsRead(begin[exact], end[exact]);
            optionalWanted[exact] |= lastWriterOptional[exact];
            conversion.convertInto(copyAddress[exact], src, n);
            valid[exact] = true;
        }
    }

    /**
     * The address of a bf16 copy of src[0, n) for a product to read: a valid copy of src or of a tensor around it
     * (16-byte aligned), else src converted now into its own copy (made on first use).
     */
    public long operand(CudaTensor src, long n) {
        long b = src.address();
        long e = b + 4 * n;
        for (int i = 0; i < count; i++) {
            if (valid[i] && begin[i] <= b && e <= end[i] && ((b - begin[i]) / 2) % 16 == 0) {
                return copyAddress[i] + (b - begin[i]) / 2;
            }
        }
        int exact = find(b, e);
        if (exact < 0) {
            exact = add(b, e);
        }
        convertUnlessValid(exact, src, n);
        return copyAddress[exact];
    }

    /** Remembers which copies are valid now: before a step that may run more than once. */
    public void save() {
        if (saved.length < count) {
            saved = new boolean[begin.length];
        }
        if (savedFloatStale.length < count) {
            savedFloatStale = new boolean[begin.length];
        }
        System.arraycopy(valid, 0, saved, 0, count);
        System.arraycopy(floatStale, 0, savedFloatStale, 0, count);
        savedCount = count;
        savedFloatStaleCount = floatStaleCount;
    }

    /** Back to the validity of {@link #save} (copies made since are stale): before each run of a step. */
    public void restore() {
        System.arraycopy(saved, 0, valid, 0, savedCount);
        Arrays.fill(valid, savedCount, count, false);
        System.arraycopy(savedFloatStale, 0, floatStale, 0, savedCount);
        Arrays.fill(floatStale, savedCount, count, false);
        floatStaleCount = savedFloatStaleCount;
    }

    /** Bytes of device memory the copies take. */
    public long bytes() {
        return bytes;
    }

    private int find(long b, long e) {
        for (int i = 0; i < count; i++) {
            if (begin[i] == b && end[i] == e) {
                return i;
            }
        }
        return -1;
    }

    private int add(long b, long e) {
        if (count == begin.length) {
            int size = 2 * count;
            begin = Arrays.copyOf(begin, size);
            end = Arrays.copyOf(end, size);
            copyAddress = Arrays.copyOf(copyAddress, size);
            valid = Arrays.copyOf(valid, size);
            lastWriterOptional = Arrays.copyOf(lastWriterOptional, size);
            optionalWanted = Arrays.copyOf(optionalWanted, size);
            floatStale = Arrays.copyOf(floatStale, size);
            copies = Arrays.copyOf(copies, size);
        }
        long elements = (e - b) / 4;
        CudaTensor copy = allocate.apply(Math.max(1, (elements + 1) / 2));
        bytes += 4 * Math.max(1, (elements + 1) / 2);
        begin[count] = b;
        end[count] = e;
        copyAddress[count] = copy.address();
        copies[count] = copy;
        valid[count] = false;
        lastWriterOptional[count] = optionalWrites.contains(b, e);
        optionalWanted[count] = false;
        floatStale[count] = false;
        return count++;
    }

    /**
     * The output ranges that optional producers wrote while no copy of them existed, until something else writes over
     * them: a consumer that makes the copy of such a range has to convert it, so the producer writes the copy from then
     * on. Slots are reused: the same ranges come back every step, and nothing is allocated once they have been seen.
     */
    private static final class OptionalWrites {
        private long[] begin = new long[16];
        private long[] end = new long[16];
        private boolean[] used = new boolean[16];

        void add(long b, long e) {
            int free = -1;
            for (int i = 0; i < begin.length; i++) {
                if (used[i] && begin[i] == b && end[i] == e) {
                    return;
                }
                if (!used[i] && (free < 0 || (begin[i] == b && end[i] == e))) {
                    free = i;
                }
            }
            if (free < 0) {
                free = begin.length;
                begin = Arrays.copyOf(begin, 2 * free);
                end = Arrays.copyOf(end, 2 * free);
                used = Arrays.copyOf(used, 2 * free);
            }
            begin[free] = b;
            end[free] = e;
            used[free] = true;
        }

        void remove(long b, long e) {
            for (int i = 0; i < begin.length; i++) {
                if (used[i] && begin[i] < e && b < end[i]) {
                    used[i] = false;
                }
            }
        }

        boolean contains(long b, long e) {
            for (int i = 0; i < begin.length; i++) {
                if (used[i] && begin[i] == b && end[i] == e) {
                    return true;
                }
            }
            return false;
        }
    }
}
