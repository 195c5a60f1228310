package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.blocks;

import java.util.List;
import java.util.function.LongFunction;
import jcuda.driver.CUfunction;

/**
 * The matrix products of a linear layer on Hopper tensor cores (wgmma, {@code matmul_hopper.cuh}, in the Hopper
 * variant of {@code matmul.cu} only, which the loader takes on cc 9.0), from straight bf16 copies of the operands
 * (the caller's, {@link Bf16Shadows}): every product is out (M, N) (+)= A (M, K) . B (N, K)^T with each operand read
 * K-major or MN-major by wgmma itself (forward: both K-major; dinp: dout K-major, weight N-major; dweight: dout and inp
 * both MN-major), so nothing is transposed in memory. By default every product runs on the persistent kernels fed by
 * TMA ({@link PersistentTile}, operands read through {@link TensorMaps}); the cp.async kernels ({@link Tile}) stay
 * for comparison ({@link #force}).
 */
public final class HopperMatmul {
    /** The system property that picks a block tile ({@code 128x128s4w1}, ...) instead of the default 128x128s3. */
    public static final String TILE_PROPERTY = "streamtrain.cuda.wgmma.tile";
    private static final int THREADS = 256;
    private static final int DEPTH = 64;
    private static final String DEFAULT_TILE = "128x128s3";
    /** The system property: the depth (K = OC) over which a dinp product splits K even where its tiles fill the SMs. */
    public static final String DINP_SPLIT_DEPTH_PROPERTY = "streamtrain.cuda.wgmma.dinpSplitDepth";

    /**
     * One compiled block tile: 128 x columns, {@code stages} stages of 64 deep, blocks per SM that fit; the forward
     * kernels (both operands K-major) and the backward ones: dinp (B N-major) stored or added, dweight (both MN-major).
     */
    public record Tile(String name, CUfunction store, CUfunction accumulate, CUfunction storeKn, CUfunction accumulateKn,
                       CUfunction accumulateMn, int columns, int stages, int blocksPerSm, String storeLabel,
                       String dinpStoreLabel, String dinpLabel, String dweightLabel) {
        int sharedBytes() {
            return stages * (128 + columns) * DEPTH * 2 + 1024;  // + the alignment of the stages to 1024 bytes
        }
    }

    /**
     * The persistent kernels fed by TMA ({@code matmul_tma_*_p128x128s6}): tiles of 128 x 128, 6 stages of 64 deep, one
     * block of 384 threads per SM, two consumer warpgroups on alternate work units (ping-pong); forward (both operands
     * K-major), dinp stored (weight N-major), dinp added with K split (the output head's), dweight added (both
     * MN-major, K = the token count split for the fullest waves).
     */
    public record PersistentTile(String name, CUfunction store, CUfunction storeKn, CUfunction accumulateKn,
                                 CUfunction accumulateMn, String storeLabel, String dinpStoreLabel, String dinpLabel,
                                 String dweightLabel) {
        static final int STAGES = 6;

        static int sharedBytes() {
            // the stages of two 128 x 64 bf16 tiles, their alignment to 1024 bytes, two mbarriers per stage
            return STAGES * 2 * 128 * DEPTH * 2 + 1024 + 16 * STAGES;
        }
    }

    private static final int PERSISTENT_THREADS = 384;
    private static final String DEFAULT_PERSISTENT = "p128x128s6";

    private final Launcher launcher;
    private final int multiprocessors;
    private final List<Tile> tiles;
    private final List<PersistentTile> persistentTiles;
    private final TensorMaps maps;
    private PersistentTile persistent;
    private final int dinpSplitDepth = Integer.getInteger(DINP_SPLIT_DEPTH_PROPERTY, 4096);
    private Tile forced;

    private HopperMatmul(KernelLookup kernels, Launcher launcher, int multiprocessors, TensorMaps maps) {
        this.launcher = launcher;
        this.multiprocessors = multiprocessors;
        this.maps = maps;
        this.tiles = List.of(tile(kernels, 128, 3, "", 2), tile(kernels, 128, 3, "w1", 2), tile(kernels, 128, 4, "w1", 1));
        this.persistentTiles = List.of(persistentTile(kernels, DEFAULT_PERSISTENT));
        this.persistent = persistentTiles.get(0);
        String property = System.getProperty(TILE_PROPERTY, "auto").trim();
        if (!property.equals("auto")) {
            force(property);
        }
    }

    /**
     * The wgmma products where the device loaded the Hopper variant of {@code matmul.cu} (cc 9.0), else null;
     * {@code allocate} makes the device memory of the tensor maps (that many floats; inside a step graph's calls too).
     */
    public static HopperMatmul create(KernelLookup kernels, Launcher launcher, Grid grid,
                                      LongFunction<CudaTensor> allocate) {
        return kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_store_" + DEFAULT_TILE, 0) == null ? null
                : new HopperMatmul(kernels, launcher, grid.multiprocessors(), new TensorMaps(allocate, launcher));
    }

