package io.streamtrain.cuda;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.ptr.IntByReference;
import io.streamtrain.cuda.internal.NcclLibrary;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The user's NCCL ({@code libnccl.so.2}), loaded through JNA: the engine that all-reduces gradients between GPUs,
 * inside a host (NVLink, PCIe) and across hosts (sockets, InfiniBand). JCuda has no NCCL binding; we bind the few
 * calls we need ({@code io.streamtrain.cuda.internal.NcclLibrary}).
 *
 * <p>Where it is looked for, first found wins: the file named by the environment variable {@value #ENVIRONMENT}
 * (or the system property {@value #PROPERTY}; either one, when set, is the only place tried); the dynamic linker's
 * search ({@code LD_LIBRARY_PATH}, the ld.so cache); the CUDA installation ({@code $CUDA_HOME},
 * {@code /usr/local/cuda}); the system library folders; conda ({@code $CONDA_PREFIX}, {@code /opt/conda}); and the
 * NCCL that PyTorch installs ({@code nvidia/nccl/lib} and {@code torch/lib} in the site-packages of
 * {@code $VIRTUAL_ENV}, {@code $CONDA_PREFIX}, {@code /usr}, {@code /usr/local}, {@code ~/.local}, and of the folder
 * above each {@code bin} on the {@code PATH}: a virtual environment whose {@code python3} is the one on the PATH).
 */
public final class Nccl {
    /** The environment variable that names the NCCL library file. */
    public static final String ENVIRONMENT = "STREAMTRAIN_NCCL_LIBRARY";
    /** The system property that names the NCCL library file. */
    public static final String PROPERTY = "streamtrain.nccl.library";
    private static final String SONAME = "libnccl.so.2";

    private static Nccl loaded;

    private final NcclLibrary library;
    private final String location;
    private final int version;

    private Nccl(NcclLibrary library, String location) {
        this.library = library;
        this.location = location;
        IntByReference v = new IntByReference();
        check(library, library.ncclGetVersion(v), "reading NCCL's version");
        this.version = v.getValue();
    }

    /**
     * NCCL from the places this class names (loaded once per JVM).
     *
     * @throws NcclUnavailableException saying where it looked and how to name the library, when none loads
     */
    public static synchronized Nccl load() {
        if (loaded == null) {
            String named = System.getProperty(PROPERTY);
            String from = "-D" + PROPERTY;
            if (named == null || named.isBlank()) {
                named = System.getenv(ENVIRONMENT);
                from = ENVIRONMENT;
            }
            loaded = named == null || named.isBlank() ? search(System.getenv()) : load(Path.of(named.trim()), from);
        }
        return loaded;
    }

    /**
     * NCCL from exactly {@code file}.
     *
     * @throws NcclUnavailableException when the file is missing, cannot be loaded or is not NCCL
     */
    public static Nccl load(Path file) {
        return load(file, "the given path");
    }

    private static Nccl load(Path file, String from) {
        if (!Files.isRegularFile(file)) {
            throw new NcclUnavailableException("NCCL library " + file + " (from " + from + ") does not exist");
        }
        try {
            return new Nccl(Native.load(file.toAbsolutePath().toString(), NcclLibrary.class), file.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new NcclUnavailableException("cannot load " + file + " (from " + from + ") as NCCL: "
                    + e.getMessage(), e);
        }
    }

    private static Nccl search(Map<String, String> env) {
        List<String> tried = new ArrayList<>();
        try {
            return new Nccl(Native.load(SONAME, NcclLibrary.class), SONAME + " (dynamic linker)");
        } catch (UnsatisfiedLinkError e) {
            tried.add(SONAME + " through the dynamic linker (LD_LIBRARY_PATH, ld.so cache)");
        }
        for (Path candidate : candidates(env)) {
            tried.add(candidate.toString());
            if (Files.isRegularFile(candidate)) {
                return load(candidate, "the search");
            }
        }
        throw new NcclUnavailableException("NCCL (" + SONAME + ") was not found; looked in: " + String.join(", ", tried)
                + ". Install NCCL (e.g. the libnccl2 package, or pip install nvidia-nccl-cu12) or name the file with "
                + ENVIRONMENT + "=/path/to/" + SONAME);
    }

    /** The files tried after the dynamic linker, in order. */
    static List<Path> candidates(Map<String, String> env) {
        Set<Path> folders = new LinkedHashSet<>();
        for (String variable : List.of("CUDA_HOME", "CUDA_PATH")) {
            String home = env.get(variable);
            if (home != null && !home.isBlank()) {
                folders.add(Path.of(home, "lib64"));
                folders.add(Path.of(home, "lib"));
            }
        }
        folders.add(Path.of("/usr/local/cuda/lib64"));
        folders.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        folders.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        folders.add(Path.of("/usr/lib64"));
        folders.add(Path.of("/usr/local/lib"));
        folders.add(Path.of("/usr/lib"));
        List<Path> pythonRoots = new ArrayList<>();
        for (String variable : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String root = env.get(variable);
            if (root != null && !root.isBlank()) {
                pythonRoots.add(Path.of(root));
                folders.add(Path.of(root, "lib"));
            }
        }
        folders.add(Path.of("/opt/conda/lib"));
        pythonRoots.add(Path.of("/opt/conda"));
        pythonRoots.add(Path.of("/usr"));
        pythonRoots.add(Path.of("/usr/local"));
        String home = env.get("HOME");
        if (home != null && !home.isBlank()) {
            pythonRoots.add(Path.of(home, ".local"));
        }
        String path = env.get("PATH");
        if (path != null) {
            for (String folder : path.split(":")) {
                Path bin = Path.of(folder.isBlank() ? "." : folder);
                if (bin.getFileName() != null && bin.getFileName().toString().equals("bin") && bin.getParent() != null
                        && !pythonRoots.contains(bin.getParent())) {
                    pythonRoots.add(bin.getParent()); // a virtual environment whose bin is on the PATH
                }
            }
        }
        for (Path root : pythonRoots) {
            for (Path python : children(root.resolve("lib"), "python3*")) {
                for (String packages : List.of("site-packages", "dist-packages")) {
                    folders.add(python.resolve(packages).resolve("nvidia/nccl/lib"));
                    folders.add(python.resolve(packages).resolve("torch/lib"));
                }
            }
        }
        List<Path> files = new ArrayList<>();
        for (Path folder : folders) {
            files.add(folder.resolve(SONAME));
        }
        return files;
    }

    private static List<Path> children(Path folder, String glob) {
        List<Path> found = new ArrayList<>();
        if (Files.isDirectory(folder)) {
            try (DirectoryStream<Path> stream = Files.newDirectoryStream(folder, glob)) {
                stream.forEach(found::add);
            } catch (IOException e) {
                // an unreadable folder holds nothing we can load
            }
        }
        found.sort(null);
        return found;
    }

    /** Where the library was loaded from. */
    public String location() {
        return location;
    }

    /** NCCL's version, e.g. {@code 2.21.5}. */
    public String version() {
        // NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since 2.9 (major * 1000 + minor * 100 + patch before)
        return version >= 10000
                ? version / 10000 + "." + version / 100 % 100 + "." + version % 100
                : version / 1000 + "." + version / 100 % 10 + "." + version % 100;
    }

    /**
     * Refuses an NCCL older than 2.14: a rank of a world starts its communicator without blocking
     * ({@code ncclCommInitRankConfig}, {@code blocking = 0}) so that a peer that never comes cannot hold it for ever.
     */
    void requireNonBlockingCommunicators() {
        if (version < NcclLibrary.NonBlockingConfig.LAYOUT_VERSION) {
            throw new NcclUnavailableException("NCCL " + version() + " from " + location + " is older than 2.14, the"
                    + " first with non-blocking communicators, which a rank of a world needs to bound its start;"
                    + " install NCCL 2.14 or newer (the libnccl2 package, or pip install nvidia-nccl-cu12) and name it"
                    + " with " + ENVIRONMENT + "=/path/to/" + SONAME);
        }
    }

    /** A new {@code ncclUniqueId} (128 bytes): rank 0 makes it, every rank of the world gets it (the rendezvous). */
    public byte[] uniqueId() {
        Memory id = new Memory(NcclLibrary.UNIQUE_ID_BYTES);
        check(library.ncclGetUniqueId(id), "making an NCCL unique id");
        return id.getByteArray(0, NcclLibrary.UNIQUE_ID_BYTES);
    }

    NcclLibrary library() {
        return library;
    }

    void check(int result, String what) {
        check(library, result, what);
    }

    private static void check(NcclLibrary library, int result, String what) {
        if (result != 0) {
            throw new IllegalStateException("NCCL failed " + what + ": " + library.ncclGetErrorString(result)
                    + " (ncclResult " + result + "; NCCL_DEBUG=WARN says more)");
        }
    }

    @Override
    public String toString() {
        return "NCCL " + version() + " from " + location;
    }
}
