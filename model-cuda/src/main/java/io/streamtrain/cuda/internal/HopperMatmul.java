package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.blocks;

import java.util.List;
import java.util.function.LongFunction;
import jcuda.driver.CUfunction;

/**
 * The matrix products of a linear layer on Hopper tensor cores (wgmma, {@code matmul_hopper.cuh}, in the Hopper
 * variant of {@code matmul.cu} only, which the loader takes on cc 9.0), from
 * bf16 operands: every product is out (M, N) (+)= A (M, K) . B (N, K)^T with both operands K-contiguous, so the
 * backward products take transposed bf16 copies ({@code to_bf16_transposed}) of the operands that are not.
 * The caller converts the operands that are already K-contiguous (it shares those copies with its other products).
 */
public final class HopperMatmul {
    /** The system property that picks a block tile ({@code 128x128s4w1}, ...) instead of the default 128x128s3. */
    public static final String TILE_PROPERTY = "streamtrain.cuda.wgmma.tile";
    private static final int THREADS = 256;
    private static final int DEPTH = 64;

    /** One compiled block tile: 128 x columns, {@code stages} stages of 64 deep, blocks per SM that fit. */
    public record Tile(String name, CUfunction store, CUfunction accumulate, int columns, int stages, int blocksPerSm,
                       String storeLabel, String dinpStoreLabel, String dinpLabel, String dweightLabel) {
        int sharedBytes() {
            return stages * (128 + columns) * DEPTH * 2 + 1024;  // + the alignment of the stages to 1024 bytes
        }
    }

    private final Launcher launcher;
    private final LongFunction<CudaTensor> allocate;
    private final int multiprocessors;
    private final List<Tile> tiles;
    private final CUfunction toBf16Transposed;
    /** bf16 copies: weight^T, dout^T, inp^T, dout; grown on first use. */
    private final CudaTensor[] scratch = new CudaTensor[4];
    private Tile forced;

    /**
     * @param allocate float32 device memory of the given number of elements (scratch, grown on first use only)
     */
    private HopperMatmul(KernelLookup kernels, Launcher launcher, LongFunction<CudaTensor> allocate, int multiprocessors,
                         CUfunction toBf16Transposed) {
        this.launcher = launcher;
        this.allocate = allocate;
        this.multiprocessors = multiprocessors;
        this.tiles = List.of(tile(kernels, 128, 3, "", 2), tile(kernels, 128, 3, "w1", 2), tile(kernels, 128, 4, "w1", 1));
        this.toBf16Transposed = toBf16Transposed;
        String property = System.getProperty(TILE_PROPERTY, "auto").trim();
        if (!property.equals("auto")) {
            force(property);
        }
    }

    /** The kernels of block tile 128 x columns, stages deep; suffix w1: one stage's wgmma in flight (see the .cu). */
    /**
     * The wgmma products where the device loaded the Hopper variant of {@code matmul.cu} (cc 9.0), else null.
     *
     * @param allocate float32 device memory of the given number of elements (scratch, grown on first use only)
     */
    public static HopperMatmul create(KernelLookup kernels, Launcher launcher, LongFunction<CudaTensor> allocate,
                                      Grid grid) {
        CUfunction transposed = kernels.hopperFunction(KernelFamily.MATMUL, "to_bf16_transposed", 0);
        return transposed == null ? null
                : new HopperMatmul(kernels, launcher, allocate, grid.multiprocessors(), transposed);
    }

    private static Tile tile(KernelLookup kernels, int columns, int stages, String suffix, int blocksPerSm) {
        String name = "128x" + columns + "s" + stages + suffix;
        int shared = stages * (128 + columns) * DEPTH * 2 + 1024;  // Tile.sharedBytes
        // the launch labels are made once: nothing is allocated per product
        return new Tile(name, kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_store_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_accumulate_" + name, shared), columns,
                stages, blocksPerSm, "matmul_wgmma_store_" + name, "matmul_wgmma_store_" + name + " dinp",
                "matmul_wgmma_accumulate_" + name + " dinp",
                "matmul_wgmma_accumulate_" + name + " dweight");
    }

    /** Takes block tile {@code name} (e.g. {@code 128x128s4w1}) for every product; {@code auto}: the default tile. */
    public void force(String name) {
        if (name.equals("auto")) {
            forced = null;
            return;
        }
        for (Tile tile : tiles) {
            if (tile.name().equals(name)) {
                forced = tile;
                return;
            }
        }
        throw new IllegalArgumentException("no wgmma matmul tile " + name + " (-D" + TILE_PROPERTY + "): one of auto, "
                + tiles.stream().map(Tile::name).toList());
    }

    /** The tile names, for tests and benchmarks. */
    public List<String> tileNames() {
        return tiles.stream().map(Tile::name).toList();
    }

    /** out (N, OC) = inp (N, C) . weight (OC, C)^T + bias, from bf16 copies of inp and weight. */
    public void forward(CudaTensor out, CudaTensor inpBf16, CudaTensor weightBf16, CudaTensor bias, int N, int C, int OC) {
        store(out, inpBf16, weightBf16, bias, N, OC, C, C, C, OC, tile().storeLabel());
    }

