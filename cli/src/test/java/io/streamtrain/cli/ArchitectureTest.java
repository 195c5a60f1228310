package io.streamtrain.cli;

import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layering of the modules, checked on the compiled classes of all of them (the cli module's tests see every
 * module): {@code model} depends on neither Kafka nor JCuda; nothing depends on {@code trainer} but the command line;
 * nothing depends on the command line; no module reaches into another module's {@code internal} package. A module
 * is the package under {@code io.streamtrain} ({@code model-cuda}'s is {@code cuda}).
 */
class ArchitectureTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importEveryModule() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.streamtrain");
        for (String module : new String[] {"schemas", "tokenizer", "broker", "producer", "model", "cuda", "trainer", "monitor", "cli"}) {
            assertTrue(classes.stream().anyMatch(c -> c.getPackageName().startsWith("io.streamtrain." + module)),
                    "the classes of module " + module + " are on the test class path");
        }
    }

    @Test
    void shouldKeepKafkaAndJCudaOutOfTheModel() {
        noClasses().that().resideInAPackage("io.streamtrain.model..")
                .should().dependOnClassesThat().resideInAnyPackage("org.apache.kafka..", "jcuda..")
                .check(classes);
    }

    @Test
    void shouldLetOnlyTheCommandLineDependOnTheTrainer() {
        noClasses().that().resideOutsideOfPackages("io.streamtrain.trainer..", "io.streamtrain.cli..")
                .should().dependOnClassesThat().resideInAPackage("io.streamtrain.trainer..")
                .check(classes);
    }

    @Test
    void shouldLetNothingDependOnTheCommandLine() {
        noClasses().that().resideOutsideOfPackage("io.streamtrain.cli..")
                .should().dependOnClassesThat().resideInAPackage("io.streamtrain.cli..")
                .check(classes);
    }

    @Test
    void shouldKeepEveryModulesInternalPackageToItself() {
        classes().that().resideInAPackage("io.streamtrain..")
                .should(new ArchCondition<JavaClass>("depend on no other module's internal package") {
                    @Override
                    public void check(JavaClass javaClass, ConditionEvents events) {
                        String module = module(javaClass.getPackageName());
                        for (Dependency dependency : javaClass.getDirectDependenciesFromSelf()) {
                            String target = dependency.getTargetClass().getPackageName();
                            if (target.startsWith("io.streamtrain.") && target.contains(".internal")
                                    && !module(target).equals(module)) {
                                events.add(SimpleConditionEvent.violated(dependency, dependency.getDescription()));
                            }
                        }
                    }
                })
                .check(classes);
    }

    /** The module of a package: its first name under {@code io.streamtrain}. */
    private static String module(String packageName) {
        if (!packageName.startsWith("io.streamtrain.")) {
            return "";
        }
        String rest = packageName.substring("io.streamtrain.".length());
        int dot = rest.indexOf('.');
        return dot < 0 ? rest : rest.substring(0, dot);
    }
}
