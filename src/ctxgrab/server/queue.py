"""Durable job queue in SQLite: one row per incident, one row per accepted delivery.

A webhook is acknowledged only after its job is committed, so a job accepted
before a crash (even ``SIGKILL``) is still there after a restart; jobs that were
running when the process died go back to ``queued`` (:meth:`JobQueue.recover`, and
any expired lease). The queue is idempotent per incident: a second trigger for an
incident whose job is queued or running is folded into it (a running job runs once
more afterwards), and one for a finished job queues it again, so ctxgrab's note is
rebuilt, never duplicated. Deliveries are deduplicated on ``X-Webhook-Id``
(PagerDuty sends the same id on every retry).

States: ``queued`` → ``running`` → ``done`` | ``failed`` (attempts used up), with
``running`` → ``queued`` again on a retry, a rerun or a crash.

>>> q = JobQueue(":memory:")
>>> q.accept("wh-1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))
'queued'
>>> q.accept("wh-1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))
'duplicate'
>>> q.claim().incident_id
'Q1'
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["JobQueue", "JobSpec", "Job"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    webhook_id  TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    incident_id   TEXT PRIMARY KEY,
    service       TEXT NOT NULL,
    at            TEXT NOT NULL,
    pd_service_id TEXT,
    html_url      TEXT,
    title         TEXT,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    runs          INTEGER NOT NULL DEFAULT 0,
    rerun         INTEGER NOT NULL DEFAULT 0,
    next_run_at   REAL NOT NULL,
    lease_until   REAL,
    note_id       TEXT,
    last_error    TEXT,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(state, next_run_at);
CREATE INDEX IF NOT EXISTS jobs_lease ON jobs(state, lease_until);
CREATE TABLE IF NOT EXISTS prompts (
    incident_id TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    markdown    TEXT NOT NULL,
    built_at    REAL NOT NULL
);
"""

_JOB_COLUMNS = (
    "incident_id, service, at, pd_service_id, html_url, title, state, attempts, runs, rerun, "
    "next_run_at, lease_until, note_id, last_error"
)


@dataclass(frozen=True)
class JobSpec:
    """What a webhook asks for: build the context of ``incident_id`` for ``service`` as of ``at``."""

    incident_id: str
    service: str
    at: str  # ISO 8601, the incident's creation time
    pd_service_id: str | None = None
    html_url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Job:
    """A claimed job, as the worker sees it."""

    incident_id: str
    service: str
    at: str
    pd_service_id: str | None
    html_url: str | None
    title: str | None
    state: str
    attempts: int
    runs: int
    rerun: int
    next_run_at: float
    lease_until: float | None
    note_id: str | None
    last_error: str | None
    # Set by a shared queue (PostgreSQL): only the holder of this lease may finish the job.
    lease_token: str | None = None