    /** out (M, N) = A (M, K) . B (N, K)^T + bias (N, or null): one block per output tile, K not split. */
    private void store(CudaTensor out, CudaTensor a, CudaTensor b, CudaTensor bias, int M, int N, int K, int lda,
                       int ldb, int ldo, String label) {
        Tile tile = tile();
        launcher.begin().pointer(out).pointer(a).pointer(b).pointer(bias)
                .int32(M).int32(N).int32(K).int32(lda).int32(ldb).int32(ldo)
                .launch(tile.store(), label, blocks(N, tile.columns()), blocks(M, 128), 1,
                        THREADS, 1, tile.sharedBytes());
    }

    /**
     * Whether {@link #backward} adds dinp (N, C) into what is there (its K = OC split over blocks, to fill the GPU),
     * so that the caller must zero it first; else dinp is stored.
     */
    public boolean addsIntoInputGradient(int N, int C, int OC) {
        Tile tile = tile();
        return splits(OC, kPerSplit(tile, blocks(C, tile.columns()) * blocks(N, 128), OC)) > 1;
    }

    /**
     * dinp (N, C) = dout (N, OC) . weight (OC, C) (added into dinp where {@link #addsIntoInputGradient}) and dweight
     * (OC, C) += dout^T (OC, N) . inp (N, C), from the fp32 dout, inp and weight (their bf16 copies, straight and
     * transposed, are made here).
     */
    public void backward(CudaTensor dinp, CudaTensor dweight, CudaTensor dout, CudaTensor inp, CudaTensor weight, int N,
                         int C, int OC) {
        int paddedN = (N + 7) / 8 * 8;  // rows of the transposed copies start 16-byte aligned; the padding is zero
        // every conversion launches before the products' arguments are packed
        CudaTensor weightT = transposed(0, null, weight, OC, C, OC);
        CudaTensor doutBf16 = scratch(3, (long) N * OC);
        CudaTensor doutT = transposed(1, doutBf16, dout, N, OC, paddedN);  // and dout straight, in one pass
        CudaTensor inpT = transposed(2, null, inp, N, C, paddedN);
        if (addsIntoInputGradient(N, C, OC)) {
            accumulate(dinp, doutBf16, weightT, N, C, OC, OC, OC, C, true);
        } else {
            store(dinp, doutBf16, weightT, null, N, C, OC, OC, OC, C, tile().dinpStoreLabel());
        }
        accumulate(dweight, doutT, inpT, OC, C, paddedN, paddedN, paddedN, C, false);
    }

    private void accumulate(CudaTensor out, CudaTensor a, CudaTensor b, int M, int N, int K, int lda, int ldb, int ldo,
                            boolean dinp) {
        Tile tile = tile();
        int split = kPerSplit(tile, blocks(N, tile.columns()) * blocks(M, 128), K);
        launcher.begin().pointer(out).pointer(a).pointer(b).int32(M).int32(N).int32(K).int32(lda).int32(ldb).int32(ldo)
                .int32(split)
                .launch(tile.accumulate(), dinp ? tile.dinpLabel() : tile.dweightLabel(),
                        blocks(N, tile.columns()), blocks(M, 128), splits(K, split), THREADS, 1, tile.sharedBytes());
    }

    /**
     * The tile forced, else 128 x 128 in 3 stages, two blocks per SM: the fastest on every product of the small and
     * gpt2 models in MatmulBench on the H200 (model-cuda/NOTES.md), though by a few percent on some.
     */
    private Tile tile() {
        return forced != null ? forced : tiles.get(0);
    }

    private int kPerSplit(Tile tile, int tileCount, int K) {
        return KSplit.kPerSplit(tile.blocksPerSm() * multiprocessors, tileCount, K, DEPTH);
    }

    private static int splits(int K, int kPerSplit) {
        return KSplit.splits(K, kPerSplit);
    }

    /** Scratch {@code slot} for {@code bf16Elements} bf16, grown (once) to fit. */
    private CudaTensor scratch(int slot, long bf16Elements) {
        long elements = (bf16Elements + 1) / 2;  // float32 memory holding 2 bf16 per element
        if (scratch[slot] == null || scratch[slot].size() < elements) {
            scratch[slot] = allocate.apply(Math.max(elements, 1024));
        }
        return scratch[slot];
    }

    /**
     * bf16(src (rows, cols))^T as (cols, ld) into scratch {@code slot}, columns [rows, ld) zero; and bf16(src) into
     * {@code straight} unless it is null.
     */
    private CudaTensor transposed(int slot, CudaTensor straight, CudaTensor src, int rows, int cols, int ld) {
        CudaTensor out = scratch(slot, (long) cols * ld);
        launcher.begin().pointer(out).pointer(straight).pointer(src).int32(rows).int32(cols).int32(ld)
                .launch(toBf16Transposed, "to_bf16_transposed", blocks(cols, 32), blocks(ld, 32), 1, 32, 8, 0);
        return out;
    }
}
