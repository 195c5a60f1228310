package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;

import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.WorkerPool.RangeTask;
import java.util.Arrays;

/**
 * The matmul family ({@code matmul.cu} on the GPU): the three products of a linear layer, blocked so that the JIT vectorizes them: each is a sequence of
 * {@link MicroKernel#accumulate} calls over operands first copied ("packed") into per-thread scratch
 * rows: a transposed tile of the weight for forward, rows of the weight for dinp, a tile of dout rows
 * for dweight. Packing costs O(rows * C) against O(rows * C * tile) multiply-adds.
 *
 * <p>The order of every sum depends only on the shapes, never on how rows are split among threads.
 */
public final class Matmul {
    /** Output columns per forward tile: the packed weight tile (C, OT) stays in L2. */
    private static final int OUTPUT_TILE = 256;
    /** Reduction rows per packed panel of the backward passes (about 256 KiB of floats). */
    private static final int PANEL_FLOATS = 1 << 16;

    private final WorkerPool pool;
    private final ForwardTask forwardTask = new ForwardTask();
    private final BackwardInputTask backwardInputTask = new BackwardInputTask();
    private final BackwardWeightTask backwardWeightTask = new BackwardWeightTask();

    public Matmul(WorkerPool pool) {
        this.pool = pool;
    }

