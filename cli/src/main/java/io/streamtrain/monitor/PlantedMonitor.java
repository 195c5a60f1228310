package io.streamtrain.monitor;

/** A planted violation of the layering (scratch commit, reverted): monitor using the trainer, the cli and an internal package. */
final class PlantedMonitor {
    static final Class<?> TRAINER = io.streamtrain.trainer.TrainerConfig.class;
    static final Class<?> CLI = io.streamtrain.cli.options.CommandSettings.class;
    static final Class<?> INTERNAL = io.streamtrain.trainer.internal.CheckpointStore.class;
}
