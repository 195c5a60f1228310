package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.blocks;

import io.streamtrain.model.Tensor;
import java.util.List;
import java.util.function.LongFunction;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code matmul.cu}: the products of a linear layer, either on the register-staged fp32-tile
 * kernels (128 x 128 tiles, split-K with atomics for the accumulating products) or, from
 * {@link #DEFAULT_PIPELINED_THRESHOLD} multiply-adds, on the pipelined kernels that read bf16 copies of the operands
 * ({@link Bf16Shadows}: written by their producers, or converted once per write) through cp.async stages; on cc 9.0
 * those products run on the wgmma kernels of {@link HopperMatmul} instead, unless {@link #WGMMA_PROPERTY} is false.
 */
public final class MatmulLauncher {
    private static final int MATMUL_TILE = 128;
    private static final int MATMUL_TILE_K = 32;  // the depth of the fp32 path's tiles; K splits are multiples of it
    private static final int MATMUL_THREADS = 256;
    /** Multiply-adds from which a matrix product takes the pipelined bf16 path (the conversions pay off). */
    public static final long DEFAULT_PIPELINED_THRESHOLD = 1L << 30;
    private static final int MATMUL_PIPELINED_SHARED_BYTES = 112 * 1024;
    /** The system property that turns the wgmma matrix products of cc 9.0 off ({@code false}; on by default). */
    public static final String WGMMA_PROPERTY = "streamtrain.cuda.wgmma";

    /** The three pipelined products of one block tile (rows x columns x depth), thread count and stage count. */
    private record PipelinedMatmul(CUfunction forward, CUfunction backwardInput, CUfunction backwardWeight,
                                   int tileRows, int tileColumns, int depth, int threads, int stages) {
    }

    private final Launcher launcher;
    private final TensorChecks args;
    private final Grid grid;
    private final Bf16Shadows bf16;
    /** Its fill zeroes dinp before a product that adds into it (split-K blocks, the compute_80 kernels). */
    private final AdamwLauncher fills;
    private final CUfunction matmulForward, matmulBackwardInput, matmulBackwardWeight, matmulBackwardBias;
    /** The bias gradient from dout's bf16 copy, where the products read that copy. */
    private final CUfunction matmulBackwardBiasBf16;
    /** The pipelined products: block tile 128 x 128 x 64, 8 warps, 3 stages (NOTES.md says what else was tried). */
    private final PipelinedMatmul pipelinedMatmul;
    private long pipelinedMatmulThreshold = DEFAULT_PIPELINED_THRESHOLD;
    /** The wgmma products (cc 9.0 only, else null): the pipelined products' path there unless turned off. */
    private final HopperMatmul hopper;
    private boolean useHopper;

    public MatmulLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Grid grid, Bf16Shadows bf16,
                          AdamwLauncher fills, LongFunction<CudaTensor> allocateInStep) {
        this.launcher = launcher;
        this.fills = fills;
        this.args = args;
        this.grid = grid;
        this.bf16 = bf16;
        matmulForward = kernels.function(KernelFamily.MATMUL, "matmul_forward");
        matmulBackwardInput = kernels.function(KernelFamily.MATMUL, "matmul_backward_input");
        matmulBackwardWeight = kernels.function(KernelFamily.MATMUL, "matmul_backward_weight");
        matmulBackwardBias = kernels.function(KernelFamily.MATMUL, "matmul_backward_bias");
        matmulBackwardBiasBf16 = kernels.function(KernelFamily.MATMUL, "matmul_backward_bias_bf16");
        pipelinedMatmul = new PipelinedMatmul(
                kernels.function(KernelFamily.MATMUL, "matmul_forward_bf16_128x128x64", MATMUL_PIPELINED_SHARED_BYTES),
                kernels.function(KernelFamily.MATMUL, "matmul_backward_input_bf16_128x128x64",
                        MATMUL_PIPELINED_SHARED_BYTES),
                kernels.function(KernelFamily.MATMUL, "matmul_backward_weight_bf16_128x128x64",
                        MATMUL_PIPELINED_SHARED_BYTES), 128, 128, 64, 256, 3);
        hopper = HopperMatmul.create(kernels, launcher, grid, allocateInStep);
        useHopper = hopper != null && wgmmaProperty();
    }

    private static boolean wgmmaProperty() {
        String value = System.getProperty(WGMMA_PROPERTY, "true").trim();
        if (!value.equals("true") && !value.equals("false")) {
            throw new IllegalArgumentException("-D" + WGMMA_PROPERTY + "=" + value + " must be true or false");
        }
        return value.equals("true");
    }

    /** Turns the wgmma products on or off where there are any (cc 9.0). */
    public void hopperMatmul(boolean enabled) {
        useHopper = enabled && hopper != null;
    }

    /** Whether the pipelined products run on the wgmma kernels. */
    public boolean hopperMatmul() {
        return useHopper;
    }

    /** Takes wgmma block tile {@code name} for every product; fails on {@code device} where there are none. */
    public void hopperMatmulTile(String name, String device) {
        if (hopper == null) {
            throw new IllegalStateException("no wgmma matrix products on " + device + ": they need cc 9.0");
        }
        hopper.force(name);
    }

    /** The wgmma block tiles (empty where there are none). */
    public List<String> hopperMatmulTiles() {
        return hopper == null ? List.of() : hopper.tileNames();
    }

    /** out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC, or null). */
    public void forward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC) {
        CudaTensor output = args.floats(out, (long) N * OC, "matmulForward", "out");
        CudaTensor input = args.floats(inp, (long) N * C, "matmulForward", "inp");
        CudaTensor weights = args.floats(weight, (long) OC * C, "matmulForward", "weight");
        CudaTensor biases = bias == null ? null : args.floats(bias, OC, "matmulForward", "bias");
        if (pipelined(N, C, OC, input, weights, output)) {
            PipelinedMatmul p = pipelinedMatmul;
            long inputBf16 = bf16.operand(input, (long) N * C);
            long weightBf16 = bf16.operand(weights, (long) OC * C);
            if (useHopper) {
                hopper.forward(output, bf16.forOptionalProducer(output, (long) N * OC), inputBf16, weightBf16, biases,
                        N, C, OC);
                return;
            }
            launcher.begin().pointer(output).int64(inputBf16).int64(weightBf16).pointer(biases)
                    .int32(N).int32(OC).int32(C)
                    .launch(p.forward(), "matmul_forward_bf16", blocks(OC, p.tileColumns()), blocks(N, p.tileRows()), 1,
                            p.threads(), 1, pipelinedSharedBytes(p, true, true));
            return;
        }
        launcher.begin().pointer(output).pointer(input).pointer(weights).pointer(biases)
                .int32(N).int32(OC).int32(C)
                .launch(matmulForward, "matmul_forward", tiles(OC), tiles(N), 1, MATMUL_THREADS, 1, 0);
    }

    /**
     * Multiply-adds from which matrix products take the pipelined path (operands converted to bf16 first, tiles
     * streamed with cp.async), where C and OC are multiples of 8; {@link #DEFAULT_PIPELINED_THRESHOLD} by
     * default, 0 to take it whenever possible (for tests), {@code Long.MAX_VALUE} never. Same precision either way.
     */
    public void pipelinedMatmulThreshold(long multiplyAdds) {
        this.pipelinedMatmulThreshold = multiplyAdds;
    }

    private boolean pipelined(int N, int C, int OC, CudaTensor a, CudaTensor b, CudaTensor c) {
        // the conversion reads 16 bytes at a time, the products store 8: operands and outputs must be aligned
        return C % 8 == 0 && OC % 8 == 0 && (double) N * C * OC >= pipelinedMatmulThreshold
                && ((a.address() | b.address() | c.address()) & 15) == 0;
    }

    /** Dynamic shared memory of a pipelined product: its stages of bf16 tile pairs, as StreamTile lays them out. */
    private static int pipelinedSharedBytes(PipelinedMatmul p, boolean aKContiguous, boolean bKContiguous) {
        return 2 * p.stages() * (tileElements(p.tileRows(), p.depth(), aKContiguous)
                + tileElements(p.tileColumns(), p.depth(), bKContiguous));
    }

    private static int tileElements(int rows, int depth, boolean kContiguous) {
        return kContiguous ? rows * (depth + 8) : depth * (rows + 8);
    }

    /**
     * dinp (N, C) = dout (N, OC) · weight (OC, C), written; dweight (OC, C) += dout (N, OC)ᵀ · inp (N, C);
     * dbias (OC, or null) += column sums of dout, from dout's bf16 copy where the products read that (as PyTorch
     * autocast sums the bf16 gradient of a linear layer's output). The wgmma path stores dinp straight from its tiles
     * where K is not split; the products that add into dinp (split-K, and the compute_80 kernels) have it zero-filled
     * first.
     */
    public void backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                         int N, int C, int OC) {
        CudaTensor gradOut = args.floats(dout, (long) N * OC, "matmulBackward", "dout");
        CudaTensor gradInput = args.floats(dinp, (long) N * C, "matmulBackward", "dinp");
        CudaTensor gradWeight = args.floats(dweight, (long) OC * C, "matmulBackward", "dweight");
        CudaTensor input = args.floats(inp, (long) N * C, "matmulBackward", "inp");
        CudaTensor weights = args.floats(weight, (long) OC * C, "matmulBackward", "weight");
        boolean aligned = ((gradInput.address() | gradWeight.address()) & 7) == 0;
        boolean hopperPath = useHopper && aligned && pipelined(N, C, OC, gradOut, input, weights);
        boolean fromCopies = hopperPath || (aligned && pipelined(N, C, OC, gradOut, input, weights));
        if (!fromCopies) {
            bf16.floatsRead(gradOut);  // the float32 products read dout as float32
        }
        if (!hopperPath || hopper.addsIntoInputGradient(N, C, OC)) {
            fills.fill(gradInput, 0f);  // before any product's arguments are packed
        }
        // the conversions (where a copy is not there) launch kernels themselves: before the products' arguments
        long a = fromCopies ? bf16.operand(gradOut, (long) N * OC) : 0L;
        if (hopperPath) {
            long b = bf16.operand(weights, (long) OC * C);
            long c = bf16.operand(input, (long) N * C);
            long gradInputBf16 = hopper.addsIntoInputGradient(N, C, OC) ? 0L
                    : bf16.forOptionalProducer(gradInput, (long) N * C);
            hopper.backward(gradInput, gradInputBf16, gradWeight, a, b, c, N, C, OC);
        } else if (fromCopies) {
            PipelinedMatmul p = pipelinedMatmul;
            long b = bf16.operand(weights, (long) OC * C);
            long c = bf16.operand(input, (long) N * C);
            // dinp (N, C) += dout (N, OC) . weight (OC, C) into zeros: M = N, columns C, K = OC
            int splitInput = kPerSplit(blocks(C, p.tileColumns()) * blocks(N, p.tileRows()), OC);
            launcher.begin().pointer(gradInput).int64(a).int64(b).int32(N).int32(C).int32(OC).int32(splitInput)
                    .launch(p.backwardInput(), "matmul_backward_input_bf16", blocks(C, p.tileColumns()),
                            blocks(N, p.tileRows()), splits(OC, splitInput), p.threads(), 1,
                            pipelinedSharedBytes(p, true, false));
            // dweight (OC, C) += dout^T (OC, N) . inp (N, C): M = OC, columns C, K = N
            int splitWeight = kPerSplit(blocks(C, p.tileColumns()) * blocks(OC, p.tileRows()), N);
            launcher.begin().pointer(gradWeight).int64(a).int64(c).int32(OC).int32(C).int32(N).int32(splitWeight)
                    .launch(p.backwardWeight(), "matmul_backward_weight_bf16", blocks(C, p.tileColumns()),
                            blocks(OC, p.tileRows()), splits(N, splitWeight), p.threads(), 1,
                            pipelinedSharedBytes(p, false, false));
        } else {
            // dinp (N, C) += dout (N, OC) . weight (OC, C) into zeros: M = N, columns C, K = OC
            int splitInput = kPerSplit(tiles(C) * tiles(N), OC);
            launcher.begin().pointer(gradInput).pointer(gradOut).pointer(weights).int32(N).int32(C).int32(OC)
                    .int32(splitInput)
                    .launch(matmulBackwardInput, "matmul_backward_input", tiles(C), tiles(N), splits(OC, splitInput),
                            MATMUL_THREADS, 1, 0);
            // dweight (OC, C) += dout^T (OC, N) . inp (N, C): M = OC, columns C, K = N
            int splitWeight = kPerSplit(tiles(C) * tiles(OC), N);
            launcher.begin().pointer(gradWeight).pointer(gradOut).pointer(input).int32(OC).int32(C).int32(N)
                    .int32(splitWeight)
                    .launch(matmulBackwardWeight, "matmul_backward_weight", tiles(C), tiles(OC), splits(N, splitWeight),
                            MATMUL_THREADS, 1, 0);
        }
        if (dbias != null) {
            CudaTensor gradBias = args.floats(dbias, OC, "matmulBackward", "dbias");
            if (fromCopies) {
                // 8 columns per thread; stripes of rows for about two blocks per SM
                int columnBlocks = blocks(OC, 256);
                int rowsPerBlock = 8 * blocks(blocks((long) N * columnBlocks, 2 * grid.multiprocessors()), 8);
                launcher.begin().pointer(gradBias).int64(a).int32(N).int32(OC).int32(rowsPerBlock)
                        .launch(matmulBackwardBiasBf16, "matmul_backward_bias_bf16", columnBlocks,
                                blocks(N, rowsPerBlock), 1, 32, 8, 0);
            } else {
                int rowsPerBlock = 256;
                launcher.begin().pointer(gradBias).pointer(gradOut).int32(N).int32(OC).int32(rowsPerBlock)
                        .launch(matmulBackwardBias, "matmul_backward_bias", blocks(OC, 32), blocks(N, rowsPerBlock), 1,
                                32, 8, 0);
            }
        }
    }

    private static int tiles(int n) {
        return Math.max(1, (n + MATMUL_TILE - 1) / MATMUL_TILE);
    }

    /** K per split of an accumulating product over {@code tileCount} output tiles: two blocks per SM, k-tiles of 32. */
    private int kPerSplit(int tileCount, int K) {
        return KSplit.kPerSplit(2 * grid.multiprocessors(), tileCount, K, MATMUL_TILE_K);
    }

    private static int splits(int K, int kPerSplit) {
        return KSplit.splits(K, kPerSplit);
    }
}
