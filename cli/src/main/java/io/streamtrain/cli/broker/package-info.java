/** The embedded single-node KRaft broker and {@code streamtrain broker}. Internal to the command line: no other module may import it. */
package io.streamtrain.cli.broker;
