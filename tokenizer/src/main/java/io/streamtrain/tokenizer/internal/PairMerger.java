package io.streamtrain.tokenizer.internal;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.function.IntConsumer;

/**
 * Byte-level BPE training over words with frequencies: repeatedly merges the most frequent adjacent pair of tokens
 * into a new token until the vocabulary has the asked number of ranks or no pair occurs at least
 * {@link #MIN_PAIR_COUNT} times. Pair counts are updated incrementally: a merge touches only the words that contain
 * the pair (an index from pair to words) and re-counts only their pairs; a heap with lazy deletion finds the best
 * pair. Ties go to the pair with the smaller (left, right) ids, so training is deterministic.
 */
public final class PairMerger {
    /** A pair seen once is not worth a token: it would only memorize the corpus. */
    public static final long MIN_PAIR_COUNT = 2;

    private record Candidate(long count, int left, int right) {}

    /** Occurrences of one pair, and the words it may occur in (with repeats and stale entries; checked on use). */
    private static final class PairStat {
        long count;
        int[] words = new int[4];
        int wordCount;

        void addWord(int word) {
            if (wordCount > 0 && words[wordCount - 1] == word) {
                return;
            }
            if (wordCount == words.length) {
                words = Arrays.copyOf(words, wordCount * 2);
            }
            words[wordCount++] = word;
        }
    }

    private final int[][] symbols;   // (word, position) -> token id; a word's array shrinks as tokens merge
    private final long[] frequencies; // (word) -> occurrences in the corpus
    private final List<byte[]> ranks = new ArrayList<>(List.of(TokenTable.singleBytes()));
    private final Map<String, Integer> idOfBytes = new HashMap<>();
    private final Map<Long, PairStat> pairs = new HashMap<>();
    private final PriorityQueue<Candidate> heap = new PriorityQueue<>(Comparator
            .comparingLong(Candidate::count).reversed()
            .thenComparingInt(Candidate::left)
            .thenComparingInt(Candidate::right));
    private final int[] visitedAtMerge;

    /** @param words the distinct pre-tokenized pieces as UTF-8 bytes; @param frequencies their counts */
    public PairMerger(List<byte[]> words, long[] frequencies) {
        this.frequencies = frequencies;
        this.symbols = new int[words.size()][];
        this.visitedAtMerge = new int[words.size()];
        for (int rank = 0; rank < ranks.size(); rank++) {
            idOfBytes.put(key(ranks.get(rank)), rank);
        }
        for (int word = 0; word < symbols.length; word++) {
            byte[] bytes = words.get(word);
            int[] ids = new int[bytes.length];
            for (int i = 0; i < bytes.length; i++) {
                ids[i] = bytes[i] & 0xff;
            }
            symbols[word] = ids;
            addPairs(word, ids, frequencies[word]);
        }
        pairs.forEach((pair, stat) -> heap.add(new Candidate(stat.count, left(pair), right(pair))));
    }

    /**
     * Merges until there are {@code rankCount} ranks (or no pair is frequent enough); reports each merge's
     * resulting rank count to {@code progress}. Returns the bytes of every rank, rank order.
     */
    public byte[][] merge(int rankCount, IntConsumer progress) {
        int mergeNumber = 0;
        while (ranks.size() < rankCount && !heap.isEmpty()) {
            Candidate best = heap.poll();
            long pair = pair(best.left(), best.right());
            PairStat stat = pairs.get(pair);
            if (stat == null || stat.count != best.count()) {
                continue; // stale: a newer entry with the current count is in the heap
            }
            if (best.count() < MIN_PAIR_COUNT) {
                break;
            }
            mergeNumber++;
            int merged = idOf(concat(ranks.get(best.left()), ranks.get(best.right())));
            Set<Long> touched = new HashSet<>();
            for (int i = 0; i < stat.wordCount; i++) {
                int word = stat.words[i];
                if (visitedAtMerge[word] != mergeNumber) {
                    visitedAtMerge[word] = mergeNumber;
                    mergeInWord(word, best.left(), best.right(), merged, touched);
                }
            }
            pairs.remove(pair);
            touched.remove(pair);
            for (long key : touched) {
                PairStat changed = pairs.get(key);
                if (changed != null && changed.count > 0) {
                    heap.add(new Candidate(changed.count, left(key), right(key)));
                }
            }
            progress.accept(ranks.size());
        }
        return ranks.toArray(new byte[0][]);
    }

    private void mergeInWord(int word, int left, int right, int merged, Set<Long> touched) {
        int[] old = symbols[word];
        int[] replaced = new int[old.length];
        int length = 0;
        for (int i = 0; i < old.length; i++) {
            if (i + 1 < old.length && old[i] == left && old[i + 1] == right) {
                replaced[length++] = merged;
                i++;
            } else {
                replaced[length++] = old[i];
            }
        }
        if (length == old.length) {
            return; // a stale index entry: the pair no longer occurs in this word
        }
        int[] updated = Arrays.copyOf(replaced, length);
        long frequency = frequencies[word];
        for (int i = 0; i + 1 < old.length; i++) {
            long key = pair(old[i], old[i + 1]);
            PairStat stat = pairs.get(key);
            if (stat != null) {
                stat.count -= frequency;
                if (stat.count <= 0 && key != pair(left, right)) {
                    pairs.remove(key);
                }
            }
            touched.add(key);
        }
        addPairs(word, updated, frequency);
        for (int i = 0; i + 1 < updated.length; i++) {
            touched.add(pair(updated[i], updated[i + 1]));
        }
        symbols[word] = updated;
    }

    private void addPairs(int word, int[] ids, long frequency) {
        for (int i = 0; i + 1 < ids.length; i++) {
            PairStat stat = pairs.computeIfAbsent(pair(ids[i], ids[i + 1]), key -> new PairStat());
            stat.count += frequency;
            stat.addWord(word);
        }
    }

    /** The id of {@code bytes}: an existing token's (two merges can spell the same bytes) or a new rank. */
    private int idOf(byte[] bytes) {
        return idOfBytes.computeIfAbsent(key(bytes), k -> {
            ranks.add(bytes);
            return ranks.size() - 1;
        });
    }

    private static String key(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1); // one char per byte: a faithful map key
    }

    private static byte[] concat(byte[] left, byte[] right) {
        byte[] bytes = Arrays.copyOf(left, left.length + right.length);
        System.arraycopy(right, 0, bytes, left.length, right.length);
        return bytes;
    }

    private static long pair(int left, int right) {
        return ((long) left << 32) | (right & 0xffffffffL);
    }

    private static int left(long pair) {
        return (int) (pair >>> 32);
    }

    private static int right(long pair) {
        return (int) pair;
    }
}
