"""Running ctxgrab's async code from blocking code.

>>> async def answer(x):
...     return x * 2
>>> run(answer, 21)
42
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar

import anyio

__all__ = ["run"]

T = TypeVar("T")


def run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``anyio.run(fn, *args)``, with the result handed back through a closure.

    On Python 3.11 the asyncio runner formats the main task's result (its repr) while
    it restores the Ctrl-C handler; for an incident's evidence that costs tens of
    milliseconds for nothing. A main task that returns None avoids it.
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await fn(*args))

    anyio.run(main)
    return box[0]
