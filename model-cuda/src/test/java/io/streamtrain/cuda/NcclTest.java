package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.streamtrain.model.PatternRows;
import io.streamtrain.model.DataParallelGpt;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NCCL through JNA: the errors on every machine; the all-reduce and data-parallel training where a GPU and NCCL are
 * (skipped elsewhere with the reason: CI has neither).
 */
class NcclTest {
    private static final GptConfig CONFIG = GptConfig.of(67, 16, 64, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test", 67, "");
    private static final TrainingOptions OPTIONS =
            TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(1e-3, 2));
    private static final int T = 16;

    @TempDir
    Path directory;

    /** NCCL, or the test is skipped with where it was looked for. */
    private static Nccl ncclOrSkip() {
        CudaTesting.requireDevice();
        try {
            Nccl nccl = Nccl.load();
            System.out.println("loaded " + nccl);
            return nccl;
        } catch (NcclUnavailableException e) {
            assumeTrue(false, "skipped: " + e.getMessage());
            throw e;
        }
    }

    private static int[] rows(int step, int first, int rows) {
        return PatternRows.rows(T, step, first, rows);
    }

    @Test
    void shouldSayWhereItLookedAndHowToNameTheLibraryWhenNcclIsNotFound() {
        boolean found;
        try {
            System.out.println("NCCL here: " + Nccl.load());
            found = true;
        } catch (NcclUnavailableException e) {
            assertTrue(e.getMessage().contains("libnccl.so.2 through the dynamic linker"), e.getMessage());
            assertTrue(e.getMessage().contains("/usr/local/cuda/lib64/libnccl.so.2"), e.getMessage());
            assertTrue(e.getMessage().contains(Nccl.ENVIRONMENT + "=/path/to/libnccl.so.2"), e.getMessage());
            found = false;
        }
        assumeTrue(!found, "skipped: this machine has NCCL");
    }

    @Test
    void shouldLookInPyTorchsSitePackagesAndTheCudaHome() throws IOException {
        Path venv = Files.createDirectories(directory.resolve("venv/lib/python3.11/site-packages/nvidia/nccl/lib"));
        List<Path> candidates = Nccl.candidates(Map.of("VIRTUAL_ENV", directory.resolve("venv").toString(),
                "CUDA_HOME", "/opt/cuda-12.4"));
        assertEquals(Path.of("/opt/cuda-12.4/lib64/libnccl.so.2"), candidates.get(0));
        assertTrue(candidates.contains(venv.resolve("libnccl.so.2")), candidates.toString());
    }

    @Test
    void shouldLookInTheVirtualEnvironmentWhosePythonIsOnThePath() throws IOException {
        Path venv = directory.resolve("opt/torch/.venv");
        Path lib = Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/nccl/lib"));
        List<Path> candidates = Nccl.candidates(Map.of("PATH", "/usr/bin:" + venv.resolve("bin")));
        assertTrue(candidates.contains(lib.resolve("libnccl.so.2")), candidates.toString());
    }

    @Test
    void shouldRefuseAMissingFileAndOneThatIsNotALibrary() throws IOException {
        NcclUnavailableException missing = assertThrows(NcclUnavailableException.class,
                () -> Nccl.load(directory.resolve("libnccl.so.2")));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
        Path garbage = Files.writeString(directory.resolve("libnccl.so.2"), "not a shared object");
        NcclUnavailableException unloadable = assertThrows(NcclUnavailableException.class, () -> Nccl.load(garbage));
        assertTrue(unloadable.getMessage().startsWith("cannot load " + garbage), unloadable.getMessage());
    }

    @Test
    void shouldSumOnTheTrainersStreamInAWorldOfEveryGpu() {
        Nccl nccl = ncclOrSkip();
        int gpus = CudaDevice.count();
        List<CudaKernels> kernels = new ArrayList<>();
        for (int g = 0; g < gpus; g++) {
            kernels.add(CudaKernels.open(g));
        }
        List<NcclReducer> world = NcclReducer.initAll(nccl, kernels);
        try {
            assertEquals(nccl.uniqueId().length, 128);
            List<Tensor> buffers = new ArrayList<>();
            for (int g = 0; g < gpus; g++) {
                Tensor t = kernels.get(g).allocate(3);
                kernels.get(g).write(t, new float[] {g + 1, 2 * (g + 1), -1}, 0);
                buffers.add(t);
            }
            List<Thread> threads = new ArrayList<>();
            for (int g = 0; g < gpus; g++) {
                int rank = g;
                Thread thread = new Thread(() -> world.get(rank).allReduceSum(kernels.get(rank), buffers.get(rank)));
                thread.start();
                threads.add(thread);
            }
            for (Thread thread : threads) {
                thread.join();
            }
            float total = gpus * (gpus + 1) / 2f;
            for (int g = 0; g < gpus; g++) {
                float[] back = new float[3];
                kernels.get(g).read(back, 0, buffers.get(g));
                assertArrayEquals(new float[] {total, 2 * total, -gpus}, back, "GPU " + g);
                assertEquals(null, world.get(g).asyncError());
            }
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        } finally {
            world.forEach(NcclReducer::close);
            kernels.forEach(CudaKernels::close);
        }
    }

    @Test
    void shouldTrainAWorldOfOneGpuLikeThePlainStepWithBothHalvesAsGraphs() {
        Nccl nccl = ncclOrSkip();
        trainAWorldOfOneLikeThePlainStep(kernels -> NcclReducer.initAll(nccl, List.of(kernels)).get(0));
    }

