"""`kassa.http.protocol`: uvicorn's httptools protocol with each response's head written in
the same transport write as its body. The protocol runs on a real event loop with uvicorn's
own config and server state; only the socket is replaced by a transport that records what
is written to it, since the point is how many writes a response takes."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from kassa.http.protocol import HeadWithBodyProtocol, _HeadHolder, _HeadPrefixer

BODY = b'{\n  "id": "cus_1"\n}'
TASKS_WAIT_SECONDS = 5


class RecordingTransport(asyncio.Transport):
    """A connected socket's transport that keeps each `write` apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        # A real socket's transport drops what is written after close: so does this one, so
        # that a head written too late shows as missing.
        if not self.closed:
            self.writes.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 4242)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def answer(scope: Any, receive: Any, send: Any) -> None:
    """Answers as Kassa's API does: the start, then the whole body in one message."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"19")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


async def served(*requests: bytes) -> list[bytes]:
    """The writes the protocol makes for `requests`, sent on one connection in turn."""
    state = ServerState()
    config = Config(app=answer, http=HeadWithBodyProtocol, lifespan="off", log_level="warning")
    protocol = HeadWithBodyProtocol(config=config, server_state=state, app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    for request in requests:
        protocol.data_received(request)
        async with asyncio.timeout(TASKS_WAIT_SECONDS):
            while state.tasks:
                await asyncio.gather(*state.tasks)
    return transport.writes


def test_a_response_head_goes_out_in_the_same_write_as_its_body() -> None:
    (write,) = asyncio.run(served(b"GET /v1/customers/cus_1 HTTP/1.1\r\nHost: k\r\n\r\n"))
    head, _, body = write.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 19" in head
    assert body == BODY


def test_each_response_on_a_kept_alive_connection_is_one_write() -> None:
    request = b"GET /v1/customers/cus_1 HTTP/1.1\r\nHost: k\r\n\r\n"
    writes = asyncio.run(served(request, request))
    assert len(writes) == 2
    assert all(w.startswith(b"HTTP/1.1 200 OK") and w.endswith(BODY) for w in writes)


def test_a_head_without_a_body_write_is_still_written() -> None:
    """uvicorn writes no body for HEAD: the head held for it goes out on its own."""
    (write,) = asyncio.run(served(b"HEAD / HTTP/1.1\r\nHost: k\r\n\r\n"))
    assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\n")


def test_a_head_answer_on_a_connection_not_kept_alive_is_written_before_the_close() -> None:
    """uvicorn closes such a connection inside the body message, which writes nothing for
    HEAD: the held head must go out before the close (HTTP/1.0 health checks send this)."""
    for request in (
        b"HEAD / HTTP/1.0\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
    ):
        (write,) = asyncio.run(served(request))
        assert write.startswith(b"HTTP/1.1 200 OK\r\n") and write.endswith(b"\r\n\r\n")
        assert b"connection: close" in write.lower()


def test_a_get_on_a_connection_not_kept_alive_is_one_write_before_the_close() -> None:
    (write,) = asyncio.run(served(b"GET / HTTP/1.0\r\n\r\n"))
    assert write.startswith(b"HTTP/1.1 200 OK") and write.endswith(BODY)


def test_a_body_written_with_writelines_still_follows_its_head() -> None:
    """Should uvicorn write a body with `writelines`, the held head still goes first, in the
    same write (the wrappers pass other attributes through to the real transport)."""
    transport = RecordingTransport()
    holder = _HeadHolder(transport)
    holder.writelines([b"HTTP/1.1 200 OK\r\n", b"\r\n"])
    _HeadPrefixer(transport, holder.head).writelines([b"{", b"}"])
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
