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
 * the device memory really has. Not thread-safe.
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
    private CudaTensor[] copies = new CudaTensor[64];
    private boolean[] saved = new boolean[64];
    private int count;
    private int savedCount;
    private long bytes;

    /**
     * {@code allocate} makes float32 device memory of a given number of elements (each holds 2 bf16), also while a step
     * graph is captured or replayed; {@code conversion} makes the conversions.
     */
    public Bf16Shadows(Bf16Conversion conversion, LongFunction<CudaTensor> allocate) {
        this.conversion = conversion;
        this.allocate = allocate;
    }

    /** Marks every copy overlapping {@code tensor} stale: it is about to be written (null: nothing). */
    public void written(Tensor tensor) {
        if (!(tensor instanceof CudaTensor t) || t.holdsInts()) {
            return;
        }
        long b = t.address();
        long e = b + 4 * t.size();
        for (int i = 0; i < count; i++) {
            if (begin[i] < e && b < end[i]) {
                valid[i] = false;
                lastWriterOptional[i] = false;
            }
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
     * As {@link #forProducer}, for a producer whose copy is optional, a matrix product's epilogue: it writes a copy
     * only where a consumer had to convert out after such a product wrote it (qkv for attention; not the logits,
     * whose copy the cross-entropy's dlogits give), else returns 0.
     */
    public long forOptionalProducer(CudaTensor out, long n) {
        int exact = find(out.address(), out.address() + 4 * n);
        if (exact < 0) {
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
        System.arraycopy(valid, 0, saved, 0, count);
        savedCount = count;
    }

    /** Back to the validity of {@link #save} (copies made since are stale): before each run of a step. */
    public void restore() {
        System.arraycopy(saved, 0, valid, 0, savedCount);
        Arrays.fill(valid, savedCount, count, false);
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
        lastWriterOptional[count] = false;
        optionalWanted[count] = false;
        return count++;
    }
}
