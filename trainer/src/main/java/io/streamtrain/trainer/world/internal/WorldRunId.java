package io.streamtrain.trainer.world.internal;

import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.CheckpointStore;
import java.io.IOException;
import java.util.Optional;

/**
 * The run id every rank of a world shares: configured, else the checkpoint's, else {@code <checkpoint.dir>/run-id},
 * which rank 0 writes (a new id when there is none) before it publishes the world, and the other ranks read once they
 * have joined it.
 */
public final class WorldRunId {
    private final String settled; // null until joined, on a rank other than 0 with none configured or restored
    private final boolean newRun;
    private final CheckpointStore store;

    private WorldRunId(String settled, boolean newRun, CheckpointStore store) {
        this.settled = settled;
        this.newRun = newRun;
        this.store = store;
    }

    /** Settles what can be settled before the world is joined; call {@link #afterJoin} once it is. */
    public static WorldRunId beforeJoin(String configured, String restored, int rank, CheckpointStore store)
            throws IOException {
        String id = !configured.isEmpty() ? configured : restored.isEmpty() ? null : restored;
        if (id != null || rank != 0) {
            return new WorldRunId(id, false, store);
        }
        Optional<String> persisted = store.runId();
        id = persisted.orElseGet(TrainerConfig::generateRunId);
        store.writeRunId(id);
        return new WorldRunId(id, persisted.isEmpty(), store);
    }

    /** Whether rank 0 made a new id: the run has sent nothing yet. */
    public boolean newRun() {
        return newRun;
    }

    /**
     * The run id, once the world is joined.
     *
     * @throws IllegalStateException when rank 0 wrote none where this rank looks (not the same checkpoint.dir)
     */
    public String afterJoin() throws IOException {
        if (settled != null) {
            return settled;
        }
        return store.runId().orElseThrow(() -> new IllegalStateException("rank 0 of the world wrote no run id in "
                + store.directory() + "/" + CheckpointStore.RUN_ID_FILE + ": every rank must see the same"
                + " checkpoint.dir (a shared file system), or set run.id"));
    }
}
