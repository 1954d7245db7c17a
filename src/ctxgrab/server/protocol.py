"""The HTTP/1.1 protocol ``ctxgrab serve`` runs: uvicorn's httptools protocol with limits and deadlines.

The webhook endpoint faces the internet. uvicorn's httptools protocol (the C parser
llhttp) has no bound on a request head (a 50 MB header was read whole) and no deadline
for a head or a body: a client that sends one byte a second holds its connection, and
its file descriptor, for ever (``timeout_keep_alive`` is cancelled by every byte that
arrives). This protocol adds:

- a **head size limit** (``server.max_header_bytes``): while a request head is being
  read, at most that many bytes are given to the parser; a longer request line and
  headers get ``400`` and the connection is closed. A head that arrived pipelined
  behind a body (not counted as it was read) is measured when it is complete;
- a **head deadline** (``server.header_timeout_s``) from the connection's first byte
  (on a kept-alive connection, from the first byte of the next request) to the end of
  the request head: then ``408`` and the connection is closed;
- a **body deadline** (``server.body_timeout_s``) from the end of the head to the end of
  the body, for every route: then the connection is closed (the webhook route answers
  ``408`` itself just before, see :mod:`ctxgrab.server.app`);
- a **connection cap** (``server.max_connections``): a connection beyond it is closed
  as soon as it is accepted, so held connections cannot exhaust file descriptors.

Together with uvicorn's ``limit_concurrency`` and ``timeout_keep_alive``, and the app's
header-count and body size limits, every connection ends within a bounded time and
bounded memory.

Earlier releases ran uvicorn's h11 protocol for its head limit. h11 parses in Python:
about three times the CPU per request of httptools, which halved the acknowledgements a
second the server could give (docs/benchmarks.md, "Webhooks").

>>> protocol_class(ServerConfig())            # doctest: +SKIP
<class 'ctxgrab.server.protocol.GuardedHttpToolsProtocol'>
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import ServerConfig

__all__ = ["GuardedHttpToolsProtocol", "protocol_class"]

log = logging.getLogger("ctxgrab.server")

_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
)


class _Stop(Exception):
    """Raised in a parser callback to stop the parser (it arrives as ``HttpParserCallbackError``)."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size limit, head and body deadlines and a connection cap."""

    max_header_bytes: int = 16384
    #: requests read ahead of the one being answered; httptools parses every request of a read at
    #: once, so without a cap one 256 KiB read of tiny pipelined requests held 14,562 of them (32 MiB)
    max_pipelined: int = 16
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_connections: int = 256
    _last_refusal_log = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request head (until the parser completes it)
        self._head_bytes = 0  # bytes given to the parser while in that head
        self._stopped = False  # nothing more is read: a head past the limit, or too many pipelined requests
        self._last_answer: str | None = None  # the 400 sent once the requests before it are answered

    # -- connection cap ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            now = time.monotonic()
            if now - GuardedHttpToolsProtocol._last_refusal_log > 10:  # one line per 10 s, not one per connection
                GuardedHttpToolsProtocol._last_refusal_log = now
                log.warning("refusing connections: %d open, server.max_connections=%d",
                            len(self.connections), self.max_connections)
            transport.abort()
            return
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    # -- reading, with the head bounded ---------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._stopped:
            return
        self._unset_keepalive_if_required()
        if self._in_head and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)
        while data:
            if self._in_head:
                # never more than the rest of the allowance to the parser, which buffers a header whole
                room = self.max_header_bytes - self._head_bytes
                piece, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
            if not self._feed(piece):
                return
            if self._in_head and self._head_bytes >= self.max_header_bytes:
                self._stop(self._head_refusal())
                return

    def _feed(self, data: bytes) -> bool:
        """Give ``data`` to the parser; False when the connection is done with (refused, upgraded, closed)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError as e:
            if not isinstance(e.__context__, _Stop):
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return False
        return not self.transport.is_closing()

    def _head_refusal(self) -> str:
        log.warning("request head larger than server.max_header_bytes=%d: refused", self.max_header_bytes)
        return f"request line and headers larger than {self.max_header_bytes} bytes"

    def _busy(self) -> bool:
        return (self.cycle is not None and not self.cycle.response_complete) or bool(self.pipeline)

    def _stop(self, answer: str | None) -> None:
        """Read nothing more; once the requests read before are answered, send ``answer`` (400) or just close."""
        self._stopped, self._last_answer = True, answer
        self.flow.pause_reading()
        if not self._busy():
            self._finish()

    def _finish(self) -> None:
        if self.transport.is_closing():
            return
        if self._last_answer is not None:
            self.send_400_response(self._last_answer)
        else:
            self.transport.close()

    def on_response_complete(self) -> None:
        if self._stopped and not self.pipeline:
            self.server_state.total_requests += 1
            self._finish()
            return
        super().on_response_complete()

    # -- parser callbacks: where a head and a body end --------------------------------------------
    def on_headers_complete(self) -> None:
        # A head read behind a pipelined body was not counted as it came: measure it whole
        # ("METHOD url HTTP/1.1", each "name: value", their CRLFs and the empty line).
        size = len(self.parser.get_method()) + len(self.url) + 14
        size += sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            self._stop(self._head_refusal())
            raise _Stop
        if len(self.pipeline) >= self.max_pipelined:
            # the requests read so far are answered, then the connection closes; a pipelining
            # client sends the unanswered ones again (RFC 9112, 9.3.2)
            log.warning("more than %d requests pipelined on one connection: answering those, then closing it",
                        self.max_pipelined)
            self._stop(None)
            raise _Stop
        self._in_head = False
        self._cancel(self._head_timer)
        self._head_timer = None
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0
        self._cancel(self._body_timer)
        self._body_timer = None

    # -- deadlines --------------------------------------------------------------------------
    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served; a pipelined head waits for it (re-armed by its next byte)
        if self._head_bytes == 0 and self.timeout_keep_alive_task is not None:
            return  # an idle kept-alive connection: its own timer (timeout_keep_alive) is running
        msg = f"request head not received within {self.header_timeout_s:g} s\n".encode()
        self.transport.write(_TIMEOUT_408 % (len(msg), msg))
        self.transport.close()

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._in_head:
            return
        if self.cycle is not None and not self.cycle.response_started:
            msg = f"request body not received within {self.body_timeout_s:g} s\n".encode()
            self.transport.write(_TIMEOUT_408 % (len(msg), msg))
            self.cycle.disconnected = True  # the app's later send() must not write on this transport
        self.transport.close()

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None


def protocol_class(cfg: ServerConfig) -> type[GuardedHttpToolsProtocol]:
    """A :class:`GuardedHttpToolsProtocol` subclass carrying ``cfg``'s limits (uvicorn builds one per connection)."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "max_header_bytes": cfg.max_header_bytes,
            "header_timeout_s": cfg.header_timeout_s,
            # the app answers 408 on the webhook route at body_timeout_s; this closes any route just after
            "body_timeout_s": cfg.body_timeout_s + 1.0,
            "max_connections": cfg.max_connections,
        },
    )
