package io.streamtrain.trainer.world.internal;

import io.streamtrain.cuda.Nccl;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.world.Rendezvous;
import io.streamtrain.trainer.world.SocketReducer;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.time.Duration;

/**
 * A rank in its world, joined at the rendezvous on the control topic: rank 0 leads (publishes its address and, on
 * GPUs, the NCCL id, then accepts the others), the others join the newest world.
 *
 * @param link  the sockets between the ranks (row counts, ledgers; gradients on CPUs)
 * @param world the world's generation, size, address and NCCL id
 */
public record WorldJoin(SocketReducer link, Rendezvous.World world) {

    /** Joins (or leads) the world of {@code config}'s rank, waiting up to {@code world.join.seconds}. */
    public static WorldJoin join(TrainerConfig config, boolean cuda, PrintStream log) throws IOException {
        int rank = config.worldRank();
        int worldSize = config.worldSize();
        Rendezvous rendezvous = new Rendezvous(config.kafkaClients(), config.controlTopic(), config.applicationId());
        Duration timeout = Duration.ofSeconds(config.worldJoinSeconds());
        WorldJoin joined;
        if (rank == 0) {
            byte[] ncclId = cuda ? Nccl.load().uniqueId() : new byte[0];
            String host = config.worldHost().isEmpty() ? InetAddress.getLocalHost().getHostAddress()
                    : config.worldHost();
            Rendezvous.Formed<SocketReducer.Listener> lead = rendezvous.lead(host, worldSize, ncclId);
            log.println("rank 0 of " + worldSize + ": generation " + lead.world().generation() + " at "
                    + lead.world().address() + " on " + config.controlTopic() + "; waiting for the other ranks");
            joined = new WorldJoin(lead.link().accept(timeout), lead.world());
        } else {
            Rendezvous.Formed<SocketReducer> formed = rendezvous.join(worldSize, rank, timeout);
            joined = new WorldJoin(formed.link(), formed.world());
        }
        log.println("rank " + rank + " of " + worldSize + " joined generation " + joined.world().generation());
        return joined;
    }
}
