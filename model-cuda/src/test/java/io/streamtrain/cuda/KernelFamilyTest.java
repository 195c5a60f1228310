package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.cuda.internal.CudaTensor;
import io.streamtrain.cuda.internal.Grid;
import io.streamtrain.cuda.internal.KernelFamily;
import io.streamtrain.cuda.internal.KernelLookup;
import io.streamtrain.cuda.internal.Launchers;
import io.streamtrain.cuda.internal.PtxModules;
import io.streamtrain.cuda.internal.TensorChecks;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import jcuda.driver.CUfunction;
import org.junit.jupiter.api.Test;

/**
 * The one list of kernel families ({@link KernelFamily}) agrees with the CUDA sources, the committed PTX, the
 * launchers and build-ptx.sh, on a machine without a GPU: every launcher is made with a lookup that checks each kernel
 * name it asks for against the {@code .entry} directives of its family's PTX, instead of loading the PTX.
 */
class KernelFamilyTest {
    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_$][\\w$]*)\\s*\\(");

    /** The kernels a PTX resource defines: the names of its {@code .entry} directives. */
    static Set<String> entries(String resource) {
        Set<String> names = new TreeSet<>();
        Matcher matcher = ENTRY.matcher(new String(PtxModules.readResource(resource), StandardCharsets.US_ASCII));
        while (matcher.find()) {
            names.add(matcher.group(1));
        }
        return names;
    }

    /** Answers every name found in the family's PTX (each variant the loader may pick); records the others. */
    private static final class EntryCheck implements KernelLookup {
        final Map<KernelFamily, Set<String>> asked = new EnumMap<>(KernelFamily.class);
        final List<String> missing = new ArrayList<>();

        @Override
        public CUfunction function(KernelFamily family, String name) {
            asked.computeIfAbsent(family, f -> new TreeSet<>()).add(name);
            List<String> variants = family.hopperVariant() ? List.of(family.portablePtx(), family.hopperPtx())
                    : List.of(family.portablePtx());
            for (String variant : variants) {
                if (!entries(variant).contains(name)) {
                    missing.add(name + " (asked of " + family + ", absent from " + variant + ")");
                }
            }
            return new CUfunction();
        }

        @Override
        public CUfunction function(KernelFamily family, String name, int maxDynamicSharedBytes) {
            return function(family, name);
        }

        /** Hopper-only kernels (wgmma): in the family's Hopper PTX, which must exist. */
        @Override
        public CUfunction hopperFunction(KernelFamily family, String name, int maxDynamicSharedBytes) {
            asked.computeIfAbsent(family, f -> new TreeSet<>()).add(name);
            if (!family.hopperVariant() || !entries(family.hopperPtx()).contains(name)) {
                missing.add(name + " (asked of the Hopper variant of " + family + ", absent from " + family.hopperPtx()
                        + ")");
            }
            return new CUfunction();
        }
    }

    @Test
    void shouldFindEveryKernelThatALauncherNamesAmongTheEntriesOfItsFamilysPtx() {
        EntryCheck lookup = new EntryCheck();
        Launchers.create(lookup, null, new TensorChecks(this), new Grid(132, 227 * 1024), size -> (CudaTensor) null,
                size -> (CudaTensor) null);
        assertEquals(List.of(), lookup.missing, "kernels the launchers name but the PTX does not define");
        for (KernelFamily family : KernelFamily.values()) {
            assertTrue(lookup.asked.containsKey(family), "no launcher uses a kernel of " + family.source());
            System.out.println(family + ": launchers use " + lookup.asked.get(family).size() + " of the "
                    + entries(family.portablePtx()).size() + " kernels of " + family.portablePtx());
        }
    }

    @Test
    void shouldHaveOneCudaSourceAndOnePtxPerVariantOfEveryKernelFamilyAndNoOthers() throws IOException {
        Path module = ModuleFiles.moduleOrSkip();
        Set<String> sources = new TreeSet<>();
        Set<String> ptx = new TreeSet<>();
        for (KernelFamily family : KernelFamily.values()) {
            sources.add(family.source());
            ptx.add(family.portablePtx());
            if (family.hopperVariant()) {
                ptx.add(family.hopperPtx());
            }
        }
        assertEquals(sources, files(ModuleFiles.sources(module), ".cu"),
                "the .cu files under src/main/cuda and the families of KernelFamily differ");
        assertEquals(ptx, files(ModuleFiles.committedPtx(module), ".ptx"),
                "the committed PTX and the families (and Hopper variants) of KernelFamily differ: run build-ptx.sh");
    }

    @Test
    void shouldBuildWithBuildPtxTheFamiliesThatTheLoaderLoads() throws IOException, InterruptedException {
        List<String> expected = new ArrayList<>();
        for (KernelFamily family : KernelFamily.values()) {
            expected.add("family " + family);
        }
        for (KernelFamily family : KernelFamily.values()) {
            if (family.hopperVariant()) {
                expected.add("hopper " + family);
            }
        }
        List<String> listed = new ArrayList<>();
        for (String line : BuildPtxScript.list(ModuleFiles.moduleOrSkip())) {
            if (line.startsWith("family ") || line.startsWith("hopper ")) {
                listed.add(line);
            }
        }
        assertEquals(expected, listed, "build-ptx.sh reads other families from KernelFamily.java than the enum has: "
                + "keep one constant per line, NAME(\"file\", hopperVariant)");
    }

    private static Set<String> files(Path directory, String suffix) throws IOException {
        Set<String> names = new TreeSet<>();
        try (Stream<Path> files = Files.list(directory)) {
            files.map(file -> file.getFileName().toString()).filter(name -> name.endsWith(suffix)).forEach(names::add);
        }
        return names;
    }
}
