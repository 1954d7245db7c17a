"""Parsing under a budget: the one way ctxgrab runs a file parser it cannot trust.

Every file parser (GC logs, heap dumps, settings files; any parser that wants it)
runs through :func:`run` / :func:`arun`, which execute it in a **child process**
forked for the purpose and enforce, rather than request, two limits:

* **time**: the child is killed (``SIGKILL``) at the run's deadline; no parser,
  however it loops (a YAML alias bomb inside the C parser, a numba kernel on a
  1.5 GB array), keeps running past it;
* **memory**: the child's address space is capped with ``RLIMIT_AS`` at what the
  process already had when it forked, plus the files the parser maps, plus the
  memory cap; an allocation beyond it fails inside the child (``MemoryError``)
  and never touches the machine's other work.

An overrun is not a traceback and not a hang: :func:`run` raises
:class:`ParseBudgetExceeded` (an :class:`~ctxgrab.errors.InputError`) whose message is
the stated gap, for example ``heap dump analysis of app.hprof stopped at the 60 s
deadline after reading 41% of the file``. Collectors turn it into Evidence with that reason;
the CLI prints it as one line and exits 2. Parsers report how far they got with
:func:`progress`, which the parent reads from a shared page.

The budget in force is a context variable: the engine sets it per collector
(deadline = the collector's own, memory cap = ``defaults.parse_memory_mib``), the
``gc``/``heap`` commands from their ``--deadline`` and ``--memory-mib`` options, and
library users with :func:`limits`. The result crosses back by pickle, so parsers
return plain data (dicts, lists, dataclasses).

Without ``os.fork`` (Windows) the parser runs in the calling thread and only the
limits that parsers check themselves apply.

Example::

    >>> from ctxgrab import parsebudget
    >>> with parsebudget.limits(deadline_s=5, memory_bytes=256 << 20):
    ...     parsebudget.run(sum, [1, 2, 3], what="adding")
    6
"""

from __future__ import annotations

import contextlib
import contextvars
import mmap
import os
import pickle
import select
import signal
import struct
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .errors import CtxgrabError, InputError
from .units import format_bytes

__all__ = ["Budget", "ParseBudgetExceeded", "limits", "current", "run", "arun", "progress",
           "DEFAULT_MEMORY_BYTES", "DEFAULT_DEADLINE_S"]

DEFAULT_MEMORY_BYTES = 2 << 30  # 2 GiB: the default of defaults.parse_memory_mib
DEFAULT_DEADLINE_S = 60.0  # the default of defaults.deadline_s


@dataclass(frozen=True)
class Budget:
    """Limits for the parsers started in this context: an absolute deadline (``time.monotonic``) and
    the memory a parse may add to the process, in bytes."""

    deadline: float | None = None
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    deadline_s: float | None = None  # the deadline as configured, for the message


class ParseBudgetExceeded(InputError):
    """A parser ran out of time or memory; the message is the gap as the prompt states it.

    ``limit`` is ``"deadline"`` or ``"memory"``."""

    def __init__(self, message: str, limit: str = "deadline"):
        super().__init__(message)
        self.limit = limit

    def __reduce__(self):  # pickles with its limit
        return (type(self), (str(self), self.limit))


_current: contextvars.ContextVar[Budget] = contextvars.ContextVar("ctxgrab_parse_budget", default=Budget())


def current() -> Budget:
    """The budget in force here."""
    return _current.get()


@contextlib.contextmanager
def limits(*, deadline_s: float | None = None, memory_bytes: int | None = None) -> Iterator[Budget]:
    """Set the budget for the parsers run inside the block (deadline counted from now)."""
    b = Budget(deadline=time.monotonic() + deadline_s if deadline_s is not None else None,
               memory_bytes=memory_bytes if memory_bytes is not None else DEFAULT_MEMORY_BYTES,
               deadline_s=deadline_s)
    token = _current.set(b)
    try:
        yield b
    finally:
        _current.reset(token)


# --------------------------------------------------------------------------- progress

_progress_page: mmap.mmap | None = None  # set in the child only
last_peak_rss_bytes: int | None = None  # peak RSS of the last parse child reaped (tests, benchmarks)


def progress(done: int, total: int | None) -> None:
    """Report how far the parse is (bytes of the input read, out of ``total``); cheap, call it often."""
    page = _progress_page
    if page is not None:
        struct.pack_into("<qq", page, 0, int(done), int(total or 0))


# --------------------------------------------------------------------------- running


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 1 << 30


