"""Collector ``postgres``: the database facts a fix or a schema change must respect.

Reads, read-only and under a statement timeout, from one PostgreSQL server:

- server version, role (primary or standby), uptime and the settings that bound a
  migration (``lock_timeout``, ``statement_timeout``, ``max_wal_size``, ...);
- for each configured table: estimated rows, live and dead tuples, table, index and
  total size, its indexes and columns, last (auto)vacuum and (auto)analyze;
- transactions and rows written per second, measured over ``sample_s`` seconds but
  never less than :data:`MIN_SAMPLE_S` (two snapshots of ``pg_stat_database`` and
  ``pg_stat_user_tables``, each with the server's own statistics timestamp). Since
  PostgreSQL 15 a busy backend flushes its counters to shared memory at most once a
  second, so a shorter sample sees none of them: ``database.sample_s: 0.5`` read
  "0 transactions/s" from a server doing over a thousand;
- active locks and who blocks whom (``pg_blocking_pids``);
- long-running queries and long-open transactions (``idle in transaction`` too), with
  the tables each transaction holds locks on;
- connections used versus ``max_connections``;
- replication lag per replica (time and bytes) and replication slots holding WAL,
  or, on a standby, its own replay lag.

Params::

    {"dsn": "postgresql://ctxgrab@db:5432/payments", "tables": ["orders", "public.payments"],
     "sample_s": 1.0, "long_query_s": 30, "long_xact_s": 60, "statement_timeout_ms": 5000}

or ``"source": NAME`` naming a ``sources`` entry ``{type: postgres, dsn: ...}``.
The session runs with ``default_transaction_read_only = on``; each read is its own
transaction (autocommit) so that statistics snapshots are fresh. A table locked by
someone else (an ``ALTER TABLE`` waiting, say) does not hang the collector:
``lock_timeout`` is short and its sizes fall back to ``pg_class`` estimates.

Example::

    ev = await collect(request, {"dsn": dsn, "tables": ["orders"], "sample_s": 1.0})
    ev.data["tables"][0]["estimated_rows"], ev.data["activity"]["rows_written_per_s"]
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, AsyncIterator

import anyio

from ..errors import ConfigError
from ..evidence import Evidence, Status

__all__ = ["collect", "connect", "snapshot_activity", "activity_rates", "safe_dsn"]

KIND = "postgres"
_SETTINGS = (
    "max_connections", "superuser_reserved_connections", "shared_buffers", "work_mem", "maintenance_work_mem",
    "max_wal_size", "wal_level", "synchronous_commit", "autovacuum", "lock_timeout", "statement_timeout",
    "idle_in_transaction_session_timeout", "max_locks_per_transaction", "max_parallel_maintenance_workers",
)
_MAX_ROWS = 20  # long queries, blocked sessions, columns, indexes shown per list
#: Shortest interval rates are measured over: twice PostgreSQL's 1 s statistics flush interval
#: (PGSTAT_MIN_INTERVAL), so every busy backend has flushed at least once inside it.
MIN_SAMPLE_S = 2.0


def safe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages and ``Evidence.source``.

    >>> safe_dsn("postgresql://app:s3cret@db.internal:5432/payments")
    'host=db.internal port=5432 dbname=payments user=app'
    """
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - an unparsable DSN is reported by connect()
        return "postgres (unparsable DSN)"
    return " ".join(f"{k}={parts[k]}" for k in ("host", "port", "dbname", "user") if parts.get(k)) or "postgres"


@asynccontextmanager
async def connect(dsn: str, *, statement_timeout_ms: int = 5000, lock_timeout_ms: int = 500,
                  connect_timeout_s: float = 5.0) -> AsyncIterator[Any]:
    """A read-only autocommit session with timeouts; every statement is a read-only transaction."""
    import psycopg

    conn = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout_s)), application_name="ctxgrab")
    try:
        await conn.execute("SET default_transaction_read_only = on")
        await conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        await conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        if conn.info.server_version >= 150000:
            # Each statement sees one consistent statistics snapshot (rates need before/after pairs).
            await conn.execute("SET stats_fetch_consistency = snapshot")
        yield conn
    finally:
        await conn.close()


