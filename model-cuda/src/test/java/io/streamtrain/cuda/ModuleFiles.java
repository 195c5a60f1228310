package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The model-cuda module's own files (CUDA sources, build-ptx.sh, the committed PTX), where a test runs beside them. */
final class ModuleFiles {
    private ModuleFiles() {
    }

    /** The model-cuda directory: the working directory under Maven, model-cuda/ from the repository root. */
    static Path moduleOrSkip() {
        for (Path candidate : new Path[] {Path.of(""), Path.of("model-cuda")}) {
            if (Files.isDirectory(candidate.resolve("src/main/cuda"))) {
                return candidate.toAbsolutePath();
            }
        }
        assumeTrue(false, "skipped: the CUDA sources (model-cuda/src/main/cuda) are not beside this run");
        return null;
    }

    static Path sources(Path module) {
        return module.resolve("src/main/cuda");
    }

    static Path committedPtx(Path module) {
        return module.resolve("src/main/resources/io/streamtrain/cuda/ptx");
    }
}
