"""The HTTP protocol of ``ctxgrab serve`` (``ctxgrab.server.protocol``), driven in-process.

A fake transport stands in for the socket, so each test decides exactly which bytes
arrive in which read: a head at the size limit, one byte over it, a head pipelined
behind a body in the same read. The deadlines and the connection cap are tested
against a real server in ``tests/test_hostile_server.py``.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from ctxgrab.server import ServerConfig
from ctxgrab.server.protocol import protocol_class

LIMIT = 2048


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.closed_by_server = False  # before the test ended the connection
        self.changed = asyncio.Event()

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data) -> None:
        self.written += data
        self.changed.set()

    def close(self) -> None:
        self.closed = True
        self.changed.set()

    abort = close

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope, receive, send):
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    reply = b"got %d" % len(body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(reply))]})
    await send({"type": "http.response.body", "body": reply})


def _protocol(loop: asyncio.AbstractEventLoop, **cfg):
    config = Config(app=_app, http=protocol_class(ServerConfig(max_header_bytes=LIMIT, **cfg)), lifespan="off", access_log=False)
    config.load()
    proto = config.http_protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = _Transport()
    proto.connection_made(transport)
    return proto, transport


async def _until(transport: _Transport, done) -> None:
    """Let the app run until ``done(transport)`` (bounded: a wrong server fails, it does not hang)."""
    async def wait() -> None:
        while not done(transport):
            transport.changed.clear()
            await transport.changed.wait()
    await asyncio.wait_for(wait(), 5)


def _responses(written: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", bytes(written))


def _get(extra_header_bytes: int) -> bytes:
    """A GET whose request line and headers (CRLFs and ': ' included) are ``LIMIT - 200 + extra`` bytes."""
    start = b"GET /x HTTP/1.1\r\nHost: t\r\nX-Pad: "
    pad = LIMIT - 200 + extra_header_bytes - len(start) - 4
    return start + b"p" * pad + b"\r\n\r\n"


def _run(chunks: list[bytes], done, **cfg) -> _Transport:
    async def main() -> _Transport:
        proto, transport = _protocol(asyncio.get_running_loop(), **cfg)
        try:
            for chunk in chunks:
                proto.data_received(chunk)
            await _until(transport, done)
        finally:
            transport.closed_by_server = transport.closed
            proto.connection_lost(None)
        return transport
    return asyncio.run(main())


def test_a_head_within_the_limit_is_served_and_one_past_it_is_400_and_closed():
    ok = _run([_get(200)], lambda t: b"got 0" in t.written)  # exactly LIMIT bytes
    assert _responses(ok.written) == [b"HTTP/1.1 200 OK"] and not ok.closed_by_server
    refused = _run([_get(201)], lambda t: t.closed)
    assert _responses(refused.written) == [b"HTTP/1.1 400 Bad Request"]
    assert b"larger than %d bytes" % LIMIT in refused.written


def test_the_parser_is_never_given_more_head_than_the_limit():
    fed: list[int] = []

    class Counting:
        def __init__(self, parser):
            self.parser = parser

        def feed_data(self, data):
            fed.append(len(data))
            return self.parser.feed_data(data)

        def __getattr__(self, name):
            return getattr(self.parser, name)

    async def main() -> _Transport:
        proto, transport = _protocol(asyncio.get_running_loop())
        proto.parser = Counting(proto.parser)
        proto.data_received(b"GET /x HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 10 * LIMIT)  # one read of 10x
        proto.data_received(b"a" * LIMIT)  # the client goes on sending
        await _until(transport, lambda t: t.closed)
        proto.connection_lost(None)
        return transport

    transport = asyncio.run(main())
    assert sum(fed) == LIMIT
    assert _responses(transport.written) == [b"HTTP/1.1 400 Bad Request"]


def test_a_head_pipelined_behind_a_body_in_the_same_read_is_held_to_the_limit():
    body = b"x" * 300
    first = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    transport = _run([first + _get(201)], lambda t: t.closed)
    assert _responses(transport.written) == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request"]
    assert b"got 300" in transport.written


def test_pipelined_requests_within_the_limit_are_all_answered_in_order():
    one = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    transport = _run([one + _get(0) + one], lambda t: t.written.count(b"HTTP/1.1 200") == 3)
    assert _responses(transport.written) == [b"HTTP/1.1 200 OK"] * 3
    assert transport.written.count(b"got 3") == 2 and not transport.closed_by_server


def test_a_body_split_over_reads_is_not_counted_as_head():
    body = b"y" * (3 * LIMIT)
    head = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    transport = _run([head + body[:10], body[10:LIMIT], body[LIMIT:]], lambda t: b"got" in t.written)
    assert _responses(transport.written) == [b"HTTP/1.1 200 OK"] and b"got %d" % len(body) in transport.written


def test_a_malformed_request_is_400_and_closed():
    transport = _run([b"GET /x HTTP/1.1\r\nHo st: t\r\n\r\n"], lambda t: t.closed)
    assert _responses(transport.written) == [b"HTTP/1.1 400 Bad Request"]


# -- what one request costs the HTTP layer ------------------------------------------------------
_LAYER = ("/uvicorn/protocols/", "/h11/", str(Path("ctxgrab") / "server" / "protocol.py"))


def test_the_http_layer_parses_in_c_and_makes_few_python_calls_per_request():
    """The guarded h11 protocol made 221 Python calls in the HTTP layer for this kept-alive request
    (h11 parses and writes in Python: about three times the server CPU per request of httptools,
    ``benchmarks/bench_serve_protocol.py``); this one makes 30. Counted with a profile hook, so
    the figure is exact, and the same on a loaded machine."""
    request = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\nabc"
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call" and any(part in frame.f_code.co_filename for part in _LAYER):
            calls += 1

    async def main() -> int:
        proto, transport = _protocol(asyncio.get_running_loop())
        proto.data_received(request)  # the first request sets up what a connection keeps
        await _until(transport, lambda t: t.written.count(b"got 3") == 1)
        sys.setprofile(count)
        try:
            proto.data_received(request)
            await _until(transport, lambda t: t.written.count(b"got 3") == 2)
        finally:
            sys.setprofile(None)
        proto.connection_lost(None)
        return calls

    assert asyncio.run(main()) < 60


def test_pipelined_requests_past_the_cap_are_not_read_the_ones_before_are_answered_then_closed():
    many = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n" * 1000  # one read; each parsed request would hold a cycle
    queued: list[int] = []

    async def main() -> _Transport:
        proto, transport = _protocol(asyncio.get_running_loop())
        proto.data_received(many)
        queued.append(len(proto.pipeline))
        proto.data_received(many)  # read after the stop: dropped
        await _until(transport, lambda t: t.closed)
        transport.closed_by_server = True
        proto.connection_lost(None)
        return transport

    transport = asyncio.run(main())
    cap = protocol_class(ServerConfig()).max_pipelined
    assert queued == [cap]
    assert _responses(transport.written) == [b"HTTP/1.1 200 OK"] * (cap + 1)  # the one served and those queued