class _Child:
    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], what: str,
                 budget: Budget, map_bytes: int):
        self.what = what
        self.budget = budget
        self.page = mmap.mmap(-1, 16)  # anonymous and shared: the child's progress
        rfd, wfd = os.pipe()
        limit = _vm_bytes() + map_bytes + budget.memory_bytes
        with warnings.catch_warnings():
            # Python 3.12+ warns when a process with threads forks: the child runs only the parser,
            # and a child that deadlocks on a lock held by another thread is killed at the deadline.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: run, send the pickled outcome, exit without cleanup
            code = 0
            try:
                os.close(rfd)
                global _progress_page
                _progress_page = self.page
                try:
                    import resource

                    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
                except (ImportError, ValueError, OSError):
                    pass
                try:
                    outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
                except MemoryError:
                    outcome = ("mem", None)
                except CtxgrabError as e:
                    outcome = ("err", e)
                except RecursionError:
                    outcome = ("err", InputError(f"{what}: input nested too deeply to parse"))
                except BaseException as e:  # noqa: BLE001 - the child must report, never print a traceback
                    outcome = ("err", InputError(f"{what} failed on this input: {type(e).__name__}: {e}"))
                try:
                    data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
                except MemoryError:
                    data = pickle.dumps(("mem", None))
                except Exception as e:  # noqa: BLE001
                    data = pickle.dumps(("err", InputError(f"{what}: result could not be returned: {e}")))
                view = memoryview(data)
                while view:
                    n = os.write(wfd, view[: 1 << 20])
                    view = view[n:]
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        self.pid = pid
        self.rfd = rfd
        self.started = time.monotonic()
        self.done = False

    def signal_kill(self) -> None:
        """SIGKILL the child unless it was reaped; the waiting thread then sees EOF and reaps it."""
        if not self.done:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def kill(self) -> None:
        if not self.done:
            self.signal_kill()
            self._reap()

    def _reap(self) -> int:
        global last_peak_rss_bytes
        self.done = True
        with contextlib.suppress(OSError):
            os.close(self.rfd)
        try:
            _pid, status, usage = os.wait4(self.pid, 0)
        except ChildProcessError:
            return 0
        last_peak_rss_bytes = usage.ru_maxrss * 1024  # KiB on Linux
        return status

    def _where(self) -> str:
        done, total = struct.unpack_from("<qq", self.page, 0)
        if total > 0 and done > 0:
            return f" after reading {min(100, done * 100 // total)}% of the file"
        if done > 0:
            return f" after reading {format_bytes(done)} of the input"
        return ""

    def wait(self) -> Any:
        chunks: list[bytes] = []
        deadline = self.budget.deadline
        try:
            while True:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([self.rfd], [], [], timeout)
                if not ready:
                    where = self._where()
                    self.kill()
                    limit = self.budget.deadline_s
                    at = f"{limit:g} s" if limit is not None else f"{time.monotonic() - self.started:.1f} s"
                    raise ParseBudgetExceeded(f"{self.what} stopped at the {at} deadline{where}")
                data = os.read(self.rfd, 1 << 20)
                if not data:
                    break
                chunks.append(data)
        except BaseException:
            self.kill()
            raise
        where = self._where()
        status = self._reap()
        if not chunks:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            if sig == signal.SIGKILL:  # the kernel's OOM killer, or someone else
                raise ParseBudgetExceeded(f"{self.what} was killed (out of memory?){where}", "memory")
            raise InputError(f"{self.what} crashed on this input"
                             f"{f' (signal {sig})' if sig else f' (exit status {os.WEXITSTATUS(status)})'}{where}")
        kind, value = pickle.loads(b"".join(chunks))
        if kind == "ok":
            return value
        if kind == "mem":
            raise ParseBudgetExceeded(
                f"{self.what} stopped at the {format_bytes(self.budget.memory_bytes)} memory cap{where} "
                "(defaults.parse_memory_mib, --memory-mib)", "memory")
        raise value


def run(fn: Callable[..., Any], *args: Any, what: str, map_bytes: int = 0, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a child process under the current budget; its result or its error.

    ``what`` names the work for the messages ("heap dump analysis of app.hprof");
    ``map_bytes`` is the size of the files ``fn`` memory-maps (they count in the address space
    but are not the parse's own memory). Raises :class:`ParseBudgetExceeded` on an overrun.
    """
    budget = current()
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no enforced limits
        return fn(*args, **kwargs)
    if budget.deadline is not None and budget.deadline <= time.monotonic():
        raise ParseBudgetExceeded(f"{what} not started: the deadline had passed")
    return _Child(fn, args, kwargs, what, budget, map_bytes).wait()


async def arun(fn: Callable[..., Any], *args: Any, what: str, map_bytes: int = 0, **kwargs: Any) -> Any:
    """:func:`run` for async code: waits in a worker thread; a cancelled caller kills the child."""
    import anyio.to_thread

    budget = current()
    if not hasattr(os, "fork"):  # pragma: no cover
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs), abandon_on_cancel=True)
    if budget.deadline is not None and budget.deadline <= time.monotonic():
        raise ParseBudgetExceeded(f"{what} not started: the deadline had passed")
    child = _Child(fn, args, kwargs, what, budget, map_bytes)
    try:
        return await anyio.to_thread.run_sync(child.wait, abandon_on_cancel=True)
    finally:
        child.signal_kill()
