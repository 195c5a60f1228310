/** Inside a rank of a world: its ledger, its partitions, its backend, the run id it shares, its metrics records. */
package io.streamtrain.trainer.world.internal;
