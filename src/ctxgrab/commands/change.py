"""``ctxgrab change``: a prompt for planning a risky database change with the facts it must respect.

A schema change suggested without the table's size and load locks production.
This command reads them from the real server (read-only, under a statement
timeout) and renders ``templates/commands/change.md.j2``: rows, sizes, indexes, columns,
write rate, long transactions and locks, connections, replication lag per
replica, PostgreSQL version and settings; and the ask for a zero-downtime plan
(online migration tooling, batched and throttled backfill, replication lag
watched, a rollback for every step).

Example::

    ctxgrab change --service payments --table orders "add a NOT NULL column currency, default 'EUR'"
    ctxgrab change --dsn postgresql://ro@db/shop --table orders "index orders(status)" --format json

The database comes from the service's ``database:`` entry and the ``sources`` entry
it names (``{type: postgres, dsn: ...}``), or from ``--dsn``. The entry's ``tables``
are read (the first is the one to change unless ``--table`` names one), and its
``long_query_s``, ``long_xact_s``, ``statement_timeout_ms`` and ``sample_s`` apply as
they do in ``ctxgrab incident``; ``--sample-s`` overrides the last.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Optional

import typer

from .. import aio
from . import Format
from ..errors import ConfigError, CtxgrabError

__all__ = ["register", "render_change", "database_for", "database_entry"]

#: Keys of the service's ``database:`` entry that ``gather`` takes as they are.
_GATHER_KEYS = ("sample_s", "long_query_s", "long_xact_s", "statement_timeout_ms")


def render_change(*, service: str | None, table: str, change: str, database: dict[str, Any], warnings: list[str],
                  at: datetime, deploys: dict[str, Any] | None = None, user_dir: Path | None = None) -> str:
    """The change-planning prompt for ``table`` from a :func:`ctxgrab.collectors.postgres.gather` payload."""
    from ..render import render_template

    facts = _table_facts(database, table)
    return render_template("commands/change", {
        "service": service,
        "change": change,
        "table": facts,
        "db": database,
        "deploys": deploys,
        "warnings": warnings,
        "at": at.isoformat(),
    }, user_dir)


def _table_facts(database: dict[str, Any], table: str) -> dict[str, Any]:
    for t in database.get("tables") or []:
        if t.get("name") == table or t.get("name", "").split(".")[-1] == table.split(".")[-1]:
            return t
    return {"name": table, "exists": False}


def _as_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(exclude_none=True)
    return dict(obj) if isinstance(obj, dict) else dict(vars(obj))


def database_for(config: Any, service: str) -> tuple[str, list[str]]:
    """The DSN and the configured tables of ``service`` (its ``database:`` entry)."""
    dsn, entry = database_entry(config, service)
    return dsn, [str(t) for t in entry.get("tables") or []]


def database_entry(config: Any, service: str) -> tuple[str, dict[str, Any]]:
    """The DSN and the whole ``database:`` entry of ``service`` (tables, thresholds, timeouts)."""
    svc = config.service(service)
    db = getattr(svc, "database", None)
    if db is None:
        where = getattr(config, "path", None) or "the config"
        raise ConfigError(f"{where}: service {service!r} has no `database:` entry — fix: add "
                          "`database: {source: NAME, tables: [...]}` with a postgres source, or pass --dsn")
    get = _as_dict(db).get
    source = get("source")
    entry = (config.sources or {}).get(source) if source else None
    dsn = get("dsn") or (_as_dict(entry).get("dsn") if entry is not None else None)
    if not dsn:
        raise ConfigError(f"service {service!r}: database source {source!r} has no dsn — fix: define "
                          f"`sources.{source}: {{type: postgres, dsn: ...}}`")
    return str(dsn), _as_dict(db)


async def _deploys(config: Any, service: str, at: datetime) -> dict[str, Any] | None:
    """The service's rollback plan, when it has deploy history configured (best effort)."""
    from datetime import timedelta

    from ..collectors import CollectRequest, load
    from ..timeutil import Window

    svc = config.service(service)
    jobs = []
    kube = getattr(svc, "kubernetes", None)
    if kube is not None:
        jobs.append(("kubernetes", _as_dict(kube)))
    elif getattr(svc, "deploys", None) is not None:
        jobs.append(("deploys", _as_dict(svc.deploys)))
    if not jobs:
        return None
    kind, params = jobs[0]
    request = CollectRequest(service=service, window=Window.ending(at, timedelta(hours=2)), baseline=None, at=at,
                             base_dir=config.base_dir, config=config)
    try:
        ev = await load(kind)(request, params)
    except Exception:  # noqa: BLE001 - deploy state is context here, never a reason to fail
        return None
    return ev.data if ev.ok else None


