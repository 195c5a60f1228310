package io.streamtrain.trainer.replay;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeParseException;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a replay moves the trainer's input: explicit offsets of some partitions, the first record at or after a
 * time, or the earliest retained record of every partition. A duration back from now is a time, resolved when
 * parsed. The four kinds match the four exclusive flags of {@code streamtrain replay}.
 */
public sealed interface ReplayTarget {

    /** Offset of the next record to read, per partition; partitions not named keep their position. */
    record ToOffsets(Map<Integer, Long> offsets) implements ReplayTarget {
        public ToOffsets {
            if (offsets.isEmpty()) {
                throw new IllegalArgumentException("--to-offset needs at least one PARTITION:OFFSET");
            }
            offsets.forEach((partition, offset) -> {
                if (partition < 0 || offset < 0) {
                    throw new IllegalArgumentException("partition and offset must not be negative, got "
                            + partition + ":" + offset);
                }
            });
            offsets = Collections.unmodifiableMap(new TreeMap<>(offsets));
        }

        @Override
        public String describe() {
            return "offsets " + offsets;
        }
    }

    /** The first record whose timestamp is at or after {@code time}, in every partition. */
    record ToTime(Instant time) implements ReplayTarget {
        @Override
        public String describe() {
            return "the first record at or after " + time;
        }
    }

    /** The earliest retained record of every partition. */
    record ToEarliest() implements ReplayTarget {
        @Override
        public String describe() {
            return "the earliest retained record";
        }
    }

    /** One phrase for the plan's heading, e.g. {@code the first record at or after 2026-11-20T10:00:00Z}. */
    String describe();

    /**
     * {@code PARTITION:OFFSET} arguments, e.g. {@code ["0:120", "1:98"]}.
     *
     * @throws IllegalArgumentException naming the argument that is not of that form, or a partition given twice
     */
    static ToOffsets parseOffsets(List<String> arguments) {
        Map<Integer, Long> offsets = new TreeMap<>();
        for (String argument : arguments) {
            int colon = argument.indexOf(':');
            try {
                if (colon < 0) {
                    throw new NumberFormatException();
                }
                int partition = Integer.parseInt(argument.substring(0, colon).trim());
                long offset = Long.parseLong(argument.substring(colon + 1).trim());
                if (offsets.put(partition, offset) != null) {
                    throw new IllegalArgumentException("--to-offset names partition " + partition + " twice");
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--to-offset '" + argument
                        + "' is not PARTITION:OFFSET (e.g. 0:1200)");
            }
        }
        return new ToOffsets(offsets);
    }

    /**
     * An ISO-8601 time: with an offset or {@code Z} ({@code 2026-11-20T10:00:00Z}, {@code 2026-11-20T10:00+01:00}),
     * or local to {@code zone} ({@code 2026-11-20T10:00:00}, {@code 2026-11-20}).
     */
    static ToTime parseDatetime(String text, ZoneId zone) {
        String trimmed = text.trim();
        try {
            return new ToTime(OffsetDateTime.parse(trimmed).toInstant());
        } catch (DateTimeParseException notWithOffset) {
            try {
                return new ToTime(LocalDateTime.parse(trimmed).atZone(zone).toInstant());
            } catch (DateTimeParseException notLocal) {
                try {
                    return new ToTime(LocalDate.parse(trimmed).atStartOfDay(zone).toInstant());
                } catch (DateTimeParseException notDate) {
                    throw new IllegalArgumentException("--to-datetime '" + text + "' is not an ISO-8601 time; write"
                            + " e.g. 2026-11-20T10:00:00Z, 2026-11-20T10:00:00+01:00 or 2026-11-20T10:00:00 (local time, "
                            + zone + ")");
                }
            }
        }
    }

    Pattern SIMPLE_DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");

    /** A duration back from {@code now}: ISO-8601 ({@code PT1H30M}, {@code P1D}) or {@code 90s}, {@code 15m}, {@code 2h}, {@code 1d}. */
    static ToTime parseDuration(String text, Instant now) {
        String trimmed = text.trim();
        Duration duration;
        Matcher simple = SIMPLE_DURATION.matcher(trimmed);
        if (simple.matches()) {
            long amount = Long.parseLong(simple.group(1));
            duration = switch (simple.group(2)) {
                case "ms" -> Duration.ofMillis(amount);
                case "s" -> Duration.ofSeconds(amount);
                case "m" -> Duration.ofMinutes(amount);
                case "h" -> Duration.ofHours(amount);
                default -> Duration.ofDays(amount);
            };
        } else {
            try {
                duration = Duration.parse(trimmed);
            } catch (DateTimeParseException e) {
                throw new IllegalArgumentException("--by-duration '" + text + "' is not a duration; write e.g. 90s,"
                        + " 15m, 2h, 1d or ISO-8601 PT1H30M");
            }
        }
        if (duration.isNegative()) {
            throw new IllegalArgumentException("--by-duration '" + text + "' is negative; give how far back to go");
        }
        return new ToTime(now.minus(duration));
    }
}