    /** The persistent kernels of tile {@code name}. */
    private static PersistentTile persistentTile(KernelLookup kernels, String name) {
        int shared = PersistentTile.sharedBytes();
        return new PersistentTile(name, kernels.hopperFunction(KernelFamily.MATMUL, "matmul_tma_store_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_tma_store_kn_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_tma_accumulate_kn_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_tma_accumulate_mn_" + name, shared),
                "matmul_tma_store_" + name, "matmul_tma_store_kn_" + name + " dinp",
                "matmul_tma_accumulate_kn_" + name + " dinp", "matmul_tma_accumulate_mn_" + name + " dweight");
    }

    /** The kernels of block tile 128 x columns, stages deep; suffix w1: one stage's wgmma in flight (see the .cu). */
    private static Tile tile(KernelLookup kernels, int columns, int stages, String suffix, int blocksPerSm) {
        String name = "128x" + columns + "s" + stages + suffix;
        int shared = stages * (128 + columns) * DEPTH * 2 + 1024;  // Tile.sharedBytes
        // the launch labels are made once: nothing is allocated per product
        return new Tile(name, kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_store_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_accumulate_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_store_kn_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_accumulate_kn_" + name, shared),
                kernels.hopperFunction(KernelFamily.MATMUL, "matmul_wgmma_accumulate_mn_" + name, shared), columns,
                stages, blocksPerSm, "matmul_wgmma_store_" + name, "matmul_wgmma_store_kn_" + name + " dinp",
                "matmul_wgmma_accumulate_kn_" + name + " dinp", "matmul_wgmma_accumulate_mn_" + name + " dweight");
    }

    /**
     * Takes block tile {@code name} for the products: a cp.async tile (e.g. {@code 128x128s4w1}) for every product,
     * or the persistent one ({@code p128x128s6}, the default) for every product; {@code auto}: the default.
     */
    public void force(String name) {
        forced = null;
        persistent = null;
        for (PersistentTile tile : persistentTiles) {
            if (tile.name().equals(name.equals("auto") ? DEFAULT_PERSISTENT : name)) {
                persistent = tile;
                return;
            }
        }
        for (Tile tile : tiles) {
            if (tile.name().equals(name)) {
                forced = tile;
                return;
            }
        }
        throw new IllegalArgumentException("no wgmma matmul tile " + name + " (-D" + TILE_PROPERTY + "): one of auto, "
                + tileNames());
    }

    /** The tile names, for tests and benchmarks: the cp.async tiles, then the persistent ones. */
    public List<String> tileNames() {
        return java.util.stream.Stream.concat(tiles.stream().map(Tile::name),
                persistentTiles.stream().map(PersistentTile::name)).toList();
    }

    /**
     * out (N, OC) = inp (N, C) . weight (OC, C)^T + bias, from bf16 copies of inp and weight (device addresses); and
     * out's bf16 copy at outBf16 unless it is 0.
     */
    public void forward(CudaTensor out, long outBf16, long inpBf16, long weightBf16, CudaTensor bias, int N, int C,
                        int OC) {
        if (persistent != null) {
            persistent(persistent.store(), persistent.storeLabel(), false, false, false, out, outBf16, inpBf16, weightBf16,
                    bias, N, OC, C, C, C, OC, C);
            return;
        }
        Tile tile = tile();
        store(tile.store(), tile.storeLabel(), out, outBf16, inpBf16, weightBf16, bias, N, OC, C, C, C, OC);
    }

    /**
     * out (M, N) = A (M, K) . B^T + bias (N, or null), and its bf16 copy unless outBf16 is 0, or (accumulate) out +=
     * A . B^T with K split by kPerSplit (a multiple of 64), on the persistent kernel: A K-major or (aMnMajor) M-major,
     * B K-major or (bNMajor) N-major; one block per SM, or per work unit where there are fewer.
     */
    private void persistent(CUfunction kernel, String label, boolean accumulate, boolean aMnMajor, boolean bNMajor,
                            CudaTensor out, long outBf16, long a, long b, CudaTensor bias, int M, int N, int K, int lda,
                            int ldb, int ldo, int kPerSplit) {
        // the maps first: a new one is copied up on the stream, ahead of the launch
        long mapA = aMnMajor ? maps.map(a, M, K, lda, 64, DEPTH) : maps.map(a, K, M, lda, DEPTH, 128);
        long mapB = bNMajor ? maps.map(b, N, K, ldb, 64, DEPTH) : maps.map(b, K, N, ldb, DEPTH, 128);
        int units = blocks(M, 128) * blocks(N, 128) * splits(K, kPerSplit);
        launcher.begin().pointer(out);
        if (!accumulate) {
            launcher.int64(outBf16);
        }
        launcher.int64(mapA).int64(mapB);
        if (!accumulate) {
            launcher.pointer(bias);
        }
        launcher.int32(M).int32(N).int32(K).int32(ldo);
        if (accumulate) {
            launcher.int32(kPerSplit);
        }
        launcher.launch(kernel, label, Math.min(units, multiprocessors), 1, 1, PERSISTENT_THREADS, 1,
                PersistentTile.sharedBytes());
    }

