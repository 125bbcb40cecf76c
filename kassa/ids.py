"""Stripe-style identifiers and secrets: a prefix, an underscore, base62.

An object id is time-ordered, as Stripe's long ids are (`in_1MtHbELkdIwHu7ixl4OzzPMv`
begins with its creation time): OBJECT_ID_TIME_CHARS characters of the milliseconds since
ID_EPOCH_MS, then OBJECT_ID_RANDOM_CHARS random ones. Ids made one after another then sort
together, so each unique index on `id` (and on columns holding ids) grows at its right edge
instead of at a random page: measured on a test clock's renewals, a commit wrote half the
pages, and the rate stopped falling as the tables grew (bench/README.md). The time is the
system's, read here on purpose and not the injected clock: it orders rows for the indexes
and means nothing else (an object made under a test clock frozen in 2027 still sorts with
the rest). A wall clock stepping back only loses locality: uniqueness rests on the random
part. Secrets are random throughout."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE = len(_ALPHABET)
OBJECT_ID_TIME_CHARS = 7
"""62**7 milliseconds is about 111 years from ID_EPOCH_MS."""
OBJECT_ID_RANDOM_CHARS = 17
"""About 101 random bits after the time: 24 characters in all, the length of Stripe's long
ids (`evt_1NG8Du2eZvKYlo2CUI79vXWy`)."""
ID_EPOCH_MS = 1_577_836_800_000
"""2020-01-01 00:00 UTC."""
SECRET_RANDOM_CHARS = 32
"""API keys and client secrets: 32 base62 characters, about 190 bits."""


RANDOM_POOL_BYTES = 8_192
"""Bytes read from the OS's CSPRNG at a time: one system call serves hundreds of ids."""


class _RandomPool:
    def __init__(self) -> None:
        self._bytes = b""
        self._offset = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._offset + count > len(self._bytes):
                self._bytes = os.urandom(RANDOM_POOL_BYTES)
                self._offset = 0
            chunk = self._bytes[self._offset : self._offset + count]
            self._offset += count
            return chunk


_pool = _RandomPool()


_ACCEPTED_BYTE_MAX = _BASE * (256 // _BASE)
"""248: bytes below it map onto the 62 characters evenly (4 each); larger ones are dropped,
so every character is equally likely (rejection sampling, no modulo bias)."""
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[b % _BASE]) for b in range(_ACCEPTED_BYTE_MAX)).ljust(256)
_REJECTED_BYTES = bytes(range(_ACCEPTED_BYTE_MAX, 256))
RANDOM_DRAWS_MAX = 64
"""Draws for one string; each keeps 97% of its 4,096 bytes, so a second draw for one string
is needed only for strings longer than that, and a 64th would mean the random source is
broken."""


class _Base62Stream:
    """Random base62 characters, translated from the pool's bytes a pool's worth at a time:
    an id then costs a slice of a string instead of a draw, a `translate` and a decode
    (1.7 us an object id before, about a third of it now)."""

    def __init__(self) -> None:
        self._chars = ""
        self._offset = 0
        self._lock = threading.Lock()

    def take(self, length: int) -> str:
        with self._lock:
            for _ in range(RANDOM_DRAWS_MAX):
                if self._offset + length <= len(self._chars):
                    taken = self._chars[self._offset : self._offset + length]
                    self._offset += length
                    return taken
                # One C-level `translate` maps random bytes to characters and drops the
                # biased ones: far cheaper than Python arithmetic per character.
                drawn = _pool.take(RANDOM_POOL_BYTES // 2)
                fresh = drawn.translate(_BYTE_TO_CHAR, _REJECTED_BYTES).decode("ascii")
                self._chars = self._chars[self._offset :] + fresh
                self._offset = 0
        raise RuntimeError("the random source keeps yielding rejected bytes")


_base62 = _Base62Stream()


def random_base62(length: int) -> str:
    return _base62.take(length)


def random_hex_upper(length: int) -> str:
    """`length` random uppercase hex digits (a customer's `invoice_prefix`), from the pool:
    `secrets.token_hex` would make a system call for each."""
    return _pool.take((length + 1) // 2).hex()[:length].upper()


def base62_fixed(number: int, width: int) -> str:
    """`number` in `width` base62 digits, most significant first (zero-padded), so that the
    strings sort as the numbers do."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, _BASE)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


class _TimePrefix:
    """The current millisecond in base62, encoded once per millisecond."""

    def __init__(self) -> None:
        # One tuple, replaced whole: a thread never reads one millisecond's digits with
        # another's number.
        self._last = (-1, "")

    def now(self) -> str:
        millisecond = max(0, time.time_ns() // 1_000_000 - ID_EPOCH_MS)
        last_millisecond, encoded = self._last
        if millisecond != last_millisecond:
            encoded = base62_fixed(millisecond, OBJECT_ID_TIME_CHARS)
            self._last = (millisecond, encoded)
        return encoded


_time_prefix = _TimePrefix()


def new_id(prefix: str) -> str:
    return f"{prefix}_{_time_prefix.now()}{random_base62(OBJECT_ID_RANDOM_CHARS)}"


def new_secret(prefix: str) -> str:
    return f"{prefix}_{random_base62(SECRET_RANDOM_CHARS)}"
