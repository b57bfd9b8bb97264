"""marketbox.ids: new ids are canonical UUIDv7 strings that sort by creation time."""

from __future__ import annotations

import time
import uuid

from marketbox import ids


def test_a_new_id_is_a_canonical_version_7_uuid() -> None:
    for _ in range(2000):
        value = ids.new_id()
        parsed = uuid.UUID(value)
        assert str(parsed) == value  # lowercase, hyphenated as 8-4-4-4-12
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert ids.is_uuid(value)


def test_ids_made_later_sort_after_earlier_ones() -> None:
    earlier = ids.new_id()
    time.sleep(0.002)  # the order is by millisecond
    later = ids.new_id()
    assert earlier < later
    assert uuid.UUID(earlier).int >> 80 <= time.time_ns() // 1_000_000


def test_new_ids_differ() -> None:
    assert len({ids.new_id() for _ in range(10_000)}) == 10_000