    /** K per split of an accumulating persistent product: the fullest waves of its units over the SMs. */
    private int persistentKPerSplit(int M, int N, int K) {
        return KSplit.kPerSplit(multiprocessors, blocks(M, 128) * blocks(N, 128), K, DEPTH);
    }

    /** out (M, N) = A (M, K) . B^T + bias (N, or null), and its bf16 copy unless outBf16 is 0: K not split. */
    private void store(CUfunction kernel, String label, CudaTensor out, long outBf16, long a, long b, CudaTensor bias,
                       int M, int N, int K, int lda, int ldb, int ldo) {
        Tile tile = tile();
        launcher.begin().pointer(out).int64(outBf16).int64(a).int64(b).pointer(bias)
                .int32(M).int32(N).int32(K).int32(lda).int32(ldb).int32(ldo)
                .launch(kernel, label, blocks(N, tile.columns()), blocks(M, 128), 1, THREADS, 1, tile.sharedBytes());
    }

    /**
     * Whether {@link #backward} adds dinp (N, C) into what is there (its K = OC split over blocks, to fill the GPU),
     * so that the caller must zero it first; else dinp is stored.
     */
    public boolean addsIntoInputGradient(int N, int C, int OC) {
        return splits(OC, dinpKPerSplit(N, C, OC)) > 1;
    }

    /**
     * K per split of the dinp product (K = OC): not split (one block per output tile, dinp stored, no zero-fill, no
     * atomics) where its tiles give every SM one and OC is at most {@link #DINP_SPLIT_DEPTH_PROPERTY} (4096: every layer
     * of our models), else split for the fullest waves (the output head, and outputs of few tiles).
     */
    private int dinpKPerSplit(int N, int C, int OC) {
        Tile tile = tile();
        int tileCount = blocks(C, tile.columns()) * blocks(N, 128);
        return OC <= dinpSplitDepth && tileCount >= multiprocessors ? OC : kPerSplit(tile, tileCount, OC);
    }

    /**
     * dinp (N, C) = dout (N, OC) . weight (OC, C) (added into dinp where {@link #addsIntoInputGradient}) and dweight
     * (OC, C) += dout^T (OC, N) . inp (N, C), from bf16 copies of dout, weight and inp (device addresses); C and OC
     * multiples of 8. dinpBf16: where dinp is stored, the address of its bf16 copy to write too (0: none).
     */
    public void backward(CudaTensor dinp, long dinpBf16, CudaTensor dweight, long doutBf16, long weightBf16, long inpBf16,
                         int N, int C, int OC) {
        Tile tile = tile();
        PersistentTile p = persistent;
        boolean all = p != null;
        // dinp: M = N, N = C, K = OC; A = dout (N, OC) K-major, B = weight read N-major as [k = oc][n = c]
        if (addsIntoInputGradient(N, C, OC)) {
            if (all) {
                persistent(p.accumulateKn(), p.dinpLabel(), true, false, true, dinp, 0L, doutBf16, weightBf16, null, N,
                        C, OC, OC, C, C, persistentKPerSplit(N, C, OC));
            } else {
                accumulate(tile.accumulateKn(), tile.dinpLabel(), dinp, doutBf16, weightBf16, N, C, OC, OC, C, C,
                        dinpKPerSplit(N, C, OC));
            }
        } else if (p != null) {
            persistent(p.storeKn(), p.dinpStoreLabel(), false, false, true, dinp, dinpBf16, doutBf16, weightBf16, null,
                    N, C, OC, OC, C, C, OC);
        } else {
            store(tile.storeKn(), tile.dinpStoreLabel(), dinp, dinpBf16, doutBf16, weightBf16, null, N, C, OC, OC, C, C);
        }
        // dweight: M = OC, N = C, K = N; A = dout read M-major as [k = row][m = oc], B = inp as [k = row][n = c]
        if (all) {
            persistent(p.accumulateMn(), p.dweightLabel(), true, true, true, dweight, 0L, doutBf16, inpBf16, null, OC, C,
                    N, OC, C, C, persistentKPerSplit(OC, C, N));
        } else {
            accumulate(tile.accumulateMn(), tile.dweightLabel(), dweight, doutBf16, inpBf16, OC, C, N, OC, C, C,
                    kPerSplit(tile, blocks(C, tile.columns()) * blocks(OC, 128), N));
        }
    }

    private void accumulate(CUfunction kernel, String label, CudaTensor out, long a, long b, int M, int N, int K,
                            int lda, int ldb, int ldo, int split) {
        Tile tile = tile();
        launcher.begin().pointer(out).int64(a).int64(b).int32(M).int32(N).int32(K).int32(lda).int32(ldb).int32(ldo)
                .int32(split)
                .launch(kernel, label, blocks(N, tile.columns()), blocks(M, 128), splits(K, split), THREADS, 1,
                        tile.sharedBytes());
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
}
