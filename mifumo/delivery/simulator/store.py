"""What the simulator received: one record per recipient, kept in columns.

A benchmark sends 50,000+ messages and then asks "did every recipient get exactly one?" and
"did any 60-second window hold more than N?". A dict per record costs ~600 bytes; these
columns cost ~100 (a float, a few small ints, the recipient string; texts and sender ids are
stored once and referenced), so 50,000 records take about 5 MB.

Provider ids are not stored either: they are derived from the record's position and a random
prefix that changes on every reset, so ids never repeat across resets of one process.
"""

from __future__ import annotations

import secrets
import uuid
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from mifumo.delivery.segments import count_segments

VENDORS = ("beem", "arkesel", "africastalking", "twilio")
_VENDOR_CODE = {name: code for code, name in enumerate(VENDORS)}


class _Interned:
    """A list of distinct strings and each one's position: a column stores positions."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def index(self, value: str) -> int:
        position = self._index.get(value)
        if position is None:
            position = self._index[value] = len(self.values)
            self.values.append(value)
        return position


class MessageStore:
    def __init__(self) -> None:
        # Beem answers one request_id per request: a counter that survives resets, starting
        # at a number that looks like Beem's.
        self._next_request_id = 35_000_000 + secrets.randbelow(1_000_000)
        self.reset()

    def reset(self) -> None:
        self._run = secrets.randbits(63) | 1  # part of every id: none repeats after a reset
        self._vendor = bytearray()
        self._received_at = array("d")
        self._recipient: list[str] = []
        self._texts = _Interned()
        self._text_segments = array("H")
        self._text = array("I")
        self._senders = _Interned()
        self._sender = array("I")
        self._request = array("Q")
        self._reference: list[str | None] = []  # the client's reference (Beem recipient_id)

    def __len__(self) -> int:
        return len(self._recipient)

    def next_request_id(self) -> int:
        self._next_request_id += 1
        return self._next_request_id

    def add(
        self,
        vendor: str,
        recipients: Sequence[str],
        text: str,
        sender: str,
        received_at: float,
        request_id: int,
        references: Sequence[str | None] | None = None,
    ) -> int:
        """Record one message to each recipient; return the position of the first."""
        first = len(self._recipient)
        count = len(recipients)
        text_position = self._texts.index(text)
        if text_position == len(self._text_segments):
            self._text_segments.append(min(count_segments(text).segments, 65535))
        self._vendor.extend(bytes([_VENDOR_CODE[vendor]]) * count)
        self._received_at.extend([received_at] * count)
        self._recipient.extend(recipients)
        self._text.extend([text_position] * count)
        self._sender.extend([self._senders.index(sender)] * count)
        self._request.extend([request_id] * count)
        self._reference.extend(references if references is not None else [None] * count)
        return first

    def segments_of(self, position: int) -> int:
        return self._text_segments[self._text[position]]

    def provider_id(self, position: int) -> str:
        """The id the vendor's answer gives this record (Beem: the request's request_id)."""
        vendor = VENDORS[self._vendor[position]]
        if vendor == "beem":
            return str(self._request[position])
        if vendor == "arkesel":
            return str(uuid.UUID(int=(self._run << 64) | position))
        prefix = "SM" if vendor == "twilio" else "ATXid_"
        return f"{prefix}{self._run:016x}{position:016x}"

    def record(self, position: int) -> dict[str, Any]:
        return {
            "id": self.provider_id(position),
            "vendor": VENDORS[self._vendor[position]],
            "recipient": self._recipient[position],
            "text": self._texts.values[self._text[position]],
            "sender": self._senders.values[self._sender[position]],
            "received_at": self._received_at[position],
            "request_id": self._request[position],
            "reference": self._reference[position],
            "segments": self.segments_of(position),
        }

    def records(
        self,
        *,
        vendor: str | None = None,
        recipient: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many match, the records from offset), oldest first."""
        positions = self._matching(vendor, recipient)
        total = len(positions)
        chosen = positions[offset : None if limit is None else offset + limit]
        return total, [self.record(position) for position in chosen]

    def _matching(self, vendor: str | None, recipient: str | None) -> Sequence[int]:
        positions: Iterable[int] = range(len(self._recipient))
        if vendor is not None:
            code = _VENDOR_CODE[vendor]
            positions = [p for p in positions if self._vendor[p] == code]
        if recipient is not None:
            wanted = recipient.lstrip("+")
            positions = [p for p in positions if self._recipient[p].lstrip("+") == wanted]
        return positions if isinstance(positions, list | range) else list(positions)

    def stats(
        self, *, vendor: str | None = None, window: float = 60.0, per_recipient: bool = True
    ) -> dict[str, Any]:
        """Counts per recipient ("+255…" and "255…" are one recipient), the duplicates, and
        the most messages (and segments) received in any `window`-second span."""
        positions = self._matching(vendor, None)
        counts = Counter(self._recipient[p].lstrip("+") for p in positions)
        duplicates = {number: seen for number, seen in counts.items() if seen > 1}
        by_vendor = Counter(VENDORS[self._vendor[p]] for p in positions)
        moments = sorted((self._received_at[p], self.segments_of(p)) for p in positions)
        most_messages, most_segments = _busiest_window(moments, window)
        result: dict[str, Any] = {
            "messages": len(positions),
            "segments": sum(segments for _, segments in moments),
            "unique_recipients": len(counts),
            "duplicate_messages": sum(seen - 1 for seen in duplicates.values()),
            "duplicates": duplicates,
            "by_vendor": {name: by_vendor.get(name, 0) for name in VENDORS},
            "window_seconds": window,
            "max_messages_in_window": most_messages,
            "max_segments_in_window": most_segments,
            "first_received_at": moments[0][0] if moments else None,
            "last_received_at": moments[-1][0] if moments else None,
        }
        if per_recipient:
            result["counts"] = dict(counts)
        return result


def _busiest_window(moments: list[tuple[float, int]], window: float) -> tuple[int, int]:
    """Most records, and most segments, with received_at in any half-open span
    [t, t + window)."""
    most_messages = most_segments = segments = start = 0
    for end, (moment, weight) in enumerate(moments):
        segments += weight
        while moment - moments[start][0] >= window:
            segments -= moments[start][1]
            start += 1
        most_messages = max(most_messages, end - start + 1)
        most_segments = max(most_segments, segments)
    return most_messages, most_segments