async def _rows(conn: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return list(await cur.fetchall())


async def _rows_or(conn: Any, sql: str, fallback_sql: str, params: Any = None, *, locked: bool = False
                   ) -> list[dict[str, Any]]:
    """``sql``, or ``fallback_sql`` (which takes no table lock) when the table is locked."""
    import psycopg

    if locked:
        return await _rows(conn, fallback_sql, params)
    try:
        return await _rows(conn, sql, params)
    except psycopg.errors.LockNotAvailable:
        return await _rows(conn, fallback_sql, params)


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _f(v: Any) -> float | None:
    return float(v) if v is not None else None


# --------------------------------------------------------------------------- sections


async def _server(conn: Any) -> dict[str, Any]:
    (row,) = await _rows(conn, """
        SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num,
               version() AS full_version, pg_is_in_recovery() AS in_recovery, current_database() AS database,
               pg_postmaster_start_time() AS started_at, extract(epoch FROM now() - pg_postmaster_start_time())
               AS uptime_s""")
    return {"version": row["version"].split()[0], "version_num": row["num"], "version_full": row["full_version"],
            "major": row["num"] // 10000, "in_recovery": row["in_recovery"], "database": row["database"],
            "started_at": _iso(row["started_at"]), "uptime_s": _f(row["uptime_s"])}


_UNIT_BYTES = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "8kB": 8192, "16MB": 16 * 1024**2}
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def setting_value(value: str, unit: str | None) -> dict[str, Any]:
    """A ``pg_settings`` value with its unit resolved to bytes or seconds.

    >>> setting_value("65536", "kB")["bytes"], setting_value("5000", "ms")["seconds"]
    (67108864, 5.0)
    """
    out: dict[str, Any] = {"value": value, "unit": unit, "bytes": None, "seconds": None}
    try:
        number = float(value)
    except (TypeError, ValueError):
        return out
    if unit in _UNIT_BYTES:
        out["bytes"] = int(number * _UNIT_BYTES[unit])
    elif unit in _UNIT_SECONDS:
        out["seconds"] = number * _UNIT_SECONDS[unit]
    return out


async def _settings(conn: Any) -> dict[str, dict[str, Any]]:
    # reset_val: the server/role/database value, not this session's own SETs.
    rows = await _rows(conn, "SELECT name, reset_val, unit FROM pg_settings WHERE name = ANY(%s)", (list(_SETTINGS),))
    return {r["name"]: setting_value(r["reset_val"], r["unit"]) for r in sorted(rows, key=lambda r: r["name"])}


_TABLE_SQL = """
SELECT c.oid, c.oid::regclass::text AS name, c.relkind, c.reltuples::bigint AS reltuples, c.relpages,
       current_setting('block_size')::int AS block_size,
       s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.seq_scan, s.idx_scan,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       s.vacuum_count, s.autovacuum_count
FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.oid = to_regclass(%s)"""


