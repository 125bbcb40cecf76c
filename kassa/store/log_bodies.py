"""How the request log keeps response bodies: short ones as text, long ones zstd-compressed.

A list answer is 6 to 8 KB of JSON, and every answer is logged: at a few thousand lists a
second the log alone wrote tens of megabytes a second through SQLite's WAL, and the kernel's
write-back of that volume stalled the event loop (a list's p99 at concurrency 32 was 35 ms
with bodies logged as text, 7 ms with them compressed; bench/README.md). zstd's first fast
level (-1) packs a list of ten customers (8.6 KB) nine to one in about 4.5 us, where level 1
took 8 us for eleven to one. Bodies under
`COMPRESS_FROM_BYTES` (a single object's answer, an error) gain too little to be worth the
call and stay text, so that a row stays readable with plain SQL.
"""

from __future__ import annotations

import zstandard

COMPRESS_FROM_BYTES = 1024
"""Bodies at least this long (UTF-8 bytes) are stored compressed."""

COMPRESSION_LEVEL = -1
"""zstd's first fast level, a little size for speed: the log is written on the event loop's
thread, and a list's answer compressed at level 1 cost 4% of the list's instructions
(bench/README.md). Decompression reads frames of any level."""

UNPACKED_BYTES_MAX = 1 << 20
"""A bound on what one stored body may unpack to: far above what the API logs of a body
(`kassa.http.api.LOGGED_BODY_BYTES_MAX` bytes, at most three times that once decoded)."""

_COMPRESSOR = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
"""One for the process: a compressor reuses its buffers. The log's writes all run on the
event loop's thread, so it is never used from two threads at once."""


def pack(body: str | None) -> tuple[str | None, bytes | None]:
    """`body` as the two columns keep it: (text, None) or (None, a zstd frame)."""
    if body is None:
        return None, None
    encoded = body.encode("utf-8", "surrogatepass")
    if len(encoded) < COMPRESS_FROM_BYTES:
        return body, None
    return None, _COMPRESSOR.compress(encoded)


def unpack(text: str | None, packed: bytes | None) -> str | None:
    """The body `pack` stored as `text` or `packed`."""
    if packed is None:
        return text
    unpacked = zstandard.ZstdDecompressor().decompress(
        bytes(packed), max_output_size=UNPACKED_BYTES_MAX
    )
    return unpacked.decode("utf-8", "replace")
