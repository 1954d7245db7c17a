"""The ``postgres`` collector and ``ctxgrab change`` against a real PostgreSQL server.

One primary and one streaming standby per test session (``pg_server``). Every
number checked here is produced by the server in the test: a table with a known
number of rows, a lock held by one connection while another waits, a long query,
rows written while the collector samples.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest import missing  # noqa: E402
import pg_server  # noqa: E402

from ctxgrab.collectors import CollectRequest  # noqa: E402
from ctxgrab.evidence import Status  # noqa: E402
from ctxgrab.timeutil import Window, parse_time  # noqa: E402
from ctxgrab.units import format_bytes  # noqa: E402

pytestmark = pytest.mark.integration

ROWS = 20_000
DELETED = 500
AT = parse_time("2026-03-04T10:00:00Z")


@pytest.fixture(scope="session")
def pg():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("psycopg is not installed (pip install 'psycopg[binary]')")
    bindir = pg_server.find_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql")
    cluster, server = pg_server.start_primary_and_replica(bindir)
    try:
        yield server
    finally:
        cluster.stop_all()


def wait_for(predicate, what: str, timeout_s: float = 15.0):
    """Poll until ``predicate()`` is truthy (statistics and lock waits show up asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def orders(pg):
    """``orders``: 20,000 rows analysed and vacuumed, then 500 deleted (dead, autovacuum off for it)."""
    import psycopg

    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE orders (
                id bigserial PRIMARY KEY,
                customer_id integer NOT NULL,
                amount numeric(12,2) NOT NULL,
                status text NOT NULL DEFAULT 'new',
                created_at timestamptz NOT NULL DEFAULT now()
            ) WITH (autovacuum_enabled = false)""")
        conn.execute("CREATE INDEX orders_customer_id_idx ON orders (customer_id)")
        conn.execute("CREATE TABLE customers (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO customers SELECT g FROM generate_series(1, 1000) g")
        conn.execute("ANALYZE customers")
        conn.execute("ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
                     "REFERENCES customers (id)")
        conn.execute(f"INSERT INTO orders (customer_id, amount) SELECT 1 + g % 1000, g * 0.01 "
                     f"FROM generate_series(1, {ROWS}) g")
    # Statistics arrive asynchronously (a backend flushes them when idle or on exit): wait for the
    # inserts to be counted before VACUUM sets the live count, or they would be counted twice.
    live = "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = 'orders'"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        wait_for(lambda: conn.execute(live).fetchone() == (ROWS, 0), "the inserts to be counted")
        conn.execute("VACUUM ANALYZE orders")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f"DELETE FROM orders WHERE id <= {DELETED}")
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        wait_for(lambda: conn.execute(live).fetchone() == (ROWS - DELETED, DELETED),
                 "the 500 deleted rows to show as dead tuples")
    return "orders"


def request(sources: dict | None = None) -> CollectRequest:
    return CollectRequest(service="payments", window=Window.ending(AT, timedelta(hours=2)), baseline=None, at=AT,
                          base_dir=Path("."), config=SimpleNamespace(sources=sources or {}))  # type: ignore[arg-type]


def collect(params: dict):
    from ctxgrab.collectors import postgres

    return anyio.run(postgres.collect, request(params.pop("_sources", None)), params)


def section(ev) -> str:
    from ctxgrab.render import environment

    return environment().get_template("sections/postgres.md.j2").render(ev=ev)


def scalar(dsn: str, sql: str):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchone()[0]


def test_table_facts_and_server_version(pg, orders):
    ev = collect({"dsn": pg.dsn, "tables": [orders, "missing_table"], "sample_s": 0.2})
    assert ev.status is Status.ok, ev.reason
    d = ev.data
    server_version = scalar(pg.dsn, "SHOW server_version").split()[0]
    assert d["server"]["version"] == server_version
    assert d["server"]["version_num"] == int(scalar(pg.dsn, "SHOW server_version_num"))
    assert d["server"]["major"] == int(pg.bindir.parent.name)  # /usr/lib/postgresql/15/bin -> 15
    assert d["server"]["in_recovery"] is False and d["server"]["database"] == "shop"
    assert ev.title == f"PostgreSQL {server_version} (shop)"

    t = d["tables"][0]
    assert t["name"] == "orders" and t["exists"] is True
    assert t["estimated_rows"] == ROWS  # reltuples from VACUUM ANALYZE, before the delete
    assert t["live_rows"] == ROWS - DELETED
    assert t["dead_rows"] == DELETED
    assert t["dead_ratio"] == pytest.approx(DELETED / ROWS)
    assert t["table_bytes"] == scalar(pg.dsn, "SELECT pg_relation_size('orders')")
    assert t["index_bytes"] == scalar(pg.dsn, "SELECT pg_indexes_size('orders')")
    assert t["total_bytes"] == scalar(pg.dsn, "SELECT pg_total_relation_size('orders')")
    assert t["table_bytes"] > 500_000
    assert t["last_vacuum"] is not None and t["last_analyze"] is not None
    assert t["last_autovacuum"] is None
    assert {i["name"] for i in t["indexes"]} == {"orders_pkey", "orders_customer_id_idx"}
    assert [c["name"] for c in t["columns"]] == ["id", "customer_id", "amount", "status", "created_at"]
    assert t["columns"][2]["type"] == "numeric(12,2)" and t["columns"][3]["default"] == "'new'::text"
    assert [fk["name"] for fk in t["foreign_keys"]] == ["orders_customer_fk"]

    assert d["tables"][1] == {"name": "missing_table", "exists": False}
    assert "table missing_table not found in database" in ev.warnings
    assert ev.source == "host=127.0.0.1 port=%d dbname=shop user=postgres" % pg.port
    assert d["settings"]["max_connections"]["value"] == "40"
    assert d["settings"]["maintenance_work_mem"]["bytes"] == int(scalar(pg.dsn, "SELECT setting::bigint * 1024 "
                                                                       "FROM pg_settings WHERE name = "
                                                                       "'maintenance_work_mem'"))

    text = section(ev)
    assert f"- PostgreSQL {server_version} (primary), database shop" in text
    assert (f"- Table **orders**: 20,000 rows (estimated), {format_bytes(t['total_bytes'])} with indexes, "
            "500 dead tuples (2.5%), last autovacuum never") in text
    assert "- Table missing_table: not found in the database." in text
    assert "- Replica replica1 (127.0.0.1, async): streaming" in text

    # The incident prompt carries the same facts in its current-state section.
    from ctxgrab.api import render_result

    md = render_result("payments", AT, Window.ending(AT, timedelta(hours=2)), None, [ev]).markdown
    assert "## Current state" in md and "- Table **orders**: 20,000 rows (estimated)" in md


def test_collector_session_is_read_only(pg):
    import psycopg
    from ctxgrab.collectors.postgres import connect

    async def try_write():
        async with connect(pg.dsn) as conn:
            await conn.execute("CREATE TABLE must_not_exist (id int)")

    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        anyio.run(try_write)
    assert scalar(pg.dsn, "SELECT to_regclass('must_not_exist') IS NULL") is True


def test_exact_write_counts_between_two_snapshots(pg, orders):
    """3,000 rows inserted between two snapshots are counted exactly, per table and per database."""
    import psycopg
    from ctxgrab.collectors.postgres import activity_rates, connect, snapshot_activity

    async def measure():
        async with connect(pg.dsn) as conn:
            before = await snapshot_activity(conn, [orders])
            # The writer's statistics are flushed when its backend exits.
            async with await psycopg.AsyncConnection.connect(pg.dsn, autocommit=True) as w:
                await w.execute("INSERT INTO orders (customer_id, amount) SELECT 1 + g % 1000, 1 "
                                "FROM generate_series(1, 3000) g")
            deadline = time.monotonic() + 15
            while True:
                after = await snapshot_activity(conn, [orders])
                if after["tables"]["orders"]["n_tup_ins"] - before["tables"]["orders"]["n_tup_ins"] >= 3000:
                    break
                assert time.monotonic() < deadline, "insert statistics never arrived"
                await anyio.sleep(0.02)
            return activity_rates(before, after)

    r = anyio.run(measure)
    assert r["tables"]["orders"]["rows_inserted"] == 3000
    assert r["tables"]["orders"]["rows_updated"] == 0 and r["tables"]["orders"]["rows_deleted"] == 0
    assert r["rows_inserted"] >= 3000
    assert r["transactions"] >= 1
    assert r["rows_written_per_s"] == pytest.approx(
        (r["rows_inserted"] + r["rows_updated"] + r["rows_deleted"]) / r["sample_s"])


def test_write_rate_sampled_while_a_writer_runs(pg, orders):
    import psycopg

    stop = threading.Event()
    written = [0]

    def writer():
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO orders (customer_id, amount) SELECT 1 + g % 1000, 2 "
                             "FROM generate_series(1, 50) g")
                written[0] += 50

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_for(lambda: written[0] >= 500, "the writer to get going")
        ev = collect({"dsn": pg.dsn, "tables": [orders], "sample_s": 1.5})
    finally:
        stop.set()
        t.join(timeout=30)
    assert ev.status is Status.ok, ev.reason
    a = ev.data["activity"]
    assert a["sample_s"] >= 1.5
    orders_activity = ev.data["tables"][0]["activity"]
    assert 0 < orders_activity["rows_inserted"] <= written[0]
    assert orders_activity["rows_inserted"] % 50 == 0  # whole 50-row statements
    assert a["rows_written_per_s"] >= orders_activity["rows_written_per_s"] > 0
    assert a["xact_per_s"] > 0


def test_lock_held_by_one_session_while_another_waits(pg, orders):
    import psycopg

    holder = psycopg.connect(pg.dsn)
    waiter = psycopg.connect(pg.dsn, autocommit=True)
    done = threading.Event()
    try:
        holder_pid, waiter_pid = holder.info.backend_pid, waiter.info.backend_pid
        holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")  # what a careless ALTER TABLE takes

        def wait_on_lock():
            try:
                waiter.execute("SELECT count(*) FROM orders")
            finally:
                done.set()

        t = threading.Thread(target=wait_on_lock)
        t.start()
        wait_for(lambda: scalar(pg.dsn, f"SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                        f"WHERE pid = {waiter_pid}"), "the second session to wait on the lock")
        wait_for(lambda: scalar(pg.dsn, f"SELECT now() - xact_start > interval '0.3 s' FROM pg_stat_activity "
                                        f"WHERE pid = {holder_pid}"), "the holder's transaction to age")
        ev = collect({"dsn": pg.dsn, "tables": [orders], "sample_s": 0.1, "long_xact_s": 0.3})
        assert ev.status is Status.ok, ev.reason
        locks = ev.data["locks"]
        blocked = [b for b in locks["blocked"] if b["pid"] == waiter_pid]
        assert len(blocked) == 1
        assert blocked[0]["blocked_by"] == [holder_pid]
        assert blocked[0]["waiting_for"] == "AccessShareLock on orders"
        assert blocked[0]["query"] == "SELECT count(*) FROM orders"
        (blocker,) = [b for b in locks["blockers"] if b["pid"] == holder_pid]
        assert blocker["state"] == "idle in transaction"
        assert "AccessExclusiveLock on orders" in blocker["holds"]
        assert blocker["query"] == "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"
        assert locks["access_exclusive"] >= 1 and locks["waiting"] >= 1
        # The open transaction is listed as long-running.
        (xact,) = [x for x in ev.data["long_transactions"] if x["pid"] == holder_pid]
        assert xact["state"] == "idle in transaction" and xact["xact_s"] >= 0.3
        # The collector did not hang on the locked table: sizes fall back to pg_class.
        t0 = ev.data["tables"][0]
        assert t0["sizes_estimated"] is True
        assert t0["table_bytes"] == scalar(pg.dsn, "SELECT relpages::bigint * 8192 FROM pg_class "
                                                   "WHERE oid = 'orders'::regclass")
        assert any("orders is locked by another session" in w for w in ev.warnings)
        assert ev.data["connections"]["waiting_on_locks"] >= 1
        text = section(ev)
        assert f"pid {waiter_pid} (" in text and f"for AccessShareLock on orders, blocked by pid {holder_pid}." in text
        assert f"blocker pid {holder_pid} (" in text and "holds AccessExclusiveLock on orders" in text
        assert "    LOCK TABLE orders IN ACCESS EXCLUSIVE MODE\n" in text  # the query, fenced
        assert f"ACCESS EXCLUSIVE lock held by pid {holder_pid}" in text
    finally:
        holder.rollback()
        done.wait(timeout=30)
        holder.close()
        waiter.close()


def test_long_running_query_is_reported(pg):
    import psycopg

    conn = psycopg.connect(pg.dsn, autocommit=True)
    pid = conn.info.backend_pid
    finished = threading.Event()

    def long_query():
        try:
            conn.execute("SELECT pg_sleep(60)")
        except psycopg.errors.QueryCanceled:
            pass
        finally:
            finished.set()

    t = threading.Thread(target=long_query)
    t.start()
    try:
        wait_for(lambda: scalar(pg.dsn, f"SELECT state = 'active' AND now() - query_start > interval '0.4 s' "
                                        f"FROM pg_stat_activity WHERE pid = {pid}"), "the query to run 0.4 s")
        ev = collect({"dsn": pg.dsn, "tables": [], "sample_s": 0.1, "long_query_s": 0.4})
        assert ev.status is Status.ok, ev.reason
        (q,) = [q for q in ev.data["long_queries"] if q["pid"] == pid]
        assert q["query"] == "SELECT pg_sleep(60)"
        assert 0.4 <= q["duration_s"] < 60
        assert q["state"] == "active"
        # Everything shorter than the threshold is left out.
        assert all(x["duration_s"] > 0.4 for x in ev.data["long_queries"])
    finally:
        scalar(pg.admin_dsn, f"SELECT pg_cancel_backend({pid})")
        finished.wait(timeout=30)
        t.join(timeout=30)
        conn.close()


def test_connections_versus_max_connections(pg):
    import psycopg

    extra = [psycopg.connect(pg.dsn) for _ in range(3)]
    try:
        ev = collect({"dsn": pg.dsn, "sample_s": 0.1})
        c = ev.data["connections"]
        assert c["max"] == 40 and c["reserved"] == 3 and c["usable"] == 37
        assert c["used"] >= 4  # three idle ones plus the collector
        assert c["idle"] >= 3
        assert c["used_ratio"] == pytest.approx(c["used"] / 40)
    finally:
        for conn in extra:
            conn.close()


def test_replication_lag_per_replica_and_on_the_standby(pg, orders):
    import psycopg

    # Write on the primary and wait until the standby has replayed it.
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS repl_probe (id int)")
        conn.execute("INSERT INTO repl_probe VALUES (1)")
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    with psycopg.connect(pg.replica_dsn, autocommit=True) as rconn:
        wait_for(lambda: rconn.execute(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn").fetchone()[0],
                 "the standby to replay the write")
    ev = collect({"dsn": pg.dsn, "sample_s": 0.1})
    rep = ev.data["replication"]
    assert rep["role"] == "primary"
    (r,) = rep["replicas"]
    assert r["name"] == "replica1" and r["state"] == "streaming" and r["client_addr"] == "127.0.0.1"
    assert isinstance(r["replay_lag_bytes"], int) and r["replay_lag_bytes"] >= 0
    assert r["sync_state"] == "async"
    assert rep["max_replay_lag_bytes"] == r["replay_lag_bytes"]

    ev = collect({"dsn": pg.replica_dsn, "tables": [orders], "sample_s": 0.1})
    assert ev.status is Status.ok, ev.reason
    rep = ev.data["replication"]
    assert ev.data["server"]["in_recovery"] is True and rep["role"] == "standby"
    assert rep["standby"]["receiver_status"] == "streaming"
    assert rep["standby"]["replay_lag_bytes"] >= 0
    assert ev.data["tables"][0]["estimated_rows"] >= ROWS - DELETED


def test_source_lookup_and_unreachable_server(pg):
    ev = collect({"source": "db", "tables": [], "sample_s": 0.1,
                  "_sources": {"db": {"type": "postgres", "dsn": pg.dsn}}})
    assert ev.status is Status.ok
    port = pg_server.free_port()
    ev = collect({"dsn": f"postgresql://app:s3cret@127.0.0.1:{port}/shop?connect_timeout=2", "sample_s": 0.1})
    assert ev.status is Status.error
    assert ev.reason.startswith(f"PostgreSQL host=127.0.0.1 port={port} dbname=shop user=app: unreachable")
    assert "s3cret" not in ev.reason and "s3cret" not in (ev.source or "")
    ev = collect({"source": "nope", "sample_s": 0.1})
    assert ev.status is Status.error and "source 'nope' is not defined" in ev.reason


# --------------------------------------------------------------------------- ctxgrab change


def change_config(tmp_path: Path, pg) -> Path:
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(
        "defaults: {since: 2h, at: '2026-03-04T10:00:00Z'}\n"
        "sources:\n"
        f"  db: {{type: postgres, dsn: '{pg.dsn}'}}\n"
        "services:\n"
        "  payments:\n"
        "    database: {source: db, tables: [orders]}\n"
    )
    return cfg


def test_change_prompt_holds_rows_size_write_rate_version_and_lag(pg, orders):
    from ctxgrab.collectors.postgres import gather
    from ctxgrab.commands.change import render_change

    data, warnings = anyio.run(lambda: gather(pg.dsn, [orders], sample_s=0.3))
    text = render_change(service="payments", table=orders, change="add a NOT NULL column currency with default 'EUR'",
                         database=data, warnings=warnings, at=AT)
    t = data["tables"][0]
    from ctxgrab.units import format_bytes, format_num

    assert f"PostgreSQL {data['server']['version']}" in text
    assert f"{format_num(t['estimated_rows'])} rows (estimated)" in text
    assert f"table {format_bytes(t['table_bytes'])}" in text
    assert f"indexes {format_bytes(t['index_bytes'])}" in text
    assert "rows written/s" in text
    assert "replica1" in text and "replay lag" in text
    assert "add a NOT NULL column currency with default 'EUR'" in text
    assert "pgroll" in text and "batch" in text.lower() and "rollback" in text.lower()


def test_change_command_end_to_end(pg, orders, tmp_path):
    from typer.testing import CliRunner

    from ctxgrab.cli import app

    if "change" not in {c.name or c.callback.__name__ for c in app.registered_commands}:
        from ctxgrab.commands import change

        change.register(app)
    runner = CliRunner()
    result = runner.invoke(app, ["change", "--dsn", pg.dsn, "--table", orders, "--service", "payments",
                                 "--sample-s", "0.3", "add column currency text not null default 'EUR'"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    rows = scalar(pg.dsn, "SELECT reltuples::bigint FROM pg_class WHERE oid = 'orders'::regclass")
    from ctxgrab.units import format_num

    assert f"{format_num(rows)} rows (estimated)" in out
    assert "replica1" in out
    assert f"PostgreSQL {scalar(pg.dsn, 'SHOW server_version').split()[0]}" in out

    result = runner.invoke(app, ["change", "--dsn", pg.dsn, "--table", orders, "--service", "payments",
                                 "--sample-s", "0.1", "--format", "json", "add an index on status"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["table"]["name"] == "orders" and doc["table"]["estimated_rows"] == rows
    assert doc["database"]["server"]["version"] == scalar(pg.dsn, "SHOW server_version").split()[0]

    result = runner.invoke(app, ["change", "--dsn", pg.dsn, "--table", "no_such_table", "--service", "payments",
                                 "--sample-s", "0.1", "drop it"])
    assert result.exit_code == 2
    assert "table no_such_table not found" in result.stderr


def test_change_reads_the_database_and_deploy_state_from_the_service_config(pg, orders):
    """The planner hookup: service ``database: {source, tables}`` and ``kubernetes: {...}``."""
    import k8s_fake

    from ctxgrab.commands.change import _deploys, database_for

    with k8s_fake.FakeKubeAPI(token="t0k") as api:
        api.load(k8s_fake.plain_rollout())
        svc = SimpleNamespace(database=SimpleNamespace(source="db", tables=["orders"]),
                              kubernetes={"deployment": "payments", "namespace": "prod", "source": "k8s"})
        cfg = SimpleNamespace(
            sources={"db": SimpleNamespace(type="postgres", dsn=pg.dsn),
                     "k8s": {"type": "kubernetes", "url": api.url, "bearer_token": "t0k"}},
            service=lambda name: svc, base_dir=Path("."), path="ctxgrab.yaml")
        assert database_for(cfg, "payments") == (pg.dsn, ["orders"])
        deploys = anyio.run(_deploys, cfg, "payments", AT)
    assert deploys["current"]["version"] == "2.31.0"
    assert deploys["rollback_command"] == "kubectl rollout undo deployment/payments -n prod --to-revision=11"

    from ctxgrab.collectors.postgres import gather
    from ctxgrab.commands.change import render_change

    data, warnings = anyio.run(lambda: gather(pg.dsn, [orders, "customers"], sample_s=0.1))
    text = render_change(service="payments", table=orders, change="add column", database=data, warnings=warnings,
                         at=AT, deploys=deploys)
    assert "application rollback: `kubectl rollout undo deployment/payments -n prod --to-revision=11`" in text
    assert "Related tables:\n- customers: 1,000 rows (estimated)" in text

    no_db = SimpleNamespace(sources={}, service=lambda name: SimpleNamespace(), path="ctxgrab.yaml")
    from ctxgrab.errors import ConfigError

    with pytest.raises(ConfigError, match="service 'payments' has no `database:` entry"):
        database_for(no_db, "payments")


def test_change_command_with_config_file(pg, orders, tmp_path):
    from typer.testing import CliRunner

    from ctxgrab.cli import app
    from ctxgrab.config import ServiceConfig

    if "database" not in ServiceConfig.model_fields:
        pytest.skip("the config schema has no `database:` service key yet")
    cfg = change_config(tmp_path, pg)
    result = CliRunner().invoke(app, ["change", "--service", "payments", "--table", orders, "--config", str(cfg),
                                      "--sample-s", "0.1", "add column currency"])
    assert result.exit_code == 0, result.output
    assert "rows (estimated)" in result.stdout and "replica1" in result.stdout


def test_unprivileged_role_gets_facts_and_a_stated_gap(pg, orders):
    """Without pg_monitor, other roles' query texts and replica positions are hidden: say so, keep the rest."""
    import psycopg

    with psycopg.connect(pg.dsn, autocommit=True) as admin:
        admin.execute("DO $$ BEGIN CREATE ROLE ctxgrab_ro LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        admin.execute("GRANT SELECT ON orders TO ctxgrab_ro")
    conn = psycopg.connect(pg.dsn, autocommit=True)
    pid = conn.info.backend_pid
    t = threading.Thread(target=lambda: _ignore_cancel(conn, "SELECT pg_sleep(60)"))
    t.start()
    try:
        wait_for(lambda: scalar(pg.dsn, f"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = {pid} "
                                        f"AND state = 'active' AND now() - query_start > interval '0.3 s')"),
                 "the query to run 0.3 s")
        ro_dsn = pg.dsn.replace("user=postgres", "user=ctxgrab_ro")
        ev = collect({"dsn": ro_dsn, "tables": [orders], "sample_s": 0.1, "long_query_s": 0.3})
        assert ev.status is Status.ok, ev.reason
        assert ev.data["tables"][0]["estimated_rows"] == ROWS
        assert [q for q in ev.data["long_queries"] if q["pid"] == pid] == []  # invisible to this role
        hidden = ev.data["connections"]["hidden"]
        assert hidden >= 1 and ev.data["connections"]["used"] >= 2
        (replica,) = ev.data["replication"]["replicas"]
        assert replica["replay_lag_bytes"] is None
        assert f"{hidden} sessions of other roles are hidden from this role" in " ".join(ev.warnings)
        assert "grant pg_monitor to the ctxgrab role" in " ".join(ev.warnings)
        # With pg_monitor the same role sees everything.
        with psycopg.connect(pg.dsn, autocommit=True) as admin:
            admin.execute("GRANT pg_monitor TO ctxgrab_ro")
        ev = collect({"dsn": ro_dsn, "tables": [orders], "sample_s": 0.1, "long_query_s": 0.3})
        assert [q["query"] for q in ev.data["long_queries"] if q["pid"] == pid] == ["SELECT pg_sleep(60)"]
        assert ev.data["connections"]["hidden"] == 0
        assert not any("pg_monitor" in w for w in ev.warnings)
    finally:
        scalar(pg.admin_dsn, f"SELECT pg_cancel_backend({pid})")
        t.join(timeout=30)
        conn.close()


def _ignore_cancel(conn, sql: str) -> None:
    import psycopg

    try:
        conn.execute(sql)
    except psycopg.errors.QueryCanceled:
        pass


def _busy_writer(dsn: str):
    """A client committing small transactions as fast as it can; returns (stop, count, thread)."""
    import psycopg

    stop = threading.Event()
    count = [0]

    def run():
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("SELECT 1")
                count[0] += 1

    t = threading.Thread(target=run)
    t.start()
    return stop, count, t


def test_short_configured_sample_still_sees_the_transactions(pg):
    """``sample_s: 0.5`` read 0 transactions/s: PostgreSQL flushes a backend's counters once a second."""
    from ctxgrab.collectors.postgres import MIN_SAMPLE_S

    stop, count, t = _busy_writer(pg.dsn)
    try:
        wait_for(lambda: count[0] >= 200, "the client to get going")
        c0, t0 = count[0], time.monotonic()
        ev = collect({"dsn": pg.dsn, "tables": [], "sample_s": 0.5})
        client_rate = (count[0] - c0) / (time.monotonic() - t0)
    finally:
        stop.set()
        t.join(timeout=30)
    assert ev.status is Status.ok, ev.reason
    a = ev.data["activity"]
    assert a["sample_s"] >= MIN_SAMPLE_S * 0.9  # the server's own statistics timestamps
    assert client_rate > 100
    # The counters lag by up to a second per backend (more when flushes meet lock contention), so a
    # 2 s sample is coarse; it is the same order of magnitude as the client's count, never 0.
    assert client_rate / 4 <= a["xact_per_s"] <= client_rate * 2, (a["xact_per_s"], client_rate)


def test_change_honours_the_service_database_section(pg, orders, tmp_path):
    """`ctxgrab change --service S --table T` reports a transaction held open on T longer than long_xact_s."""
    import psycopg
    from typer.testing import CliRunner

    from ctxgrab.cli import app

    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(
        "defaults: {since: 2h, at: '2026-03-04T10:00:00Z'}\n"
        "sources:\n"
        f"  db: {{type: postgres, dsn: '{pg.dsn}'}}\n"
        "services:\n"
        "  payments:\n"
        "    database: {source: db, tables: [orders, customers], long_xact_s: 0.5, long_query_s: 120,\n"
        "               statement_timeout_ms: 4000, sample_s: 0.2}\n"
    )
    with psycopg.connect(pg.dsn) as holder:  # not autocommit: the SELECT opens a transaction
        holder.execute("SET application_name = 'report-job'")
        holder.execute("SELECT count(*) FROM orders").fetchone()
        pid = holder.info.backend_pid
        wait_for(lambda: scalar(pg.dsn, f"SELECT now() - xact_start > interval '0.8 s' FROM pg_stat_activity "
                                        f"WHERE pid = {pid}"), "the transaction to be open for long")
        runner = CliRunner()
        out = runner.invoke(app, ["change", "--service", "payments", "--table", "orders", "--config", str(cfg),
                                  "add column currency"])
        # `tables:` names the table: --table need not be repeated.
        again = runner.invoke(app, ["change", "--service", "payments", "--config", str(cfg), "--format", "json",
                                    "add column currency"])
        holder.rollback()
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert f"**Open on orders**: pid {pid} (`report-job`) has held a transaction open for" in text
    assert "the service's long_xact_s is 500 ms" in text and "Transactions open longer than 500 ms: " in text
    assert "Related tables:\n- customers:" in text
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert doc["table"]["name"] == "orders"
    assert doc["database"]["thresholds"] == {"long_query_s": 120.0, "long_xact_s": 0.5}
    held = [x for x in doc["database"]["long_transactions"] if x["pid"] == pid]
    assert held and "orders" in held[0]["tables"]


def test_database_section_appears_once_in_the_saturation_prompt():
    """The database is current state: the saturation kind listed it under Observability as well."""
    from ctxgrab.api import render_result
    from ctxgrab.evidence import Evidence
    from ctxgrab.timeutil import Window

    window = Window.ending(AT, timedelta(hours=1))
    db = Evidence(kind="postgres", name="postgres", title="PostgreSQL 15.8 (shop)", data={
        "server": {"version": "15.8", "in_recovery": False, "database": "shop", "uptime_s": 86400.0},
        "connections": {"used": 98, "max": 100, "active": 90, "idle_in_transaction": 2, "waiting_on_locks": 0,
                        "used_ratio": 0.98},
        "tables": [], "thresholds": {"long_query_s": 30.0, "long_xact_s": 60.0}})
    out = render_result("orders", AT, window, window.before(), [db], template="saturation").markdown
    assert out.count("### PostgreSQL 15.8 (shop)") == 1, out
    assert out.index("### PostgreSQL 15.8 (shop)") > out.index("## Current state")
