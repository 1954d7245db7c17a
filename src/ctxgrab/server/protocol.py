"""The HTTP/1.1 protocol ``ctxgrab serve`` runs: uvicorn's h11 protocol with deadlines.

The webhook endpoint faces the internet. uvicorn bounds the request head only with
h11 (``h11_max_incomplete_event_size``; its httptools protocol has no limit: a 50 MB
header was read whole) and has no deadline for a request head or body: a client that
sends one byte a second holds its connection, and its file descriptor, for ever
(``timeout_keep_alive`` is cancelled by every byte that arrives). This protocol adds:

- a **head deadline** (``server.header_timeout_s``) from the connection's first byte
  (or from the end of the previous response on a kept-alive connection) to the end of
  the request head: then ``408`` and the connection is closed;
- a **body deadline** (``server.body_timeout_s``) from the end of the head to the end of
  the body, for every route: then the connection is closed (the webhook route answers
  ``408`` itself just before, see :mod:`ctxgrab.server.app`);
- a **connection cap** (``server.max_connections``): a connection beyond it is closed
  as soon as it is accepted, so held connections cannot exhaust file descriptors.

Together with h11's head size limit (``server.max_header_bytes``), uvicorn's
``limit_concurrency`` and ``timeout_keep_alive``, and the app's header-count and body
size limits, every connection ends within a bounded time and bounded memory.

>>> protocol_class(ServerConfig())            # doctest: +SKIP
<class 'ctxgrab.server.protocol.GuardedH11Protocol'>
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .config import ServerConfig

__all__ = ["GuardedH11Protocol", "protocol_class"]

log = logging.getLogger("ctxgrab.server")

_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s"
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with head and body deadlines and a connection cap (class attributes)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_connections: int = 256
    _last_refusal_log = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # -- connection cap ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            now = time.monotonic()
            if now - GuardedH11Protocol._last_refusal_log > 10:  # one line per 10 s, not one per connection
                GuardedH11Protocol._last_refusal_log = now
                log.warning("refusing connections: %d open, server.max_connections=%d",
                            len(self.connections), self.max_connections)
            transport.abort()
            return
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    # -- deadlines --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        waiting_for_head = self.cycle is None or self.cycle.response_complete
        if waiting_for_head and self._head_timer is None:
            self._start_head_timer()  # a kept-alive connection starts its next request
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before and self.cycle is not None:  # a request head was completed
            self._cancel(self._head_timer)
            self._head_timer = None
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_timeout)
        if self._body_timer is not None and self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
            self._cancel(self._body_timer)
            self._body_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.DONE:
            self._cancel(self._body_timer)
            self._body_timer = None

    def _start_head_timer(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served: the body deadline applies
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            # Nothing of a new request arrived: an idle kept-alive connection, whose own timer
            # (timeout_keep_alive) is running, or a connection that never sent a byte.
            if self.timeout_keep_alive_task is not None:
                return
        msg = f"request head not received within {self.header_timeout_s:g} s\n".encode()
        self.transport.write(_TIMEOUT_408 % (len(msg), msg))
        self.transport.close()

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
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


def protocol_class(cfg: ServerConfig) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass carrying ``cfg``'s limits (uvicorn builds one per connection)."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout_s": cfg.header_timeout_s,
            # the app answers 408 on the webhook route at body_timeout_s; this closes any route just after
            "body_timeout_s": cfg.body_timeout_s + 1.0,
            "max_connections": cfg.max_connections,
        },
    )
