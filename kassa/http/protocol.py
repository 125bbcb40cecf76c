"""The HTTP protocol `kassa serve` runs: uvicorn's httptools protocol, with each response's
status line and headers written to the socket together with the first part of its body.

uvicorn writes the head as soon as the app sends `http.response.start` and the body when it
sends `http.response.body`: two `write` system calls for every response, which on loopback
were about a tenth of the server's CPU per retrieve (136 against 121 us per request, measured
with `bench/customers.py`'s method). Kassa answers every request with its whole body in one
message right after the start (`kassa.http.api._send`), so holding the head until the body
costs nothing but the copy of a few hundred bytes.

The head is held only between those two messages of one response. A head not followed by a
body write (a HEAD request, a body message uvicorn refuses) is written when that message has
been handled, or before uvicorn closes the connection while handling it, so nothing is lost;
an app that fails between the two has its connection closed by uvicorn with nothing sent
(plain uvicorn would have sent the head first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _HeadHolder:
    """Stands for the transport while uvicorn writes a response's head: keeps the bytes."""

    __slots__ = ("_transport", "head")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += data

    def writelines(self, parts: Iterable[bytes]) -> None:
        # Through `write`: a uvicorn writing with `writelines` must not reach the socket
        # around the wrapper (`__getattr__` would hand it the real transport's).
        self.write(b"".join(parts))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeadPrefixer:
    """Stands for the transport while uvicorn writes the body: the held head goes first, in
    the same write."""

    __slots__ = ("_transport", "head")

    def __init__(self, transport: Any, head: bytes) -> None:
        self._transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self._transport.write(head + data)

    def writelines(self, parts: Iterable[bytes]) -> None:
        self.write(b"".join(parts))

    def flush(self) -> None:
        """Write the head if no body write took it."""
        if self.head:
            self.write(b"")

    def close(self) -> None:
        """uvicorn closes a connection not kept alive within the same message (a HEAD answer
        over HTTP/1.0 or with `Connection: close` has no body write): the head goes first."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeadWithBodyCycle(RequestResponseCycle):
    """One request's cycle, its response head written with its body."""

    _held_head = b""

    async def send(self, message: Any) -> None:
        transport = self.transport
        if message["type"] == "http.response.start" and not self.response_started:
            holder = _HeadHolder(transport)
            self.transport = cast(asyncio.Transport, holder)
            try:
                await super().send(message)
            finally:
                self.transport = transport
            self._held_head = holder.head
            return
        if not self._held_head:
            await super().send(message)
            return
        prefixer = _HeadPrefixer(transport, self._held_head)
        self._held_head = b""
        self.transport = cast(asyncio.Transport, prefixer)
        try:
            await super().send(message)
        finally:
            self.transport = transport
            prefixer.flush()


class HeadWithBodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `_HeadWithBodyCycle` for every request (`http=` in
    uvicorn's config)."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # The cycle was made just now and its task has not started: it reads `send` when it
        # runs, so the subclass's is the one the app is given.
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = _HeadWithBodyCycle