class JobQueue:
    """SQLite-backed queue; safe to use from several threads (one connection per thread).

    ``synchronous`` is SQLite's durability level (WAL mode): ``NORMAL`` survives a killed
    process (the commit is in the write-ahead log before it returns); ``FULL`` also survives
    an OS crash or power loss, at the cost of a disk sync per commit.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", clock=time.time) -> None:
        self.path = str(path)
        self._synchronous = synchronous.upper()
        if self._synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        self._clock = clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._memory_conn: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(_SCHEMA)

    # -- connections -------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            if self._memory_conn is None:
                self._memory_conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            return self._memory_conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # one connection per thread; check_same_thread=False only so close() can close them all
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _tx(self) -> "_Tx":
        """A write transaction. Writers of this process queue on a Python lock, which hands over at
        once, instead of in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and
        would stall the event loop that commits webhook deliveries."""
        return _Tx(self._conn(), self._write_lock, immediate=True)

    def _read(self) -> "_Tx":
        """A read transaction: a consistent snapshot, no lock (WAL readers never wait for the writer)."""
        if self.path == ":memory:":
            return _Tx(self._conn(), self._write_lock, immediate=False)
        return _Tx(self._conn(), None, immediate=False)

    def close(self) -> None:
        """Close every connection (call once, when no thread uses the queue any more)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
        if self._memory_conn is not None:
            self._memory_conn.close()
            self._memory_conn = None

    # -- webhook side ------------------------------------------------------------------------
    def accept(
        self, webhook_id: str | None, job: JobSpec | None, outcome: str = "queued", event_id: str | None = None
    ) -> str:
        """Record a delivery and (maybe) its job in one transaction.

        ``event_id`` is the ``event.id`` inside the signed body. It is recorded beside the
        ``X-Webhook-Id`` (kept as ``event:<id>``), and either one seen before makes the
        delivery a duplicate: the webhook id header is not covered by the signature, so a
        captured body re-sent under a new id is still recognised.

        Returns ``duplicate`` (webhook id or event id seen before: nothing changes), ``queued`` (new
        job), ``coalesced`` (folded into a queued or running job), ``requeued`` (a finished
        job runs again) or ``ignored`` (recorded, no job).
        """
        return self.accept_many([(webhook_id, job, outcome, event_id)])[0]

    def accept_many(self, deliveries: list[tuple]) -> list[str]:
        """:meth:`accept` for several deliveries in one transaction (one disk sync for all).

        Each item is ``(webhook_id, job, outcome)`` or ``(webhook_id, job, outcome, event_id)``.
        """
        now = self._clock()
        with self._tx() as c:
            return [self._accept(c, now, *item) for item in deliveries]

    @staticmethod
    def _accept(
        c: sqlite3.Connection, now: float, webhook_id: str | None, job: JobSpec | None, outcome: str,
        event_id: str | None = None,
    ) -> str:
        keys = [webhook_id] if webhook_id else []
        if event_id and f"event:{event_id}" not in keys:
            keys.append(f"event:{event_id}")
        seen = False
        for key in keys:  # record every key, so a later delivery under either one is a duplicate
            cur = c.execute(
                "INSERT OR IGNORE INTO deliveries(webhook_id, received_at, outcome) VALUES (?,?,?)",
                (key, now, outcome if job is None else "job"),
            )
            seen |= cur.rowcount == 0
        if seen:
            return "duplicate"
        if job is None:
            return "ignored"
        row = c.execute("SELECT state FROM jobs WHERE incident_id=?", (job.incident_id,)).fetchone()
        if row is None:
            c.execute(
                "INSERT INTO jobs(incident_id, service, at, pd_service_id, html_url, title, state, "
                "next_run_at, created_at, updated_at) VALUES (?,?,?,?,?,?,'queued',?,?,?)",
                (job.incident_id, job.service, job.at, job.pd_service_id, job.html_url, job.title, now, now, now),
            )
            return "queued"
        state = row[0]
        if state == "queued":
            return "coalesced"
        if state == "running":
            c.execute("UPDATE jobs SET rerun=1, updated_at=? WHERE incident_id=?", (now, job.incident_id))
            return "coalesced"
        c.execute(
            "UPDATE jobs SET state='queued', attempts=0, rerun=0, next_run_at=?, service=?, at=?, "
            "last_error=NULL, updated_at=? WHERE incident_id=?",
            (now, job.service, job.at, now, job.incident_id),
        )
        return "requeued"

    # -- worker side -------------------------------------------------------------------------
    def recover(self) -> int:
        """Put jobs left ``running`` by a dead process back in the queue; call once at start."""
        now = self._clock()
        with self._tx() as c:
            cur = c.execute(
                "UPDATE jobs SET state='queued', lease_until=NULL, next_run_at=?, updated_at=? WHERE state='running'",
                (now, now),
            )
            return cur.rowcount

    def claim(self, lease_s: float = 600.0) -> Job | None:
        """Take the next due job (or one whose lease expired) and mark it running."""
        now = self._clock()
        due = (
            "SELECT incident_id FROM jobs WHERE (state='queued' AND next_run_at<=?) "
            "OR (state='running' AND lease_until<?) ORDER BY next_run_at LIMIT 1"
        )
        if self.path != ":memory:" and self._conn().execute(due, (now, now)).fetchone() is None:
            return None  # idle polls read without taking the write lock
        with self._tx() as c:
            row = c.execute(due, (now, now)).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE jobs SET state='running', attempts=attempts+1, lease_until=?, updated_at=? WHERE incident_id=?",
                (now + lease_s, now, row[0]),
            )
            return self._get(c, row[0])

    def renew(self, incident_id: str, lease_s: float, token: str | None = None) -> bool:
        """Extend a running job's lease (the worker does while a collection runs)."""
        now = self._clock()
        with self._tx() as c:
            return c.execute("UPDATE jobs SET lease_until=?, updated_at=? WHERE incident_id=? AND state='running'",
                             (now + lease_s, now, incident_id)).rowcount == 1

    def note_lock(self, incident_id: str, timeout_s: float = 60.0) -> "contextlib.AbstractContextManager[None]":
        """One process owns this queue, and it runs one job per incident: nothing to lock."""
        return contextlib.nullcontext()

    def complete(self, incident_id: str, note_id: str | None, token: str | None = None) -> str:
        """Mark a run finished; returns the new state (``queued`` again when a rerun was asked for)."""
        now = self._clock()
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET state=CASE WHEN rerun=1 THEN 'queued' ELSE 'done' END, "
                "attempts=CASE WHEN rerun=1 THEN 0 ELSE attempts END, rerun=0, runs=runs+1, "
                "note_id=COALESCE(?, note_id), last_error=NULL, lease_until=NULL, next_run_at=?, updated_at=? "
                "WHERE incident_id=?",
                (note_id, now, now, incident_id),
            )
            return c.execute("SELECT state FROM jobs WHERE incident_id=?", (incident_id,)).fetchone()[0]

    def retry_later(
        self, incident_id: str, delay_s: float, error: str, max_attempts: int, *, count_attempt: bool = True,
        token: str | None = None,
    ) -> str:
        """Requeue after ``delay_s``, or mark ``failed`` when ``max_attempts`` are used; returns the state.

        ``count_attempt=False`` is for a run that only met a wait (an open circuit, a rate
        limit): the attempt that :meth:`claim` counted is given back and the job never fails here.
        """
        now = self._clock()
        if not count_attempt:
            with self._tx() as c:
                c.execute(
                    "UPDATE jobs SET state='queued', attempts=CASE WHEN rerun=1 THEN 0 ELSE MAX(0, attempts-1) END, "
                    "rerun=0, next_run_at=?, last_error=?, lease_until=NULL, updated_at=? WHERE incident_id=?",
                    (now + delay_s, error[:500], now, incident_id),
                )
                return c.execute("SELECT state FROM jobs WHERE incident_id=?", (incident_id,)).fetchone()[0]
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET state=CASE WHEN attempts>=? AND rerun=0 THEN 'failed' ELSE 'queued' END, "
                "attempts=CASE WHEN rerun=1 THEN 0 ELSE attempts END, rerun=0, "
                "next_run_at=?, last_error=?, lease_until=NULL, updated_at=? WHERE incident_id=?",
                (max_attempts, now + delay_s, error[:500], now, incident_id),
            )
            return c.execute("SELECT state FROM jobs WHERE incident_id=?", (incident_id,)).fetchone()[0]

    def fail(self, incident_id: str, error: str, token: str | None = None) -> None:
        """Mark a job failed for good (a permanent error such as a rejected API key)."""
        now = self._clock()
        with self._tx() as c:
            c.execute(
                "UPDATE jobs SET state='failed', last_error=?, lease_until=NULL, rerun=0, updated_at=? "
                "WHERE incident_id=?",
                (error[:500], now, incident_id),
            )

    # -- prompts -----------------------------------------------------------------------------
    def save_prompt(self, incident_id: str, service: str, markdown: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO prompts(incident_id, service, markdown, built_at) VALUES (?,?,?,?) "
                "ON CONFLICT(incident_id) DO UPDATE SET service=excluded.service, markdown=excluded.markdown, "
                "built_at=excluded.built_at",
                (incident_id, service, markdown, self._clock()),
            )

    def get_prompt(self, incident_id: str) -> str | None:
        with self._read() as c:
            row = c.execute("SELECT markdown FROM prompts WHERE incident_id=?", (incident_id,)).fetchone()
        return row[0] if row else None

    # -- inspection --------------------------------------------------------------------------
    def get(self, incident_id: str) -> Job | None:
        with self._read() as c:
            return self._get(c, incident_id)

    def jobs(self) -> list[Job]:
        with self._read() as c:
            rows = c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY created_at").fetchall()
        return [Job(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present (0 when none)."""
        out = {"queued": 0, "running": 0, "done": 0, "failed": 0}
        with self._read() as c:
            for state, n in c.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
                out[state] = n
        return out

    def prune(self, deliveries_older_than_s: float = 7 * 86400, jobs_older_than_s: float = 30 * 86400) -> int:
        """Forget delivery ids after PagerDuty's retry window (48 h) has long passed, and finished
        jobs with their prompts after ``jobs_older_than_s``; returns the rows removed."""
        now = self._clock()
        with self._tx() as c:
            n = c.execute("DELETE FROM deliveries WHERE received_at<?", (now - deliveries_older_than_s,)).rowcount
            old = "SELECT incident_id FROM jobs WHERE state IN ('done','failed') AND updated_at<?"
            n += c.execute(f"DELETE FROM prompts WHERE incident_id IN ({old})", (now - jobs_older_than_s,)).rowcount
            n += c.execute(
                "DELETE FROM jobs WHERE state IN ('done','failed') AND updated_at<?", (now - jobs_older_than_s,)
            ).rowcount
            return n

    def ping(self) -> bool:
        with self._read() as c:
            return c.execute("SELECT 1").fetchone() == (1,)

    @staticmethod
    def _get(c: sqlite3.Connection, incident_id: str) -> Job | None:
        row = c.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE incident_id=?", (incident_id,)).fetchone()
        return Job(*row) if row else None


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on error): one writer at a time, no lost updates."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock | None, *, immediate: bool) -> None:
        self.conn, self.lock, self.immediate = conn, lock, immediate

    def __enter__(self) -> sqlite3.Connection:
        if self.lock:
            self.lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
        except BaseException:
            if self.lock:
                self.lock.release()
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            if self.lock:
                self.lock.release()
