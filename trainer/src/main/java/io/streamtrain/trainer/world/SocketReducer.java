package io.streamtrain.trainer.world;

import io.streamtrain.model.GradientReducer;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;

/**
 * The all-reduce of CPU ranks in separate processes, over TCP: every rank sends its buffer to rank 0, which sums
 * them in rank order (r0 + r1 + ..., in float, as {@link io.streamtrain.model.InProcessReducer} does) and sends the
 * sum back. So W processes give the same bits as W replicas of one process. Meant for CPU models (a star through
 * rank 0 is no way to move GPU gradients: GPU ranks use NCCL).
 *
 * <p>Joining: rank 0 listens ({@link #listen}); the others connect to its address ({@link #connect}) and say their
 * rank and the world's generation; rank 0 refuses a wrong generation or world size. A rank that dies (SIGKILL)
 * closes its socket, so the others fail their next all-reduce at once with an {@link IllegalStateException}: a
 * world stops as a whole and is restarted from the last checkpoint. A rank that hangs closes nothing: the reads have
 * no timeout of their own (a step's length is the caller's business); {@link RankTrainer} bounds them with its
 * watchdog, which {@link #close}s the reducer so that a blocked read fails.
 */
public final class SocketReducer implements GradientReducer, AutoCloseable {
    private static final int HELLO = 0x53545257; // "STRW"

    private final int rank;
    private final int worldSize;
    private final ServerSocket server;       // rank 0 only
    private final Socket[] peers;            // rank 0: the sockets of ranks 1..W-1; others: [0] = rank 0
    private final DataInputStream[] in;
    private final DataOutputStream[] out;
    private volatile long reduceNanos; // allReduceSum's, written by the rank's training thread
    private float[][] parts = new float[0][];
    private byte[] bytes = new byte[0];

    private SocketReducer(int rank, int worldSize, ServerSocket server, Socket[] peers) throws IOException {
        this.rank = rank;
        this.worldSize = worldSize;
        this.server = server;
        this.peers = peers;
        this.in = new DataInputStream[peers.length];
        this.out = new DataOutputStream[peers.length];
        for (int i = 0; i < peers.length; i++) {
            if (peers[i] != null) {
                in[i] = new DataInputStream(new java.io.BufferedInputStream(peers[i].getInputStream(), 1 << 16));
                out[i] = new DataOutputStream(new java.io.BufferedOutputStream(peers[i].getOutputStream(), 1 << 16));
            }
        }
    }

