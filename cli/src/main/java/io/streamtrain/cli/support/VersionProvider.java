package io.streamtrain.cli.support;

import picocli.CommandLine.IVersionProvider;

/** {@code streamtrain --version}: the project version, the commit and the Java runtime. */
public final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {
                "streamtrain " + MachineInfo.projectVersion() + " (commit " + MachineInfo.commit() + ")",
                "java " + MachineInfo.javaVersion()};
    }
}
