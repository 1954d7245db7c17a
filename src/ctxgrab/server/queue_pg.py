"""Durable job queue in PostgreSQL, shared by any number of ``ctxgrab serve`` replicas.

The same semantics as the SQLite queue (:mod:`ctxgrab.server.queue`): one job per
incident, deliveries deduplicated by ``X-Webhook-Id`` and by the signed ``event.id``,
leases with expiry, retries with backoff, durable before the 202. What changes is who
may hold a job: several processes on several hosts claim from one table, so

- deliveries are recorded with ``INSERT … ON CONFLICT DO NOTHING`` (a duplicate sent to
  another replica is still a duplicate);
- a job is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` (two replicas never claim
  the same job) and carries a **lease token**: only the holder of the current lease can
  finish, reschedule or fail it, so a replica that lost its lease (it stalled past it,
  another replica took the job over) cannot overwrite the newer run's outcome;
- a running job's lease is renewed while it runs (:meth:`PgJobQueue.renew`), so the lease
  can be short and a killed replica's jobs come back within one lease;
- writing the PagerDuty note happens under a per-incident advisory lock
  (:meth:`PgJobQueue.note_lock`): two runs of one incident, even on two replicas, write
  one note between them (the second finds the first's note by its marker and updates it);
- :meth:`PgJobQueue.recover` does not take jobs from live replicas: only expired leases
  come back.

The schema is versioned (table ``ctxgrab_schema``); :class:`PgJobQueue` creates or
upgrades it at start, under an advisory lock so replicas starting together do not race.
A connection lost (the server restarting, a failover) raises :class:`QueueUnavailable`
for the call in flight; the next call reconnects. The webhook answers 503 then, so
PagerDuty delivers again.

>>> q = PgJobQueue("postgresql://ctxgrab@db/ctxgrab")     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from typing import Any, Iterator

from .queue import Job, JobSpec

__all__ = ["PgJobQueue", "QueueUnavailable", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_LOCK_SCHEMA = 0x63747867  # advisory lock key while creating/upgrading the schema ("ctxg")

_MIGRATIONS = {
    1: """