    @Test
    void shouldTrainAWorldOfOneRankStartedWithoutBlockingLikeThePlainStep() {
        Nccl nccl = ncclOrSkip();
        byte[] id = nccl.uniqueId();
        trainAWorldOfOneLikeThePlainStep(kernels -> {
            long start = System.nanoTime();
            NcclReducer rank = NcclReducer.initRank(nccl, kernels, id, 1, 0, Duration.ofSeconds(60));
            System.out.println("non-blocking NCCL initialisation of a world of one: "
                    + (System.nanoTime() - start) / 1_000_000 + " ms");
            return rank;
        });
    }

    private static void trainAWorldOfOneLikeThePlainStep(Function<CudaKernels, NcclReducer> world) {
        try (CudaKernels plainKernels = CudaKernels.open(0);
             Gpt plain = Gpt.initialize(CONFIG, plainKernels, OPTIONS, 3);
             Gpt reduced = Gpt.initialize(CONFIG, CudaKernels.open(0), OPTIONS, 3)) {
            CudaKernels kernels = (CudaKernels) reduced.kernels();
            try (NcclReducer alone = world.apply(kernels)) {
                for (int step = 0; step < 8; step++) {
                    StepResult a = plain.trainStep(rows(step, 0, 4), 4, T);
                    StepResult b = reduced.trainStep(rows(step, 0, 4), 4, T, 4, alone);
                    assertEquals(a.loss(), b.loss(), 1e-4 * a.loss(), "step " + step);
                }
                assertEquals(null, alone.asyncError());
                assertTrue(kernels.stepGraphLaunches() > 0, "the halves ran as step graphs");
                float[] p = plain.checkpoint(TOKENIZER, Map.of()).parameters();
                float[] q = reduced.checkpoint(TOKENIZER, Map.of()).parameters();
                double largest = 0;
                for (int i = 0; i < p.length; i++) {
                    largest = Math.max(largest, Math.abs(p[i] - q[i]));
                }
                System.out.println("NCCL world of one against the plain step: largest weight difference " + largest);
                // AdamW turns a difference in the sign of a near-zero gradient (the backward's float atomics add in
                // an order that differs between the one-graph step and its two halves) into a move of up to lr either
                // way: 8 steps at lr 1e-3 part two models by 1.6e-2 at most (seen on an H200: 4.25e-4 and 3.4e-3; not
                // yet explained, model-cuda/NOTES.md); the losses above are the close check
                assertTrue(largest < 2 * 8 * 1e-3, "largest weight difference " + largest);
            }
        }
    }

    @Test
    void shouldGiveUpJoiningAWorldOfTwoWhoseOtherRankNeverComesWithinTheTimeout() {
        Nccl nccl = ncclOrSkip();
        byte[] id = nccl.uniqueId(); // rank 1 never uses it
        Duration timeout = Duration.ofSeconds(3);
        try (CudaKernels kernels = CudaKernels.open(0)) {
            long start = System.nanoTime();
            IllegalStateException e = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> assertThrows(
                    IllegalStateException.class, () -> NcclReducer.initRank(nccl, kernels, id, 2, 0, timeout)),
                    "ncclCommAbort did not end the initialisation");
            long waited = (System.nanoTime() - start) / 1_000_000;
            System.out.println("world of 2 without rank 1: gave up after " + waited + " ms (timeout "
                    + timeout.toMillis() + " ms): " + e.getMessage());
            assertTrue(waited >= timeout.toMillis() && waited < timeout.toMillis() + 10_000, "gave up after " + waited
                    + " ms");
            assertTrue(e.getMessage().startsWith("rank 0 of a world of 2 waited more than 3000 ms for the other ranks"
                    + " during NCCL's initialisation (ncclCommInitRankConfig) and aborted its communicator"),
                    e.getMessage());
            assertTrue(e.getMessage().endsWith("restart every rank"), e.getMessage());
            // the GPU is still usable after the abort
            Tensor t = kernels.allocate(2);
            kernels.write(t, new float[] {1, 2}, 0);
            float[] back = new float[2];
            kernels.read(back, 0, t);
            assertArrayEquals(new float[] {1, 2}, back);
        }
    }

    @Test
    void shouldTrainEveryGpuOnItsRowsLikeOneGpuOnAllOfThem() {
        Nccl nccl = ncclOrSkip();
        int gpus = CudaDevice.count();
        assumeTrue(gpus >= 2, "skipped: one GPU here; the world of several needs two or more");
        List<CudaKernels> kernels = new ArrayList<>();
        List<Gpt> replicas = new ArrayList<>();
        for (int g = 0; g < gpus; g++) {
            kernels.add(CudaKernels.open(g));
            replicas.add(Gpt.initialize(CONFIG, kernels.get(g), OPTIONS, 3));
        }
        List<NcclReducer> world = NcclReducer.initAll(nccl, kernels);
        try (Gpt one = Gpt.initialize(CONFIG, CudaKernels.open(0), OPTIONS, 3);
             DataParallelGpt all = new DataParallelGpt(replicas, world)) {
            int[] split = new int[gpus];
            java.util.Arrays.fill(split, 2);
            for (int step = 0; step < 6; step++) {
                int[][] tokens = new int[gpus][];
                for (int g = 0; g < gpus; g++) {
                    tokens[g] = rows(step, 2 * g, 2);
                }
                StepResult a = one.trainStep(rows(step, 0, 2 * gpus), 2 * gpus, T);
                StepResult b = all.trainStep(tokens, split, T);
                assertEquals(a.loss(), b.loss(), 1e-3 * a.loss(), "step " + step);
            }
            assertArrayEquals(all.replica(0).checkpoint(TOKENIZER, Map.of()).parameters(),
                    all.replica(gpus - 1).checkpoint(TOKENIZER, Map.of()).parameters(), "the replicas stay equal");
        } finally {
            world.forEach(NcclReducer::close);
        }
    }
}
