"""The closed loop of ``benchmarks/bench_webhooks.py`` counts every acknowledgement it reads.

Its "max acks/s" summed a shared counter with ``done += await conn.post(…) == 202``: the
total was read before the await and written back after it, so the connections answered in
the same turn of the event loop (a group commit answers a whole batch at once) counted as
one. Here a server on loopback answers in batches the same way and counts what it sent.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_webhooks_under_test", REPO / "benchmarks/bench_webhooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _BatchingServer:
    """Answers 202 to every request, all the requests waiting at once in one go (like a group commit)."""

    def __init__(self) -> None:
        self.answered = 0
        self.batches = 0
        self.waiting: list[asyncio.StreamWriter] = []
        self.flush_armed = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.waiting.append(writer)
                if not self.flush_armed:
                    self.flush_armed = True
                    asyncio.get_running_loop().call_later(0.002, self.flush)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def flush(self) -> None:
        self.flush_armed = False
        batch, self.waiting = self.waiting, []
        self.batches += 1
        for writer in batch:
            writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            self.answered += 1


def test_closed_loop_counts_every_answer_of_a_batch():
    bench = _bench()
    server = _BatchingServer()

    async def main():
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            return await bench._closed_loop(port, 0.3, 16, "t", n_items=64)
        finally:
            srv.close()
            await srv.wait_closed()

    result = asyncio.run(main())
    assert server.answered > server.batches  # answers did come in batches of several
    assert result.acked == server.answered  # the shared counter gave about one per batch
    assert result.other == 0
    assert result.acks_per_s == result.acked / result.seconds