CREATE TABLE IF NOT EXISTS ctxgrab_deliveries (
    webhook_id  text PRIMARY KEY,
    received_at double precision NOT NULL,
    outcome     text NOT NULL
);
CREATE TABLE IF NOT EXISTS ctxgrab_jobs (
    incident_id   text PRIMARY KEY,
    service       text NOT NULL,
    at            text NOT NULL,
    pd_service_id text,
    html_url      text,
    title         text,
    state         text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    runs          integer NOT NULL DEFAULT 0,
    rerun         integer NOT NULL DEFAULT 0,
    next_run_at   double precision NOT NULL,
    lease_until   double precision,
    note_id       text,
    last_error    text,
    lease_token   text,
    created_at    double precision NOT NULL,
    updated_at    double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS ctxgrab_jobs_due ON ctxgrab_jobs(state, next_run_at);
CREATE INDEX IF NOT EXISTS ctxgrab_jobs_lease ON ctxgrab_jobs(state, lease_until);
CREATE TABLE IF NOT EXISTS ctxgrab_prompts (
    incident_id text PRIMARY KEY,
    service     text NOT NULL,
    markdown    text NOT NULL,
    built_at    double precision NOT NULL
);
""",
}

_JOB_COLUMNS = (
    "incident_id, service, at, pd_service_id, html_url, title, state, attempts, runs, rerun, "
    "next_run_at, lease_until, note_id, last_error"
)


class QueueUnavailable(Exception):
    """The queue's database cannot be reached; the caller answers 503 (PagerDuty retries)."""


class PgJobQueue:
    """PostgreSQL-backed queue; one connection per thread, reconnected after a failure.

    ``dsn`` is a libpq connection string or URL (password through ``${ENV}`` in the config,
    or ``PGPASSFILE``). ``replica`` names this process in lease tokens and logs.
    """

    def __init__(self, dsn: str, *, clock=time.time, replica: str | None = None, connect_timeout_s: float = 5.0,
                 statement_timeout_ms: int = 10_000) -> None:
        import psycopg  # noqa: F401 - fail here, with a clear import error, not on the first delivery

        self.dsn = dsn
        self.path = dsn  # for messages; the SQLite queue's attribute of the same name
        # host:pid names the holder in lease tokens, so an operator (and the replica test) can
        # tell whose jobs a dead replica left behind.
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"
        self._clock = clock
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_ms = statement_timeout_ms
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        with self._tx() as c:
            c.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_SCHEMA,))
            c.execute("CREATE TABLE IF NOT EXISTS ctxgrab_schema (version integer NOT NULL)")
            row = c.execute("SELECT max(version) FROM ctxgrab_schema").fetchone()
            have = row[0] or 0
            if have > SCHEMA_VERSION:
                raise RuntimeError(f"the queue's schema is version {have}, newer than this ctxgrab's "
                                   f"{SCHEMA_VERSION}: upgrade ctxgrab on every replica")
            for v in range(have + 1, SCHEMA_VERSION + 1):
                c.execute(_MIGRATIONS[v])
                c.execute("INSERT INTO ctxgrab_schema(version) VALUES (%s)", (v,))

    # -- connections -------------------------------------------------------------------------
    def _connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self.dsn, connect_timeout=max(1, int(self._connect_timeout_s)),
                                   options=f"-c statement_timeout={self._statement_timeout_ms}",
                                   application_name=f"ctxgrab-serve-{self.replica}")
        except psycopg.Error as e:
            raise QueueUnavailable(f"queue database unreachable: {str(e).strip().splitlines()[0]}") from None
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction; a lost connection is dropped and becomes :class:`QueueUnavailable`."""
        import psycopg

        conn = self._conn()
        try:
            with conn.transaction():
                yield conn
        except psycopg.OperationalError as e:
            self._drop(conn)
            raise QueueUnavailable(f"queue database unavailable: {str(e).strip().splitlines()[0]}") from None
        except psycopg.InterfaceError as e:
            self._drop(conn)
            raise QueueUnavailable(f"queue database connection lost: {e}") from None

    _read = _tx

    def _drop(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()

    # -- webhook side ------------------------------------------------------------------------
    def accept(self, webhook_id: str | None, job: JobSpec | None, outcome: str = "queued",
               event_id: str | None = None) -> str:
        return self.accept_many([(webhook_id, job, outcome, event_id)])[0]

    def accept_many(self, deliveries: list[tuple]) -> list[str]:
        """Record deliveries and their jobs in one transaction; see the SQLite queue for the outcomes."""
        now = self._clock()
        with self._tx() as c:
            return [self._accept(c, now, *item) for item in deliveries]

    @staticmethod
    def _accept(c: Any, now: float, webhook_id: str | None, job: JobSpec | None, outcome: str,
                event_id: str | None = None) -> str:
        keys = [webhook_id] if webhook_id else []
        if event_id and f"event:{event_id}" not in keys:
            keys.append(f"event:{event_id}")
        seen = False
        for key in keys:
            cur = c.execute("INSERT INTO ctxgrab_deliveries(webhook_id, received_at, outcome) VALUES (%s,%s,%s) "
                            "ON CONFLICT (webhook_id) DO NOTHING", (key, now, outcome if job is None else "job"))
            seen |= cur.rowcount == 0
        if seen:
            return "duplicate"
        if job is None:
            return "ignored"
        cur = c.execute(
            "INSERT INTO ctxgrab_jobs(incident_id, service, at, pd_service_id, html_url, title, state, "
            "next_run_at, created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,'queued',%s,%s,%s) "
            "ON CONFLICT (incident_id) DO NOTHING",
            (job.incident_id, job.service, job.at, job.pd_service_id, job.html_url, job.title, now, now, now))
        if cur.rowcount == 1:
            return "queued"
        state = c.execute("SELECT state FROM ctxgrab_jobs WHERE incident_id=%s FOR UPDATE",
                          (job.incident_id,)).fetchone()[0]
        if state == "queued":
            return "coalesced"
        if state == "running":
            c.execute("UPDATE ctxgrab_jobs SET rerun=1, updated_at=%s WHERE incident_id=%s", (now, job.incident_id))
            return "coalesced"
        c.execute("UPDATE ctxgrab_jobs SET state='queued', attempts=0, rerun=0, next_run_at=%s, service=%s, at=%s, "
                  "last_error=NULL, updated_at=%s WHERE incident_id=%s",
                  (now, job.service, job.at, now, job.incident_id))
        return "requeued"

    # -- worker side -------------------------------------------------------------------------
    def recover(self) -> int:
        """Jobs of live replicas are theirs: only expired leases come back (claim takes those too)."""
        now = self._clock()
        with self._tx() as c:
            return c.execute("UPDATE ctxgrab_jobs SET state='queued', lease_until=NULL, lease_token=NULL, "
                             "next_run_at=%s, updated_at=%s WHERE state='running' AND lease_until<%s",
                             (now, now, now)).rowcount

    def claim(self, lease_s: float = 600.0) -> Job | None:
        """Take the next due job (or one whose lease expired), skipping jobs other replicas are claiming."""
        now = self._clock()
        token = f"{self.replica}:{uuid.uuid4().hex[:12]}"
        with self._tx() as c:
            row = c.execute(
                "UPDATE ctxgrab_jobs SET state='running', attempts=attempts+1, lease_until=%s, lease_token=%s, "
                "updated_at=%s WHERE incident_id = (SELECT incident_id FROM ctxgrab_jobs "
                "WHERE (state='queued' AND next_run_at<=%s) OR (state='running' AND lease_until<%s) "
                "ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {_JOB_COLUMNS}, lease_token",
                (now + lease_s, token, now, now, now)).fetchone()
        return Job(*row) if row is not None else None

    def renew(self, incident_id: str, lease_s: float, token: str | None = None) -> bool:
        """Extend a running job's lease; False when this holder no longer has it."""
        now = self._clock()
        with self._tx() as c:
            return c.execute("UPDATE ctxgrab_jobs SET lease_until=%s, updated_at=%s WHERE incident_id=%s "
                             "AND state='running' AND (%s::text IS NULL OR lease_token=%s)",
                             (now + lease_s, now, incident_id, token, token)).rowcount == 1

    @contextlib.contextmanager
    def note_lock(self, incident_id: str, timeout_s: float = 60.0) -> Iterator[None]:
        """Hold the incident's advisory lock while its note is listed and written.

        A session lock on a connection of its own, so it is held across the HTTP calls; it is
        released when the block ends or, if this process dies, when its connection closes.
        """
        conn = self._connect()
        try:
            conn.autocommit = True
            conn.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")
            try:
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"note:{incident_id}",))
            except Exception as e:  # noqa: BLE001 - lock timeout or a lost server: the run is retried
                raise QueueUnavailable(f"could not lock incident {incident_id} for its note: {e}") from None
            yield
        finally:
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()  # closing the session releases the lock

    def _finish_guard(self, token: str | None) -> tuple[str, tuple]:
        return " AND (%s::text IS NULL OR lease_token=%s)", (token, token)

    def complete(self, incident_id: str, note_id: str | None, token: str | None = None) -> str:
        now = self._clock()
        guard, gp = self._finish_guard(token)
        with self._tx() as c:
            c.execute(
                "UPDATE ctxgrab_jobs SET state=CASE WHEN rerun=1 THEN 'queued' ELSE 'done' END, "
                "attempts=CASE WHEN rerun=1 THEN 0 ELSE attempts END, rerun=0, runs=runs+1, "
                "note_id=COALESCE(%s, note_id), last_error=NULL, lease_until=NULL, lease_token=NULL, next_run_at=%s, "
                "updated_at=%s WHERE incident_id=%s" + guard, (note_id, now, now, incident_id, *gp))
            return c.execute("SELECT state FROM ctxgrab_jobs WHERE incident_id=%s", (incident_id,)).fetchone()[0]

    def retry_later(self, incident_id: str, delay_s: float, error: str, max_attempts: int, *,
                    count_attempt: bool = True, token: str | None = None) -> str:
        now = self._clock()
        guard, gp = self._finish_guard(token)
        with self._tx() as c:
            if not count_attempt:
                c.execute(
                    "UPDATE ctxgrab_jobs SET state='queued', attempts=CASE WHEN rerun=1 THEN 0 "
                    "ELSE GREATEST(0, attempts-1) END, rerun=0, next_run_at=%s, last_error=%s, lease_until=NULL, "
                    "lease_token=NULL, updated_at=%s WHERE incident_id=%s" + guard,
                    (now + delay_s, error[:500], now, incident_id, *gp))
            else:
                c.execute(
                    "UPDATE ctxgrab_jobs SET state=CASE WHEN attempts>=%s AND rerun=0 THEN 'failed' ELSE 'queued' END, "
                    "attempts=CASE WHEN rerun=1 THEN 0 ELSE attempts END, rerun=0, next_run_at=%s, last_error=%s, "
                    "lease_until=NULL, lease_token=NULL, updated_at=%s WHERE incident_id=%s" + guard,
                    (max_attempts, now + delay_s, error[:500], now, incident_id, *gp))
            return c.execute("SELECT state FROM ctxgrab_jobs WHERE incident_id=%s", (incident_id,)).fetchone()[0]

    def fail(self, incident_id: str, error: str, token: str | None = None) -> None:
        now = self._clock()
        guard, gp = self._finish_guard(token)
        with self._tx() as c:
            c.execute("UPDATE ctxgrab_jobs SET state='failed', last_error=%s, lease_until=NULL, lease_token=NULL, "
                      "rerun=0, updated_at=%s WHERE incident_id=%s" + guard, (error[:500], now, incident_id, *gp))

    # -- prompts -----------------------------------------------------------------------------
    def save_prompt(self, incident_id: str, service: str, markdown: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO ctxgrab_prompts(incident_id, service, markdown, built_at) VALUES (%s,%s,%s,%s) "
                      "ON CONFLICT (incident_id) DO UPDATE SET service=excluded.service, markdown=excluded.markdown, "
                      "built_at=excluded.built_at", (incident_id, service, markdown, self._clock()))

    def get_prompt(self, incident_id: str) -> str | None:
        with self._read() as c:
            row = c.execute("SELECT markdown FROM ctxgrab_prompts WHERE incident_id=%s", (incident_id,)).fetchone()
        return row[0] if row else None

    # -- inspection --------------------------------------------------------------------------
    def get(self, incident_id: str) -> Job | None:
        with self._read() as c:
            row = c.execute(f"SELECT {_JOB_COLUMNS} FROM ctxgrab_jobs WHERE incident_id=%s", (incident_id,)).fetchone()
        return Job(*row) if row else None

    def jobs(self) -> list[Job]:
        with self._read() as c:
            rows = c.execute(f"SELECT {_JOB_COLUMNS} FROM ctxgrab_jobs ORDER BY created_at").fetchall()
        return [Job(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        out = {"queued": 0, "running": 0, "done": 0, "failed": 0}
        with self._read() as c:
            for state, n in c.execute("SELECT state, COUNT(*) FROM ctxgrab_jobs GROUP BY state").fetchall():
                out[state] = n
        return out

    def prune(self, deliveries_older_than_s: float = 7 * 86400, jobs_older_than_s: float = 30 * 86400) -> int:
        now = self._clock()
        with self._tx() as c:
            n = c.execute("DELETE FROM ctxgrab_deliveries WHERE received_at<%s", (now - deliveries_older_than_s,)).rowcount
            old = "SELECT incident_id FROM ctxgrab_jobs WHERE state IN ('done','failed') AND updated_at<%s"
            n += c.execute(f"DELETE FROM ctxgrab_prompts WHERE incident_id IN ({old})", (now - jobs_older_than_s,)).rowcount
            n += c.execute("DELETE FROM ctxgrab_jobs WHERE state IN ('done','failed') AND updated_at<%s",
                           (now - jobs_older_than_s,)).rowcount
            return n

    def ping(self) -> bool:
        try:
            with self._read() as c:
                return c.execute("SELECT 1").fetchone() == (1,)
        except QueueUnavailable:
            return False