    /** out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC, or null). */
    public void forward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC) {
        ForwardTask task = forwardTask;
        task.out = floats(out, (long) N * OC, "matmulForward", "out");
        task.inp = floats(inp, (long) N * C, "matmulForward", "inp");
        task.weight = floats(weight, (long) OC * C, "matmulForward", "weight");
        task.bias = bias == null ? null : floats(bias, OC, "matmulForward", "bias");
        task.C = C;
        task.OC = OC;
        task.N = N;
        pool.parallelFor(task, task.split(OC, N, 64, pool.threads()), 1);
    }

    /**
     * dinp (N, C) = dout (N, OC) · weight (OC, C) (written, not accumulated); dweight (OC, C) += dout (N, OC)ᵀ · inp (N, C);
     * dbias (OC, or null) += column sums of dout.
     */
    public void backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                         int N, int C, int OC) {
        CpuTensor d = floats(dout, (long) N * OC, "matmulBackward", "dout");
        BackwardInputTask inputTask = backwardInputTask;
        inputTask.dinp = floats(dinp, (long) N * C, "matmulBackward", "dinp");
        inputTask.dout = d;
        inputTask.weight = floats(weight, (long) OC * C, "matmulBackward", "weight");
        inputTask.C = C;
        inputTask.OC = OC;
        pool.parallelFor(inputTask, N, roundUpTo4((N + 4 * pool.threads() - 1) / (4 * pool.threads())));
        BackwardWeightTask weightTask = backwardWeightTask;
        weightTask.dweight = floats(dweight, (long) OC * C, "matmulBackward", "dweight");
        weightTask.dbias = dbias == null ? null : floats(dbias, OC, "matmulBackward", "dbias");
        weightTask.dout = d;
        weightTask.inp = floats(inp, (long) N * C, "matmulBackward", "inp");
        weightTask.N = N;
        weightTask.C = C;
        weightTask.OC = OC;
        pool.parallelFor(weightTask, weightTask.split(OC, C, 32, pool.threads()), 1);
    }

    /**
     * A matrix product split into units of (column tile of OC, chunk of another dimension): enough units
     * to keep every thread busy, each unit writing its own outputs.
     */
    private abstract static class TiledTask extends RangeTask {
        int outputTile, outputTiles, chunk;

        /** Sets the tiles of OC and the chunks (multiples of 4, at least minimumChunk) of length; returns the units. */
        int split(int OC, int length, int minimumChunk, int threads) {
            outputTile = outputTile(OC);
            outputTiles = (OC + outputTile - 1) / outputTile;
            int chunks = Math.max(1, Math.min((length + minimumChunk - 1) / minimumChunk,
                    (4 * threads + outputTiles - 1) / outputTiles));
            chunk = roundUpTo4((length + chunks - 1) / chunks);
            return outputTiles * ((length + chunk - 1) / chunk);
        }

        int tileStart(int unit) {
            return (unit % outputTiles) * outputTile;
        }

        int chunkStart(int unit) {
            return (unit / outputTiles) * chunk;
        }
    }

    /** out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias, one (column tile, row chunk) per index. */
    private static final class ForwardTask extends TiledTask {
        CpuTensor out, inp, weight, bias;
        int N, C, OC;

        @Override
        public void run(int start, int end) {
            for (int unit = start; unit < end; unit++) {
                int o0 = tileStart(unit);
                int n0 = chunkStart(unit);
                forwardTile(out, inp, weight, bias, C, OC, o0, Math.min(outputTile, OC - o0),
                        n0, Math.min(N, n0 + chunk));
            }
        }
    }

    /** dinp (N, C) = dout (N, OC) · weight (OC, C), over rows n. */
    private static final class BackwardInputTask extends RangeTask {
        CpuTensor dinp, dout, weight;
        int C, OC;

        @Override
        public void run(int start, int end) {
            backwardInputRows(dinp, dout, weight, C, OC, start, end);
        }
    }

    /**
     * dweight (OC, C) += dout (N, OC)ᵀ · inp (N, C); dbias (OC) += column sums of dout;
     * one (column tile, channel chunk) per index.
     */
    private static final class BackwardWeightTask extends TiledTask {
        CpuTensor dweight, dbias, dout, inp;
        int N, C, OC;

        @Override
        public void run(int start, int end) {
            for (int unit = start; unit < end; unit++) {
                int o0 = tileStart(unit);
                int c0 = chunkStart(unit);
                backwardWeightTile(dweight, dbias, dout, inp, N, C, OC, o0, Math.min(outputTile, OC - o0),
                        c0, Math.min(C, c0 + chunk));
            }
        }
    }

    private static int roundUpTo4(int n) {
        return Math.max(4, (n + 3) & ~3);
    }

    /** Per-thread packed panels, coefficients and accumulator rows, grown on first use. */
    private static final class Scratch {
        float[][] panel = new float[0][];
        int panelLength;
        float[] coef = new float[0];
        final float[][] acc = new float[4][0];
        float[][] tile = new float[0][];
        int tileLength;
        float[] row = new float[0];

        float[][] panel(int rows, int length) {
            if (panel.length < rows || panelLength < length) {
                panelLength = Math.max(panelLength, length);
                panel = new float[Math.max(rows, panel.length)][panelLength];
            }
            return panel;
        }

        float[] coef(int size) {
            if (coef.length < size) {
                coef = new float[size];
            }
            return coef;
        }

        /** A zero-filled (rows, length) accumulator tile. */
        float[][] tile(int rows, int length) {
            if (tile.length < rows || tileLength < length) {
                tileLength = Math.max(tileLength, length);
                tile = new float[Math.max(rows, tile.length)][tileLength];
            }
            for (int r = 0; r < rows; r++) {
                Arrays.fill(tile[r], 0, length, 0f);
            }
            return tile;
        }

        /** A zero-filled row. */
        float[] row(int length) {
            if (row.length < length) {
                row = new float[length];
            }
            Arrays.fill(row, 0, length, 0f);
            return row;
        }

        float[][] acc(int length) {
            if (acc[0].length < length) {
                for (int r = 0; r < 4; r++) {
                    acc[r] = new float[length];
                }
            }
            return acc;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Columns per forward tile for OC outputs: near {@link #OUTPUT_TILE}, tiles of equal width. */
    private static int outputTile(int OC) {
        int tiles = (OC + OUTPUT_TILE - 1) / OUTPUT_TILE;
        return (OC + tiles - 1) / tiles;
    }

    /**
     * out[n, o0..o0+ot) = bias + inp[n, :] · weight[o, :]ᵀ for rows n in [n0, n1).
     * out (N, OC), inp (N, C), weight (OC, C), bias (OC) or null.
     */
    private static void forwardTile(CpuTensor out, CpuTensor inp, CpuTensor weight, CpuTensor bias, int C, int OC,
                               int o0, int ot, int n0, int n1) {
        Scratch s = SCRATCH.get();
        // panel[c][j] = weight[o0 + j, c]: the tile, transposed
        float[][] wt = s.panel(C, ot);
        float[] w = weight.array;
        for (int j = 0; j < ot; j++) {
            int wBase = weight.offset + (o0 + j) * C;
            for (int c = 0; c < C; c++) {
                wt[c][j] = w[wBase + c];
            }
        }
        float[][] acc = s.acc(ot);
        float[] coef = s.coef(4 * C);
        float[] x = inp.array;
        int n = n0;
        for (; n < n1; n += 4) {
            int rows = Math.min(4, n1 - n);
            // coef[c * 4 + r] = inp[n + r, c]
            for (int r = 0; r < rows; r++) {
                int xBase = inp.offset + (n + r) * C;
                for (int c = 0; c < C; c++) {
                    coef[c * 4 + r] = x[xBase + c];
                }
                if (bias == null) {
                    Arrays.fill(acc[r], 0, ot, 0f);
                } else {
                    System.arraycopy(bias.array, bias.offset + o0, acc[r], 0, ot);
                }
            }
            MicroKernel.accumulate(acc, 0, rows, wt, coef, C, ot);
            for (int r = 0; r < rows; r++) {
                System.arraycopy(acc[r], 0, out.array, out.offset + (n + r) * OC + o0, ot);
            }
        }
    }

    /** dinp[n, :] = sum over o of dout[n, o] * weight[o, :], for rows n in [n0, n1): the first panel starts from 0. */
    private static void backwardInputRows(CpuTensor dinp, CpuTensor dout, CpuTensor weight, int C, int OC,
                                          int n0, int n1) {
        Scratch s = SCRATCH.get();
        int block = Math.max(2, Math.min(OC, PANEL_FLOATS / C));
        float[][] panel = s.panel(block, C);
        float[][] acc = s.acc(C);
        float[] coef = s.coef(4 * block);
        float[] g = dout.array;
        for (int o0 = 0; o0 < OC; o0 += block) {
            int ob = Math.min(block, OC - o0);
            for (int k = 0; k < ob; k++) {
                System.arraycopy(weight.array, weight.offset + (o0 + k) * C, panel[k], 0, C);
            }
            for (int n = n0; n < n1; n += 4) {
                int rows = Math.min(4, n1 - n);
                for (int r = 0; r < rows; r++) {
                    int gBase = dout.offset + (n + r) * OC + o0;
                    for (int k = 0; k < ob; k++) {
                        coef[k * 4 + r] = g[gBase + k];
                    }
                    if (o0 == 0) {
                        Arrays.fill(acc[r], 0, C, 0f);
                    } else {
                        System.arraycopy(dinp.array, dinp.offset + (n + r) * C, acc[r], 0, C);
                    }
                }
                MicroKernel.accumulate(acc, 0, rows, panel, coef, ob, C);
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(acc[r], 0, dinp.array, dinp.offset + (n + r) * C, C);
                }
            }
        }
    }

    /**
     * dweight[o, c] += sum over n of dout[n, o] * inp[n, c] for o in [o0, o0 + ot) and c in [c0, c1), and,
     * when dbias is not null and c0 is 0, dbias[o] += sum over n of dout[n, o]. Computed transposed, as
     * dweightᵀ[c, o-tile] += inp[n, c] * dout[n, o-tile], so that the vectorized loop runs along a
     * contiguous tile of dout rows; the tile is added into dweight at the end.
     */
    private static void backwardWeightTile(CpuTensor dweight, CpuTensor dbias, CpuTensor dout, CpuTensor inp,
                                           int N, int C, int OC, int o0, int ot, int c0, int c1) {
        Scratch s = SCRATCH.get();
        int block = Math.max(2, Math.min(N, PANEL_FLOATS / ot));
        float[][] panel = s.panel(block, ot);
        float[][] tile = s.tile(c1 - c0, ot); // tile[c - c0][j] accumulates dweight[o0 + j, c]
        float[] coef = s.coef(4 * block);
        float[] biasSum = dbias != null && c0 == 0 ? s.row(ot) : null;
        float[] x = inp.array;
        for (int nb = 0; nb < N; nb += block) {
            int rowsInBlock = Math.min(block, N - nb);
            for (int k = 0; k < rowsInBlock; k++) {
                System.arraycopy(dout.array, dout.offset + (nb + k) * OC + o0, panel[k], 0, ot);
            }
            if (biasSum != null) {
                for (int k = 0; k < rowsInBlock; k++) {
                    float[] p = panel[k];
                    for (int j = 0; j < ot; j++) {
                        biasSum[j] += p[j];
                    }
                }
            }
            for (int c = c0; c < c1; c += 4) {
                int rows = Math.min(4, c1 - c);
                // coef[k * 4 + r] = inp[nb + k, c + r]
                for (int k = 0; k < rowsInBlock; k++) {
                    int xBase = inp.offset + (nb + k) * C + c;
                    for (int r = 0; r < rows; r++) {
                        coef[k * 4 + r] = x[xBase + r];
                    }
                }
                MicroKernel.accumulate(tile, c - c0, rows, panel, coef, rowsInBlock, ot);
            }
        }
        float[] dw = dweight.array;
        for (int j = 0; j < ot; j++) {
            int dwBase = dweight.offset + (o0 + j) * C;
            for (int c = c0; c < c1; c++) {
                dw[dwBase + c] += tile[c - c0][j];
            }
        }
        if (biasSum != null) {
            for (int j = 0; j < ot; j++) {
                dbias.array[dbias.offset + o0 + j] += biasSum[j];
            }
        }
    }
}