def register(app: typer.Typer) -> None:
    """Add ``change`` to the CLI."""

    @app.command("change")
    def change(
        what: str = typer.Argument(..., help="the change you want to make, in your words or as SQL"),
        service: Optional[str] = typer.Option(None, "--service", "-s", help="service name from the config"),
        tables: List[str] = typer.Option([], "--table", help="the table to change (repeat for several); "
                                         "default: the service's `database.tables`, the first one changed"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="config file"),
        dsn: Optional[str] = typer.Option(None, "--dsn", help="PostgreSQL connection string, instead of the "
                                          "service's database source"),
        sample_s: Optional[float] = typer.Option(None, "--sample-s", help="seconds over which write and transaction "
                                                 "rates are measured (default: the service's `database.sample_s`, "
                                                 "else 1; at least 2)"),
        fmt: Format = typer.Option(Format.markdown, "--format", "-f", help="markdown prompt or json facts"),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="write to this file instead of stdout"),
    ) -> None:
        """Print a prompt for planning a risky schema or data change on a live PostgreSQL table.

        It carries the table's rows, size, indexes and write rate, long transactions and locks,
        PostgreSQL version and replication lag, and asks for a zero-downtime plan with a rollback
        for every step.

        Example:

          ctxgrab change --service payments --table orders "add a NOT NULL column currency, default 'EUR'"
        """
        from ..collectors.postgres import gather, safe_dsn
        from ..evidence import Evidence
        from ..redact import redact_evidence

        def fail(message: str) -> typer.Exit:
            typer.echo(f"ctxgrab: {message}", err=True)
            return typer.Exit(2)

        cfg = None
        at = datetime.now(timezone.utc)
        entry: dict[str, Any] = {}
        try:
            if dsn is None or service is not None and config is not None:
                from ..config import load_config

                cfg = load_config(config)
                if service is None:
                    raise ConfigError("--service is required unless --dsn is given")
                at = getattr(cfg.defaults, "at", None) or at
                svc_dsn, entry = database_entry(cfg, service)
                dsn = dsn or svc_dsn
        except CtxgrabError as e:
            raise fail(str(e))
        assert dsn is not None
        # The table to change first, then the service's other tables as related context.
        configured = [str(t) for t in entry.get("tables") or []]
        tables = list(dict.fromkeys([*tables, *configured]))
        if not tables:
            raise fail("no table to change — fix: pass --table NAME, or list it under the service's `database.tables`")
        options = {k: entry[k] for k in _GATHER_KEYS if entry.get(k) is not None}
        if sample_s is not None:
            options["sample_s"] = sample_s
        try:
            database, warnings = aio.run(lambda: gather(dsn, list(tables), **options))
        except Exception as e:  # noqa: BLE001 - one line, never a traceback with the DSN in it
            raise fail(f"PostgreSQL {safe_dsn(dsn)}: {' '.join(str(e).split())}")
        missing = [t["name"] for t in database.get("tables", [])[:1] if t.get("exists") is False]
        if missing:
            raise fail(f"table {', '.join(missing)} not found in database "
                       f"{(database.get('server') or {}).get('database')} ({safe_dsn(dsn)})")
        deploys = aio.run(_deploys, cfg, service, at) if cfg is not None and service else None
        # The same redaction stage as every prompt: query texts can carry literals.
        ev = redact_evidence(Evidence(kind="postgres", name="postgres", title="PostgreSQL",
                                      data={"database": database, "deploys": deploys}, warnings=warnings))
        database, deploys, warnings = ev.data["database"], ev.data["deploys"], ev.warnings
        for w in warnings:
            typer.echo(f"ctxgrab: warning: {w}", err=True)
        if fmt is Format.json:
            text = json.dumps({"service": service, "change": what, "at": at.isoformat(),
                               "table": _table_facts(database, tables[0]), "database": database,
                               "deploys": deploys, "warnings": warnings}, indent=2, default=str) + "\n"
        else:
            text = "".join(
                render_change(service=service, table=t, change=what, database=database,
                              warnings=warnings, at=at, deploys=deploys)
                for t in tables[:1])
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"ctxgrab: wrote {output}", err=True)
