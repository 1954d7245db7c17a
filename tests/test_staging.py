"""Staging against production, from a real Prometheus and a real PostgreSQL.

Production and staging series of one service live in the same Prometheus (backfilled
with promtool), told apart by a label; production and staging databases live on the
same PostgreSQL server with tables of different sizes. The prompt must state staging's
version, its request rate as a share of production's and its table size against
production's, and say so in the staging constraint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

import ctxgrab

import pg_server
from conftest import missing
from prom_fixtures import backfilled_prometheus

END = 1_777_896_000  # 2026-05-04T12:00:00Z
AT = "2026-05-04T12:00:00Z"
PROD_RPS, STAGING_RPS = 400.0, 36.0


def _openmetrics() -> str:
    lines = []
    for ns, rps in (("prod", PROD_RPS), ("staging", STAGING_RPS)):
        total = 0.0
        for t in range(END - 4 * 3600, END + 1, 15):
            lines.append(f'http_server_requests_seconds_count{{service="orders",namespace="{ns}",status="200"}} '
                         f"{total:.1f} {t}")
            total += rps * 15
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("staging-prom")
    (folder / "s.om").write_text(_openmetrics())
    with backfilled_prometheus(folder / "s.om", folder) as url:
        yield url


@pytest.fixture(scope="module")
def dbs() -> Iterator[tuple[str, str]]:
    """One PostgreSQL server with a production and a staging database of different sizes."""
    try:
        import psycopg
    except ImportError:
        missing("psycopg is not installed")
    bindir = pg_server.find_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql")
    cluster, _, port, admin = pg_server.start_single(bindir)
    try:
        dsns = []
        for name, rows in (("orders_prod", 50_000), ("orders_staging", 1_200)):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            dsn = f"host=127.0.0.1 port={port} user=postgres dbname={name} connect_timeout=5"
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE TABLE payments (id bigint PRIMARY KEY, amount numeric)")
                conn.execute("INSERT INTO payments SELECT g, g * 0.5 FROM generate_series(1, %s) g", (rows,))
                conn.execute("ANALYZE payments")
            dsns.append(dsn)
        yield dsns[0], dsns[1]
    finally:
        cluster.stop_all()


def _config(tmp_path: Path, prom_url: str, dbs: tuple[str, str] | None, repo: Path | None = None) -> Path:
    (tmp_path / "deploys.yaml").write_text(
        "deploys:\n  - {version: '1.4.0', time: '2026-04-01T12:00:00Z'}\n  - {version: '1.5.0', time: '2026-05-04T10:00:00Z'}\n")
    (tmp_path / "deploys-staging.yaml").write_text("deploys:\n  - {version: v1.5.1-rc1, time: '2026-05-03T15:00:00Z'}\n")
    sources = {"prom": {"type": "prometheus", "url": prom_url}}
    svc = {"labels": {"service": "orders", "namespace": "prod"}, "packs": ["http"],
           "deploys": {"path": "deploys.yaml"},
           "staging": {"labels": {"namespace": "staging"}, "deploys": {"path": "deploys-staging.yaml"}}}
    if dbs:
        sources |= {"db": {"type": "postgres", "dsn": dbs[0]}, "db_staging": {"type": "postgres", "dsn": dbs[1]}}
        svc["database"] = {"source": "db", "tables": ["payments"], "sample_s": 0.2}
        svc["staging"]["database"] = {"source": "db_staging", "sample_s": 0.2}
    if repo is not None:
        # The second scenario of "What changed": the orders repository and its failing log.
        from test_change import TRACEBACK

        lines = []
        for minute in range(0, 60, 2):
            lines.append(f"2026-05-04 11:{minute:02d}:00,000 ERROR orders.api: charge failed for order {minute}")
            lines.extend(TRACEBACK.splitlines())
        (tmp_path / "app.log").write_text("\n".join(lines) + "\n")
        svc["logs"] = [{"path": "app.log"}]
        svc["repo"] = {"path": str(repo), "tag": "release-{version}"}
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(json.dumps({"defaults": {"since": "2h", "at": AT, "timeout_s": 20, "deadline_s": 40},
                               "sources": sources, "services": {"orders": svc}}))
    return cfg


@pytest.mark.integration
def test_staging_parity_from_real_prometheus_and_postgres(tmp_path: Path, prom: str, dbs: tuple[str, str]) -> None:
    from test_change import build_orders

    shas = build_orders(tmp_path / "orders.git")
    result = ctxgrab.incident("orders", config=str(_config(tmp_path, prom, dbs, tmp_path / "orders.git")))
    st = next(ev for ev in result.evidence if ev.kind == "staging")
    assert st.ok, st.reason
    d = st.data
    assert d["version"] == {"staging": "v1.5.1-rc1", "staging_time": "2026-05-03T15:00:00+00:00",
                            "production": "1.5.0"}
    rate = d["rates"][0]
    assert rate["staging"] == pytest.approx(STAGING_RPS, rel=0.02)
    assert rate["production"] == pytest.approx(PROD_RPS, rel=0.02)
    assert rate["share"] == pytest.approx(STAGING_RPS / PROD_RPS, rel=0.03)
    table = d["tables"][0]
    assert table["table"] == "payments"
    assert table["staging_rows"] == pytest.approx(1_200, rel=0.05)
    assert table["production_rows"] == pytest.approx(50_000, rel=0.05)
    md = result.markdown
    assert "Staging runs v1.5.1-rc1 at 36 req/s, 9% of production's 400 req/s" in md
    assert "a different version" in md  # production runs v1.5.0
    assert "`payments` has 1,200 rows against 50,000" in md
    # The same prompt names the commit behind the failing frame and the review gap.
    assert f'{shas["refactor"]} "ORD-77 price orders from the pricing cache"' in md and "lines 55–57" in md
    assert "2 of 4 commits had no review" in md
    assert result.to_dict()["evidence"]  # and --format json carries both as data
    kinds = {e["kind"] for e in result.to_dict()["evidence"]}
    assert {"change", "staging"} <= kinds


@pytest.mark.integration
def test_missing_staging_data_is_a_stated_gap(tmp_path: Path, prom: str) -> None:
    cfg = _config(tmp_path, prom, None)
    data = json.loads(cfg.read_text())
    data["services"]["orders"]["staging"]["labels"] = {"namespace": "qa"}  # no such series
    cfg.write_text(json.dumps(data))
    result = ctxgrab.incident("orders", config=str(cfg))
    st = next(ev for ev in result.evidence if ev.kind == "staging")
    assert st.ok  # the version is still known
    assert not st.data["rates"]
    assert any("staging's request rate" in g for g in st.data["gaps"])
    assert "Not visible: staging's request rate" in result.markdown