    /** Rank 0's listening socket, on {@code host} and a free port; {@link Listener#accept} then waits for the others. */
    public static Listener listen(String host, int worldSize, long generation) throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(new InetSocketAddress(host, 0));
        return new Listener(server, worldSize, generation);
    }

    /** Rank 0 before the others have joined: its address is what the rendezvous publishes. */
    public static final class Listener {
        private final ServerSocket server;
        private final int worldSize;
        private final long generation;

        private Listener(ServerSocket server, int worldSize, long generation) {
            this.server = server;
            this.worldSize = worldSize;
            this.generation = generation;
        }

        /** host:port the other ranks connect to. */
        public String address() {
            return server.getInetAddress().getHostAddress() + ":" + server.getLocalPort();
        }

        /** Waits up to {@code timeout} for ranks 1..W-1 of this generation; refuses others (they fail with a reason). */
        public SocketReducer accept(Duration timeout) throws IOException {
            Socket[] peers = new Socket[worldSize];
            long deadline = System.nanoTime() + timeout.toNanos();
            int joined = 1;
            try {
                while (joined < worldSize) {
                    long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                    server.setSoTimeout((int) Math.min(Integer.MAX_VALUE, left));
                    Socket socket;
                    try {
                        socket = server.accept();
                    } catch (SocketTimeoutException e) {
                        throw new IllegalStateException("rank 0 waited " + timeout.toSeconds() + " s for the world of "
                                + worldSize + " (generation " + generation + ") but only " + joined + " rank(s) joined;"
                                + " start every rank with the same --world-size", e);
                    }
                    socket.setTcpNoDelay(true);
                    DataInputStream hello = new DataInputStream(socket.getInputStream());
                    DataOutputStream answer = new DataOutputStream(socket.getOutputStream());
                    socket.setSoTimeout(10_000);
                    int magic = hello.readInt();
                    long theirGeneration = hello.readLong();
                    int theirWorld = hello.readInt();
                    int theirRank = hello.readInt();
                    String refusal = magic != HELLO ? "not a streamtrain rank"
                            : theirGeneration != generation ? "generation " + theirGeneration + ", the world is at "
                            + generation
                            : theirWorld != worldSize ? "world size " + theirWorld + ", the world has " + worldSize
                            : theirRank <= 0 || theirRank >= worldSize ? "rank " + theirRank + " is not in [1, "
                            + worldSize + ")"
                            : peers[theirRank] != null ? "rank " + theirRank + " has joined already" : null;
                    answer.writeUTF(refusal == null ? "" : refusal);
                    answer.flush();
                    if (refusal != null) {
                        socket.close();
                        continue;
                    }
                    socket.setSoTimeout(0);
                    peers[theirRank] = socket;
                    joined++;
                }
                return new SocketReducer(0, worldSize, server, peers);
            } catch (IOException | RuntimeException e) {
                for (Socket peer : peers) {
                    if (peer != null) {
                        peer.close();
                    }
                }
                server.close();
                throw e;
            }
        }

        /** Gives up listening (rank 0 failed before the world formed). */
        public void close() throws IOException {
            server.close();
        }
    }

    /**
     * Rank {@code rank}'s connection to rank 0 at {@code address} (host:port).
     *
     * @throws IllegalStateException when rank 0 refuses (another generation, world size or a taken rank), saying why
     * @throws IOException           when rank 0 cannot be reached
     */
    public static SocketReducer connect(String address, int worldSize, int rank, long generation) throws IOException {
        int colon = address.lastIndexOf(':');
        Socket socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(address.substring(0, colon),
                    Integer.parseInt(address.substring(colon + 1))), 10_000);
            socket.setTcpNoDelay(true);
            DataOutputStream hello = new DataOutputStream(socket.getOutputStream());
            hello.writeInt(HELLO);
            hello.writeLong(generation);
            hello.writeInt(worldSize);
            hello.writeInt(rank);
            hello.flush();
            socket.setSoTimeout(30_000);
            String refusal = new DataInputStream(socket.getInputStream()).readUTF();
            if (!refusal.isEmpty()) {
                throw new IllegalStateException("rank 0 at " + address + " refused rank " + rank + ": " + refusal);
            }
            socket.setSoTimeout(0);
            Socket[] peers = {socket};
            return new SocketReducer(rank, worldSize, null, peers);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    @Override
    public int worldSize() {
        return worldSize;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public void allReduceSum(Kernels kernels, Tensor buffer) {
        long start = System.nanoTime();
        try {
            int n = Math.toIntExact(buffer.size());
            kernels.read(slots(n), 0, buffer);
            kernels.write(buffer, sumOverWorld(), 0);
        } finally {
            reduceNanos += System.nanoTime() - start;
        }
    }

    @Override
    public long reduceNanos() {
        return reduceNanos;
    }

    /** The element-wise sum of {@code values} over the ranks, in rank order (a host all-reduce of a few numbers). */
    public float[] allReduce(float[] values) {
        System.arraycopy(values, 0, slots(values.length), 0, values.length);
        return sumOverWorld().clone();
    }

    /** Rank 0 gets every rank's {@code text}, by rank; the others get an empty list (after sending theirs). */
    public java.util.List<String> gather(String text) {
        try {
            if (rank != 0) {
                out[0].writeUTF(text);
                out[0].flush();
                return java.util.List.of();
            }
            java.util.List<String> texts = new java.util.ArrayList<>(java.util.List.of(text));
            for (int peer = 1; peer < worldSize; peer++) {
                texts.add(in[peer].readUTF());
            }
            return texts;
        } catch (IOException e) {
            throw new IllegalStateException("rank " + rank + " lost a rank of the world while gathering (" + e.getMessage()
                    + "): the world stops; restart every rank to resume from the last checkpoint", e);
        }
    }

    /** parts[0] sized to n (this rank's slot); the others too. */
    private float[] slots(int n) {
        if (parts.length != worldSize || parts[0].length != n) {
            parts = new float[worldSize][n];
            bytes = new byte[4 * n];
        }
        return parts[0];
    }

    /** Sums parts[0] over the world into parts[0]. */
    private float[] sumOverWorld() {
        int n = parts[0].length;
        int peer = 0;
        try {
            if (rank == 0) {
                for (peer = 1; peer < worldSize; peer++) {
                    receive(peer, parts[peer]);
                }
                float[] sum = parts[0];
                for (int i = 0; i < n; i++) {
                    float s = sum[i];
                    for (int r = 1; r < worldSize; r++) {
                        s += parts[r][i];
                    }
                    sum[i] = s;
                }
                for (peer = 1; peer < worldSize; peer++) {
                    send(peer, sum);
                }
            } else {
                send(0, parts[0]);
                receive(0, parts[0]);
            }
        } catch (IOException e) {
            int other = rank == 0 ? peer : 0;
            throw new IllegalStateException("rank " + rank + " lost rank " + other + " of the world (" + e.getMessage()
                    + "): the world stops; restart every rank to resume from the last checkpoint", e);
        }
        return parts[0];
    }

    private void send(int peer, float[] values) throws IOException {
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values);
        out[peer].writeInt(values.length);
        out[peer].write(bytes, 0, 4 * values.length);
        out[peer].flush();
    }

    private void receive(int peer, float[] values) throws IOException {
        int count = in[peer].readInt();
        if (count != values.length) {
            throw new IOException("rank " + peer + " all-reduces " + count + " elements, this rank " + values.length);
        }
        in[peer].readFully(bytes, 0, 4 * count);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
    }

    @Override
    public void close() {
        for (Socket peer : peers) {
            try {
                if (peer != null) {
                    peer.close();
                }
            } catch (IOException e) {
                // closing: nothing left to tell
            }
        }
        try {
            if (server != null) {
                server.close();
            }
        } catch (IOException e) {
            // closing
        }
    }
}
