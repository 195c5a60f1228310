package io.streamtrain.trainer.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ReplayTargetTest {
    private static final Instant NOW = Instant.parse("2026-11-20T12:00:00Z");

    @Test
    void shouldParsePartitionOffsetPairs() {
        assertEquals(Map.of(0, 1200L, 3, 7L), ReplayTarget.parseOffsets(List.of("0:1200", "3:7")).offsets());
    }

    @Test
    void shouldNameTheArgumentWhenAnOffsetIsMalformedOrRepeated() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ReplayTarget.parseOffsets(List.of("0=12")))
                .getMessage().contains("'0=12' is not PARTITION:OFFSET"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ReplayTarget.parseOffsets(List.of("1:2", "1:3")))
                .getMessage().contains("partition 1 twice"));
        assertThrows(IllegalArgumentException.class, () -> ReplayTarget.parseOffsets(List.of("0:-4")));
    }

    @Test
    void shouldParseTimesWithAnOffsetOrInTheGivenZone() {
        ZoneId paris = ZoneId.of("Europe/Paris");
        assertEquals(Instant.parse("2026-11-20T10:00:00Z"), ReplayTarget.parseDatetime("2026-11-20T10:00:00Z", paris).time());
        assertEquals(Instant.parse("2026-11-20T09:00:00Z"),
                ReplayTarget.parseDatetime("2026-11-20T10:00:00+01:00", ZoneOffset.UTC).time());
        assertEquals(Instant.parse("2026-11-20T09:00:00Z"), ReplayTarget.parseDatetime("2026-11-20T10:00", paris).time());
        assertEquals(Instant.parse("2026-11-19T23:00:00Z"), ReplayTarget.parseDatetime("2026-11-20", paris).time());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ReplayTarget.parseDatetime("yesterday", paris))
                .getMessage().contains("'yesterday' is not an ISO-8601 time"));
    }

    @Test
    void shouldParseDurationsBackFromNow() {
        assertEquals(NOW.minusSeconds(90), ReplayTarget.parseDuration("90s", NOW).time());
        assertEquals(NOW.minusSeconds(2 * 3600), ReplayTarget.parseDuration("2h", NOW).time());
        assertEquals(NOW.minusSeconds(86_400), ReplayTarget.parseDuration("1d", NOW).time());
        assertEquals(NOW.minusSeconds(5400), ReplayTarget.parseDuration("PT1H30M", NOW).time());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ReplayTarget.parseDuration("an hour", NOW))
                .getMessage().contains("'an hour' is not a duration"));
    }
}
