"""The PostgreSQL job queue's own guarantees, against a real PostgreSQL.

The replica test (test_server_replicas.py) runs whole servers; these pin down the
queue's rules one by one: deliveries deduplicated across connections, one claim per job
(SKIP LOCKED), lease tokens that keep a stale holder from finishing a job, recovery that
never takes a live replica's job, the schema version, and QueueUnavailable while the
server is away.
"""

from __future__ import annotations

import threading

import pytest

from ctxgrab.server.queue import JobSpec
from ctxgrab.server.queue_pg import PgJobQueue, QueueUnavailable, SCHEMA_VERSION
from test_server_replicas import _rows, pg_queue_dsn  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def spec(i: str) -> JobSpec:
    return JobSpec(i, "payments", "2026-03-04T09:15:02+00:00")


def test_dedup_claims_leases_and_recovery(pg_queue_dsn) -> None:  # noqa: F811
    _, _, _, dsn = pg_queue_dsn
    clock = Clock()
    a, b = PgJobQueue(dsn, clock=clock, replica="a"), PgJobQueue(dsn, clock=clock, replica="b")
    try:
        assert a.accept("wh-1", spec("Q1"), event_id="E1") == "queued"
        assert b.accept("wh-1", spec("Q1")) == "duplicate"  # the same delivery at another replica
        assert b.accept("wh-2", spec("Q1"), event_id="E1") == "duplicate"  # same signed event, new header
        assert b.accept("wh-3", spec("Q1")) == "coalesced"
        # Two replicas claim at once: one gets the job.
        got: list = []
        barrier = threading.Barrier(2)

        def claim(q: PgJobQueue) -> None:
            barrier.wait()
            got.append(q.claim(lease_s=10))

        threads = [threading.Thread(target=claim, args=(q,)) for q in (a, b)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        jobs = [j for j in got if j is not None]
        assert len(jobs) == 1 and jobs[0].incident_id == "Q1" and jobs[0].lease_token
        job = jobs[0]
        holder, other = (a, b) if job.lease_token.startswith("a:") else (b, a)
        # A live lease is not recovered by a starting replica, nor claimed.
        assert other.recover() == 0 and other.claim(10) is None
        assert holder.renew("Q1", 10, job.lease_token)
        # The holder stalls past its lease; the other replica takes the job over.
        clock.t += 11
        taken = other.claim(10)
        assert taken is not None and taken.lease_token != job.lease_token and taken.attempts == 2
        # The stale holder can neither renew nor finish it.
        assert not holder.renew("Q1", 10, job.lease_token)
        assert holder.complete("Q1", "N-stale", token=job.lease_token) == "running"
        assert other.complete("Q1", "N1", token=taken.lease_token) == "done"
        assert a.get("Q1").note_id == "N1"
        assert _rows(dsn, "SELECT max(version) FROM ctxgrab_schema") == [(SCHEMA_VERSION,)]
    finally:
        a.close()
        b.close()


def test_note_lock_serialises_two_replicas(pg_queue_dsn) -> None:  # noqa: F811
    _, _, _, dsn = pg_queue_dsn
    a, b = PgJobQueue(dsn, replica="a"), PgJobQueue(dsn, replica="b")
    order: list[str] = []
    inside = threading.Event()
    try:
        def second() -> None:
            inside.wait(5)
            with b.note_lock("Q9"):
                order.append("b")

        t = threading.Thread(target=second)
        t.start()
        with a.note_lock("Q9"):
            inside.set()
            t.join(0.5)  # b cannot get in while a holds the lock
            assert t.is_alive()
            order.append("a")
        t.join(5)
        assert order == ["a", "b"]
    finally:
        a.close()
        b.close()


def test_an_unreachable_database_is_queue_unavailable(pg_queue_dsn) -> None:  # noqa: F811
    cluster, data, port, dsn = pg_queue_dsn
    q = PgJobQueue(dsn, replica="a")
    try:
        cluster.run(str(cluster.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
        cluster.started.remove(data)
        with pytest.raises(QueueUnavailable, match="queue database"):
            q.accept("wh-x", spec("Q2"))
        assert q.ping() is False
        cluster.start(data, port, "-c max_connections=100")
        cluster.wait_ready(dsn)
        assert q.accept("wh-x", spec("Q2")) == "queued"  # the next call reconnects
        assert q.ping() is True
    finally:
        q.close()


def test_webhooks_get_503_and_readyz_fails_while_the_queue_database_is_away(pg_queue_dsn) -> None:  # noqa: F811
    import json

    from starlette.testclient import TestClient

    from ctxgrab.server.app import create_app
    from ctxgrab.server.config import ServerConfig
    from fake_pagerduty import delivery_headers, incident_event

    cluster, data, port, dsn = pg_queue_dsn

    async def build(service, at):  # never called: no worker
        return ""

    cfg = ServerConfig(webhook_secrets=["s3cret"], queue=dsn, services={"PSVC9KX": "payments"})
    app = create_app(cfg, queue_path="unused.sqlite3", build_prompt=build, start_worker=False)
    raw = json.dumps(incident_event("incident.triggered", "Q503")).encode()
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        cluster.run(str(cluster.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
        cluster.started.remove(data)
        r = client.post("/webhooks/pagerduty", content=raw, headers=delivery_headers(raw, ["s3cret"], "wh-503"))
        assert r.status_code == 503 and r.headers["retry-after"]
        assert client.get("/readyz").status_code == 503
        cluster.start(data, port, "-c max_connections=100")
        cluster.wait_ready(dsn)
        r = client.post("/webhooks/pagerduty", content=raw, headers=delivery_headers(raw, ["s3cret"], "wh-503"))
        assert r.status_code == 202 and r.json()["status"] == "queued"  # stored only once it could be


def test_a_run_whose_lease_was_taken_writes_no_note(pg_queue_dsn, tmp_path) -> None:  # noqa: F811
    # The replica test once saw two POSTs for one incident after a PostgreSQL restart: a run whose lease had
    # expired and been claimed by another replica went on to write the note. Under the note lock the worker
    # now checks that the job is still its own.
    import anyio

    from ctxgrab.server.metrics import Metrics
    from ctxgrab.server.pagerduty import PagerDutyClient
    from ctxgrab.server.worker import Worker
    from fake_pagerduty import FakePagerDuty
    from test_server import BOT, TOKEN, _cfg

    _, _, _, dsn = pg_queue_dsn
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("LL1")
        a, b = PgJobQueue(dsn, replica="a"), PgJobQueue(dsn, replica="b")
        a.accept("w1", spec("LL1"))
        taken = []

        async def slow_prompt(service, at) -> str:
            await anyio.sleep(0.4)  # the 0.1 s lease runs out (the first renewal comes at 0.5 s)
            taken.append(b.claim(60.0))  # another replica takes the expired job
            return "# prompt"

        async def main() -> Worker:
            async with PagerDutyClient(TOKEN, BOT, pd.url) as c:
                w = Worker(a, _cfg(pd.url, lease_s=0.1), build_prompt=slow_prompt, metrics=Metrics(), pd_client=c)
                assert await w.run_once()
                return w

        try:
            w = anyio.run(main)
            assert taken and taken[0] is not None and taken[0].lease_token != ""
            assert pd.requests_to("POST", "/notes") == [] and pd.ctxgrab_notes("LL1") == []
            assert w.metrics.get("ctxgrab_jobs_abandoned_total", cause="lease_lost") == 1
            assert b.get("LL1").state == "running"  # still b's to finish
        finally:
            a.close()
            b.close()