async def _table(conn: Any, name: str, warnings: list[str]) -> dict[str, Any]:
    import psycopg

    rows = await _rows(conn, _TABLE_SQL, (name,))
    if not rows:
        warnings.append(f"table {name} not found in database")
        return {"name": name, "exists": False}
    r = rows[0]
    oid = r["oid"]
    est = r["reltuples"] if r["reltuples"] is not None and r["reltuples"] >= 0 else None
    out: dict[str, Any] = {
        "name": r["name"], "exists": True, "partitioned": r["relkind"] == "p",
        "estimated_rows": est, "live_rows": r["n_live_tup"], "dead_rows": r["n_dead_tup"],
        "dead_ratio": (r["n_dead_tup"] / (r["n_dead_tup"] + r["n_live_tup"]))
        if r["n_dead_tup"] is not None and (r["n_dead_tup"] or 0) + (r["n_live_tup"] or 0) > 0 else None,
        "modified_since_analyze": r["n_mod_since_analyze"],
        "seq_scans": r["seq_scan"], "index_scans": r["idx_scan"],
        "last_vacuum": _iso(r["last_vacuum"]), "last_autovacuum": _iso(r["last_autovacuum"]),
        "last_analyze": _iso(r["last_analyze"]), "last_autoanalyze": _iso(r["last_autoanalyze"]),
        "sizes_estimated": False,
    }
    # An ACCESS EXCLUSIVE lock held by someone else (a migration, a LOCK TABLE) blocks even reading
    # the table's size: read around it instead of waiting for lock_timeout on every query.
    holders = await _rows(conn, """
        SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'relation' AND relation = %s
           AND mode = 'AccessExclusiveLock' AND granted AND pid <> pg_backend_pid() ORDER BY pid""", (oid,))
    out["locked_by"] = [h["pid"] for h in holders]
    locked = bool(holders)
    try:
        if locked:
            raise psycopg.errors.LockNotAvailable("ACCESS EXCLUSIVE lock held by another session")
        if r["relkind"] == "p":
            # A partitioned table holds no rows itself: add up its leaf partitions.
            (sz,) = await _rows(conn, """
                SELECT coalesce(sum(pg_relation_size(relid)), 0)::bigint AS table_bytes,
                       coalesce(sum(pg_indexes_size(relid)), 0)::bigint AS index_bytes,
                       coalesce(sum(pg_total_relation_size(relid)), 0)::bigint AS total_bytes,
                       count(*) FILTER (WHERE isleaf) AS partitions,
                       (SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class
                         WHERE oid IN (SELECT relid FROM pg_partition_tree(%s) WHERE isleaf)) AS rows
                FROM pg_partition_tree(%s) WHERE isleaf""", (oid, oid))
            out["partitions"] = sz["partitions"]
            out["estimated_rows"] = sz["rows"]
        else:
            (sz,) = await _rows(conn, """
                SELECT pg_relation_size(%s) AS table_bytes, pg_indexes_size(%s) AS index_bytes,
                       pg_total_relation_size(%s) AS total_bytes""", (oid, oid, oid))
        out.update(table_bytes=sz["table_bytes"], index_bytes=sz["index_bytes"], total_bytes=sz["total_bytes"])
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
        # Someone holds an ACCESS EXCLUSIVE lock on it: estimate from pg_class, which needs no lock.
        out.update(table_bytes=r["relpages"] * r["block_size"], index_bytes=None, total_bytes=None,
                   sizes_estimated=True)
        who = f" (pid {', '.join(map(str, out['locked_by']))})" if out["locked_by"] else ""
        warnings.append(f"table {r['name']} is locked by another session{who}: its size is estimated from pg_class")
    # Deparsing (pg_get_indexdef, ...) can need a lock on the table: without one, plainer facts.
    idx = await _rows_or(conn, """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition,
               ic.relpages::bigint * current_setting('block_size')::int AS approx_bytes,
               i.indisunique AS unique, i.indisprimary AS primary, i.indisvalid AS valid,
               s.idx_scan AS scans
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
        WHERE i.indrelid = %s ORDER BY ic.relpages DESC, 1""", """
        SELECT i.indexrelid::regclass::text AS name,
               '(definition unavailable: table locked) ' || i.indexrelid::regclass::text AS definition,
               ic.relpages::bigint * current_setting('block_size')::int AS approx_bytes,
               i.indisunique AS unique, i.indisprimary AS primary, i.indisvalid AS valid,
               s.idx_scan AS scans
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
        WHERE i.indrelid = %s ORDER BY ic.relpages DESC, 1""", (oid,), locked=locked)
    out["indexes"] = idx[:_MAX_ROWS]
    out["index_count"] = len(idx)
    cols = await _rows_or(conn, """
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS default
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", """
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               CASE WHEN a.atthasdef THEN '(unavailable: table locked)' END AS default
        FROM pg_attribute a
        WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", (oid,), locked=locked)
    out["columns"] = cols[: _MAX_ROWS * 2]
    out["column_count"] = len(cols)
    refs = await _rows_or(conn, """
        SELECT conname AS name, conrelid::regclass::text AS from_table, confrelid::regclass::text AS to_table,
               pg_get_constraintdef(oid) AS definition
        FROM pg_constraint WHERE contype = 'f' AND (conrelid = %s OR confrelid = %s) ORDER BY 1""", """
        SELECT conname AS name, conrelid::regclass::text AS from_table, confrelid::regclass::text AS to_table,
               NULL AS definition
        FROM pg_constraint WHERE contype = 'f' AND (conrelid = %s OR confrelid = %s) ORDER BY 1""", (oid, oid),
        locked=locked)
    out["foreign_keys"] = refs[:_MAX_ROWS]
    (trg,) = await _rows(conn, "SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal", (oid,))
    out["triggers"] = trg["n"]
    return out


async def snapshot_activity(conn: Any, tables: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Cumulative counters of the current database (and the given tables), with the server clock.

    Two snapshots make rates: see :func:`activity_rates`.
    """
    # One statement, so the database and table counters come from the same statistics snapshot.
    (db,) = await _rows(conn, """
        SELECT clock_timestamp() AS at, pg_stat_get_snapshot_timestamp() AS stats_at, xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,
               tup_fetched, tup_returned, deadlocks, temp_bytes,
               (SELECT coalesce(json_object_agg(t.relid::regclass::text, json_build_object(
                        'n_tup_ins', t.n_tup_ins, 'n_tup_upd', t.n_tup_upd, 'n_tup_del', t.n_tup_del,
                        'n_tup_hot_upd', t.n_tup_hot_upd, 'seq_scan', t.seq_scan,
                        'idx_scan', coalesce(t.idx_scan, 0))), '{}'::json)
                  FROM pg_stat_all_tables t
                 WHERE t.relid = ANY(SELECT to_regclass(n) FROM unnest(%s::text[]) AS n)) AS tables
        FROM pg_stat_database WHERE datname = current_database()""", (list(tables),))
    per_table = db.pop("tables") or {}
    at, stats_at = db.pop("at"), db.pop("stats_at")
    # The statistics' own timestamp, when the server has one: the counters are as of then.
    return {"at": stats_at or at, "database": db, "tables": per_table}


def activity_rates(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per-second rates and raw deltas between two :func:`snapshot_activity` results (pure).

    >>> from datetime import datetime, timedelta
    >>> t = datetime(2026, 3, 4, 10)
    >>> z = {"xact_commit": 0, "xact_rollback": 0, "tup_inserted": 0, "tup_updated": 0, "tup_deleted": 0,
    ...      "tup_fetched": 0, "tup_returned": 0, "deadlocks": 0, "temp_bytes": 0}
    >>> a = dict(z, xact_commit=200, tup_inserted=3000, tup_updated=1000)
    >>> r = activity_rates({"at": t, "database": z, "tables": {}},
    ...                    {"at": t + timedelta(seconds=2), "database": a, "tables": {}})
    >>> r["xact_per_s"], r["rows_written_per_s"], r["rows_inserted"]
    (100.0, 2000.0, 3000)
    """
    dt = (after["at"] - before["at"]).total_seconds()
    if dt <= 0:
        raise ValueError("the second snapshot must be taken after the first")
    b, a = before["database"], after["database"]
    d = {k: (a[k] or 0) - (b[k] or 0) for k in a}
    written = d["tup_inserted"] + d["tup_updated"] + d["tup_deleted"]
    out: dict[str, Any] = {
        "sample_s": dt,
        "started_at": _iso(before["at"]),
        "ended_at": _iso(after["at"]),
        "xact_per_s": (d["xact_commit"] + d["xact_rollback"]) / dt,
        "commits_per_s": d["xact_commit"] / dt,
        "rollbacks_per_s": d["xact_rollback"] / dt,
        "rows_inserted_per_s": d["tup_inserted"] / dt,
        "rows_updated_per_s": d["tup_updated"] / dt,
        "rows_deleted_per_s": d["tup_deleted"] / dt,
        "rows_written_per_s": written / dt,
        "rows_fetched_per_s": d["tup_fetched"] / dt,
        "rows_inserted": d["tup_inserted"],
        "rows_updated": d["tup_updated"],
        "rows_deleted": d["tup_deleted"],
        "transactions": d["xact_commit"] + d["xact_rollback"],
        "deadlocks": d["deadlocks"],
        "temp_bytes": d["temp_bytes"],
        "tables": {},
    }
    for name, ta in after["tables"].items():
        tb = before["tables"].get(name)
        if tb is None:
            continue
        ins, upd, dele = (ta[k] - tb[k] for k in ("n_tup_ins", "n_tup_upd", "n_tup_del"))
        out["tables"][name] = {
            "rows_inserted": ins, "rows_updated": upd, "rows_deleted": dele,
            "rows_written_per_s": (ins + upd + dele) / dt,
            "scans_per_s": ((ta["seq_scan"] - tb["seq_scan"]) + (ta["idx_scan"] - tb["idx_scan"])) / dt,
        }
    return out


async def _connections(conn: Any) -> dict[str, Any]:
    (r,) = await _rows(conn, """
        SELECT count(*) FILTER (WHERE backend_type = 'client backend'
                                   OR (backend_type IS NULL AND usename IS NOT NULL)) AS used,
               count(*) FILTER (WHERE backend_type IS NULL) AS hidden,
               count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active') AS active,
               count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'idle') AS idle,
               count(*) FILTER (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)'))
                   AS idle_in_transaction,
               count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting_on_locks,
               current_setting('max_connections')::int AS max,
               current_setting('superuser_reserved_connections')::int AS reserved
        FROM pg_stat_activity""")
    usable = r["max"] - r["reserved"]
    return {**r, "usable": usable, "used_ratio": r["used"] / r["max"] if r["max"] else None}


async def _locks(conn: Any) -> dict[str, Any]:
    blocked = await _rows(conn, """
        SELECT a.pid, a.usename AS user, a.application_name AS application, a.state,
               extract(epoch FROM now() - coalesce(a.state_change, a.query_start)) AS waiting_s,
               extract(epoch FROM now() - a.xact_start) AS xact_s,
               left(a.query, 400) AS query, pg_blocking_pids(a.pid) AS blocked_by,
               (SELECT l.mode || ' on ' || coalesce(l.relation::regclass::text, l.locktype)
                  FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) AS waiting_for
        FROM pg_stat_activity a
        WHERE cardinality(pg_blocking_pids(a.pid)) > 0
        ORDER BY waiting_s DESC NULLS LAST""")
    blocker_pids = sorted({p for b in blocked for p in b["blocked_by"]})
    blockers = []
    if blocker_pids:
        blockers = await _rows(conn, """
            SELECT a.pid, a.usename AS user, a.application_name AS application, a.state,
                   extract(epoch FROM now() - a.xact_start) AS xact_s,
                   extract(epoch FROM now() - a.state_change) AS state_s,
                   left(a.query, 400) AS query,
                   (SELECT array_agg(DISTINCT l.mode || ' on ' || l.relation::regclass::text)
                      FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.relation IS NOT NULL
                       AND l.relation >= 16384) AS holds
            FROM pg_stat_activity a WHERE a.pid = ANY(%s) ORDER BY xact_s DESC NULLS LAST""", (blocker_pids,))
    (counts,) = await _rows(conn, """
        SELECT count(*) AS total, count(*) FILTER (WHERE NOT granted) AS waiting,
               count(*) FILTER (WHERE granted AND mode = 'AccessExclusiveLock' AND locktype = 'relation')
                   AS access_exclusive
        FROM pg_locks WHERE pid <> pg_backend_pid()""")
    for row in blocked:
        row["blocked_by"] = list(row["blocked_by"])
        row["waiting_s"], row["xact_s"] = _f(row["waiting_s"]), _f(row["xact_s"])
    for row in blockers:
        row["holds"] = sorted(row["holds"] or [])
        row["xact_s"], row["state_s"] = _f(row["xact_s"]), _f(row["state_s"])
    return {**counts, "blocked": blocked[:_MAX_ROWS], "blockers": blockers[:_MAX_ROWS]}


async def _long_running(conn: Any, long_query_s: float, long_xact_s: float) -> tuple[list[dict], list[dict]]:
    queries = await _rows(conn, """
        SELECT pid, usename AS user, application_name AS application, state, wait_event_type, wait_event,
               extract(epoch FROM now() - query_start) AS duration_s, left(query, 400) AS query
        FROM pg_stat_activity
        WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
          AND now() - query_start > make_interval(secs => %s)
        ORDER BY duration_s DESC""", (long_query_s,))
    xacts = await _rows(conn, """
        SELECT pid, usename AS user, application_name AS application, state,
               extract(epoch FROM now() - xact_start) AS xact_s,
               extract(epoch FROM now() - state_change) AS state_s, left(query, 400) AS last_query,
               backend_xmin IS NOT NULL AS holds_xmin,
               (SELECT array_agg(DISTINCT l.relation::regclass::text ORDER BY l.relation::regclass::text)
                  FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
                   AND l.relation >= 16384) AS tables
        FROM pg_stat_activity a
        WHERE xact_start IS NOT NULL AND backend_type = 'client backend' AND pid <> pg_backend_pid()
          AND now() - xact_start > make_interval(secs => %s)
        ORDER BY xact_s DESC""", (long_xact_s,))
    for q in queries:
        q["duration_s"] = _f(q["duration_s"])
    for x in xacts:
        x["xact_s"], x["state_s"] = _f(x["xact_s"]), _f(x["state_s"])
        x["tables"] = list(x["tables"] or [])
    return queries[:_MAX_ROWS], xacts[:_MAX_ROWS]


async def _replication(conn: Any, in_recovery: bool) -> dict[str, Any]:
    if in_recovery:
        (r,) = await _rows(conn, """
            SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp()) AS replay_delay_s,
                   pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS replay_lag_bytes,
                   (SELECT status FROM pg_stat_wal_receiver) AS receiver_status,
                   (SELECT sender_host FROM pg_stat_wal_receiver) AS primary_host""")
        return {"role": "standby", "replicas": [], "slots": [],
                "standby": {"replay_delay_s": _f(r["replay_delay_s"]), "replay_lag_bytes": r["replay_lag_bytes"],
                            "receiver_status": r["receiver_status"], "primary_host": r["primary_host"]}}
    replicas = await _rows(conn, """
        SELECT application_name AS name, host(client_addr) AS client_addr, state, sync_state,
               pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint AS sent_lag_bytes,
               pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes,
               extract(epoch FROM write_lag) AS write_lag_s, extract(epoch FROM flush_lag) AS flush_lag_s,
               extract(epoch FROM replay_lag) AS replay_lag_s, reply_time
        FROM pg_stat_replication ORDER BY application_name""")
    slots = await _rows(conn, """
        SELECT slot_name AS name, slot_type AS type, active,
               pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes
        FROM pg_replication_slots ORDER BY retained_bytes DESC NULLS LAST""")
    for r in replicas:
        for k in ("write_lag_s", "flush_lag_s", "replay_lag_s"):
            r[k] = _f(r[k])
        r["reply_time"] = _iso(r["reply_time"])
    return {"role": "primary", "replicas": replicas, "slots": slots, "standby": None,
            "max_replay_lag_s": max((r["replay_lag_s"] or 0.0 for r in replicas), default=None),
            "max_replay_lag_bytes": max((r["replay_lag_bytes"] or 0 for r in replicas), default=None)}


# --------------------------------------------------------------------------- collector


def _dsn(request: Any, params: dict[str, Any]) -> str:
    if params.get("dsn"):
        return str(params["dsn"])
    name = params.get("source")
    if not name:
        raise ConfigError("postgres: set `dsn` or `source` (a sources entry of type postgres)")
    sources = getattr(getattr(request, "config", None), "sources", None) or {}
    entry = sources.get(name) if isinstance(sources, dict) else getattr(sources, name, None)
    if entry is None:
        raise ConfigError(f"postgres: source {name!r} is not defined under sources")
    dsn = entry.get("dsn") if isinstance(entry, dict) else getattr(entry, "dsn", None)
    if not dsn:
        raise ConfigError(f"postgres: source {name!r} has no dsn")
    return str(dsn)


async def gather(dsn: str, tables: list[str], *, sample_s: float = 1.0, long_query_s: float = 30.0,
                 long_xact_s: float = 60.0, statement_timeout_ms: int = 5000) -> tuple[dict[str, Any], list[str]]:
    """Every section of the payload from one server; a failing section becomes a warning."""
    import psycopg

    warnings: list[str] = []
    data: dict[str, Any] = {"thresholds": {"long_query_s": long_query_s, "long_xact_s": long_xact_s}}
    sample_s = max(float(sample_s), MIN_SAMPLE_S)

    async def section(key: str, coro: Any, default: Any = None) -> Any:
        try:
            data[key] = await coro
        except psycopg.errors.QueryCanceled:
            warnings.append(f"{key}: cancelled by statement_timeout ({statement_timeout_ms} ms)")
            data[key] = default
        except psycopg.errors.InsufficientPrivilege as e:
            warnings.append(f"{key}: permission denied ({e.diag.message_primary}); grant pg_monitor to the ctxgrab role")
            data[key] = default
        except psycopg.errors.DatabaseError as e:
            # An older server without a column or function: keep the other sections.
            warnings.append(f"{key}: not read ({e.diag.message_primary or type(e).__name__})")
            data[key] = default
        return data[key]

    async with connect(dsn, statement_timeout_ms=statement_timeout_ms) as conn:
        before = await snapshot_activity(conn, tables)
        sample_started = time.monotonic()
        server = await section("server", _server(conn), {})
        await section("settings", _settings(conn), {})
        table_facts = []
        for name in tables:
            try:
                table_facts.append(await _table(conn, name, warnings))
            except psycopg.errors.QueryCanceled:
                warnings.append(f"table {name}: cancelled by statement_timeout ({statement_timeout_ms} ms)")
                table_facts.append({"name": name, "exists": None})
            except psycopg.errors.DatabaseError as e:
                warnings.append(f"table {name}: not read ({e.diag.message_primary or type(e).__name__})")
                table_facts.append({"name": name, "exists": None})
        data["tables"] = table_facts
        await section("connections", _connections(conn), {})
        await section("locks", _locks(conn), {"blocked": [], "blockers": []})
        try:
            data["long_queries"], data["long_transactions"] = await _long_running(conn, long_query_s, long_xact_s)
        except psycopg.errors.DatabaseError as e:
            data["long_queries"], data["long_transactions"] = [], []
            warnings.append(f"long-running queries: not read ({e.diag.message_primary or type(e).__name__})")
        await section("replication", _replication(conn, bool(server.get("in_recovery"))), {})
        # The rest of the sample interval: the reads above count towards it.
        await anyio.sleep(max(0.0, sample_s - (time.monotonic() - sample_started)))
        after = await snapshot_activity(conn, tables)
        data["activity"] = activity_rates(before, after)
    for t in data["tables"]:
        if t.get("exists"):
            t["activity"] = data["activity"]["tables"].get(t["name"])
    hidden = (data.get("connections") or {}).get("hidden") or 0
    if hidden or any(r.get("replay_lag_bytes") is None for r in (data.get("replication") or {}).get("replicas", [])):
        warnings.append(f"{hidden} sessions of other roles are hidden from this role (their queries, locks waits "
                        "and replica positions are missing here): grant pg_monitor to the ctxgrab role")
    return data, warnings


async def collect(request: Any, params: dict[str, Any]) -> Evidence:
    """Database facts for the prompt: version, tables, load, locks, long queries, connections, replication."""
    started = time.monotonic()
    name = str(params.get("name") or "postgres")
    title = str(params.get("title") or "PostgreSQL")
    try:
        dsn = _dsn(request, params)
    except ConfigError as e:
        return Evidence.failed(KIND, name, title, str(e))
    where = safe_dsn(dsn)
    tables = [str(t) for t in params.get("tables") or []]
    try:
        data, warnings = await gather(
            dsn, tables,
            sample_s=float(params.get("sample_s", 1.0)),
            long_query_s=float(params.get("long_query_s", 30.0)),
            long_xact_s=float(params.get("long_xact_s", 60.0)),
            statement_timeout_ms=int(params.get("statement_timeout_ms", 5000)),
        )
    except Exception as e:  # noqa: BLE001 - psycopg errors become a one-line reason
        return Evidence.failed(KIND, name, title, f"PostgreSQL {where}: {_reason(e)}", source=where)
    server = data.get("server") or {}
    if server.get("version"):
        title = f"{title} {server['version']} ({server.get('database')})"
    return Evidence(kind=KIND, name=name, title=title, status=Status.ok, source=where, data=data, warnings=warnings,
                    duration_ms=(time.monotonic() - started) * 1000)


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    if "Connection refused" in text or "could not connect" in text or "connection failed" in text:
        return f"unreachable: {text}"
    return text
