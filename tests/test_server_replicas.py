"""Three ``ctxgrab serve`` replicas sharing one PostgreSQL queue, against a real PostgreSQL.

500 signed deliveries for 100 incidents are spread over the three replicas (each
re-delivery goes to a different replica than its original, as a load balancer may send
it), 5 % forged, 5 % malformed. Midway one replica is killed with SIGKILL while it holds
leased jobs, and PostgreSQL itself is restarted once. The sender behaves like PagerDuty
behind a load balancer: a connection error or a 5xx is sent again, to the next replica.
Afterwards: exactly one ctxgrab note per valid incident (one POST each, later runs
update it), none for incidents only forged deliveries mention, no job lost, and every
delivery stored exactly once.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

import pg_server
from conftest import missing
from fake_pagerduty import FakePagerDuty, delivery_headers
from test_server_load import BOT, TOKEN, _deliveries, _free_port, _start, _wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def pg_queue_dsn():
    try:
        import psycopg
    except ImportError:
        missing("psycopg is not installed")
    bindir = pg_server.find_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql")
    cluster, data, port, admin = pg_server.start_single(bindir, "-c max_connections=100")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE ROLE ctxgrab LOGIN")
            conn.execute("CREATE DATABASE ctxgrab OWNER ctxgrab")
        yield cluster, data, port, f"postgresql://ctxgrab@127.0.0.1:{port}/ctxgrab"
    finally:
        cluster.stop_all()


def _rows(dsn: str, sql: str) -> list[tuple]:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return conn.execute(sql).fetchall()
    except psycopg.OperationalError:
        return []


def test_three_replicas_one_postgres_queue_a_sigkill_and_a_database_restart(tmp_path: Path, pg_queue_dsn) -> None:
    cluster, data, pg_port, dsn = pg_queue_dsn
    rng = random.Random(19)
    valid = [f"QV{i:03d}" for i in range(90)]
    bait = [f"QX{i:03d}" for i in range(10)]
    deliveries = _deliveries(valid, bait, rng)
    ports = [_free_port() for _ in range(3)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    logs = [tmp_path / f"replica{i}.log" for i in range(3)]

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        for inc in valid + bait:
            pd.add_incident(inc)
        config = tmp_path / "ctxgrab.yaml"
        config.write_text(
            "server:\n"
            "  webhook_secrets: ['${LOADTEST_WH_SECRET}']\n"
            "  api_token: ${LOADTEST_PD_TOKEN}\n"
            f"  from_email: {BOT}\n"
            f"  api_base_url: {pd.url}\n"
            f"  queue: {dsn}\n"
            "  lease_s: 3\n"
            "  services: {PSVC9KX: payments}\n"
            "  prompt_builder: fake_pagerduty:synthetic_prompt\n"
            "  workers: 3\n"
            "  note_max_chars: 2000\n"
            "  job_retry_base_s: 0.2\n"
            "  retry: {attempts: 4, base_delay_s: 0.05, max_delay_s: 1}\n"
        )
        procs = [_start(config, p, log) for p, log in zip(ports, logs)]
        alive = [True, True, True]
        events = {"killed_pid": None, "killed_leases": 0, "pg_restarted_after": None, "resent": 0}
        try:
            for base, proc, log in zip(bases, procs, logs):
                _wait_ready(base, proc, log, timeout_s=30)
            results: dict[int, int] = {}
            first_replica = {d["id"]: rng.randrange(3) for d in deliveries if not d.get("dup")}

            async def send(i: int, d: dict, client: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
                headers = delivery_headers(d["raw"], d["secrets"], d["id"])
                target = (first_replica.get(d["id"], 0) + (1 if d.get("dup") else 0)) % 3
                while True:
                    async with gate:
                        try:
                            r = await client.post(f"{bases[target]}/webhooks/pagerduty", content=d["raw"],
                                                  headers=headers)
                        except httpx.TransportError:
                            r = None
                    if r is not None and r.status_code < 500:
                        results[i] = r.status_code
                        return
                    events["resent"] += 1
                    target = (target + 1) % 3  # the load balancer tries another replica
                    await asyncio.sleep(0.05)

            async def chaos() -> None:
                # Kill replica 0 while it holds leases on running jobs.
                while True:
                    held = _rows(dsn, "SELECT count(*) FROM ctxgrab_jobs WHERE state='running' "
                                      f"AND lease_token LIKE '%:{procs[0].pid}:%'")
                    if len(results) >= 150 and held and held[0][0] >= 1:
                        events["killed_leases"] = held[0][0]
                        break
                    await asyncio.sleep(0.01)
                procs[0].send_signal(signal.SIGKILL)
                procs[0].wait()
                events["killed_pid"] = procs[0].pid
                alive[0] = False
                while len(results) < 300:
                    await asyncio.sleep(0.01)
                # Then restart PostgreSQL under the two survivors.
                events["pg_restarted_after"] = len(results)
                def restart() -> None:
                    cluster.run(str(cluster.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
                    cluster.started.remove(data)
                    cluster.start(data, pg_port, "-c max_connections=100")
                    cluster.wait_ready(dsn)

                await asyncio.to_thread(restart)

            async def main() -> None:
                gate = asyncio.Semaphore(40)
                async with httpx.AsyncClient(timeout=5.0) as client:
                    await asyncio.gather(chaos(), *(send(i, d, client, gate) for i, d in enumerate(deliveries)))

            asyncio.run(asyncio.wait_for(main(), 120))

            deadline = time.monotonic() + 60
            states: dict[str, str] = {}
            while time.monotonic() < deadline:
                states = dict(_rows(dsn, "SELECT incident_id, state FROM ctxgrab_jobs"))
                if states and all(s == "done" for s in states.values()) and \
                        all(len(pd.ctxgrab_notes(i)) == 1 for i in valid):
                    break
                for k in (1, 2):
                    assert procs[k].poll() is None, logs[k].read_text()[-3000:]
                time.sleep(0.1)
        finally:
            for k, proc in enumerate(procs):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()

        kinds: dict[str, list] = {"valid": [], "bad_signature": [], "malformed": []}
        for i, d in enumerate(deliveries):
            kinds[d["kind"]].append(results.get(i))
        post_reqs = {inc: pd.requests_to("POST", f"/incidents/{inc}/notes$") for inc in valid}
        # a POST that created a note; the SIGKILL can cut the killed replica's POST short, which PagerDuty
        # refuses (400: no note.content) and which the next holder of the job then makes in full
        posts = {inc: sum(1 for r in rs if r.status == 201) for inc, rs in post_reqs.items()}
        refused = [r for rs in post_reqs.values() for r in rs if r.status != 201]
        keys = {r[0] for r in _rows(dsn, "SELECT webhook_id FROM ctxgrab_deliveries")}
        runs = dict(_rows(dsn, "SELECT incident_id, runs FROM ctxgrab_jobs"))
        print(f"\nreplicas: 3 on one PostgreSQL queue; {len(deliveries)} deliveries ({sum(1 for d in deliveries if d.get('dup'))} "
              f"re-deliveries to another replica, {len(kinds['bad_signature'])} forged, {len(kinds['malformed'])} malformed); "
              f"replica pid {events['killed_pid']} killed with SIGKILL holding {events['killed_leases']} leased job(s); "
              f"PostgreSQL restarted after {events['pg_restarted_after']} answers; {events['resent']} sends repeated; "
              f"notes: {sum(len(pd.ctxgrab_notes(i)) for i in valid)} for {len(valid)} valid incidents, "
              f"{sum(len(pd.ctxgrab_notes(i)) for i in bait)} for {len(bait)} forged-only; "
              f"runs to completion: {sum(runs.values())} for {len(runs)} jobs; "
              f"{len(refused)} POST(s) cut short by the kill and refused")

    assert events["killed_pid"] and events["killed_leases"] >= 1, "the kill must interrupt leased jobs"
    assert events["pg_restarted_after"] is not None
    assert kinds["valid"] == [202] * 450
    assert kinds["bad_signature"] == [401] * 25
    assert kinds["malformed"] == [400] * 25
    assert {i: len(pd.ctxgrab_notes(i)) for i in valid} == {i: 1 for i in valid}
    assert posts == {i: 1 for i in valid}, "one note created per incident; later runs update it"
    assert len(refused) <= events["killed_leases"] and all(
        r.status == 400 and not isinstance(r.body, dict) for r in refused), \
        f"only a POST cut short by the kill may be refused: {[(r.path, r.status, str(r.body)[:80]) for r in refused]}"
    assert sorted(states) == sorted(valid) and set(states.values()) == {"done"}, "no job lost"
    assert all(pd.ctxgrab_notes(i) == [] for i in bait)
    assert {d["id"] for d in deliveries if d["kind"] == "valid"} <= keys
    assert not {d["id"] for d in deliveries if d["kind"] == "bad_signature"} & keys
    assert any("lease" in log.read_text() or "recovered" in log.read_text() for log in logs[1:]) or \
        events["killed_leases"] >= 1
