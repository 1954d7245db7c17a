"""A real PostgreSQL primary and streaming replica for the tests, one per test session.

``initdb`` into a private temporary directory, ``pg_ctl start`` on free loopback
ports (Unix sockets in the same directory), readiness by a connect retry loop, a
streaming standby made with ``pg_basebackup -R``, and ``pg_ctl stop`` at the end.
As root, the server runs as the ``postgres`` user (PostgreSQL refuses root), with
the directory handed to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path | None:
    """The directory holding initdb/pg_ctl: Debian's versioned dir, newest first, else PATH."""
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if Path(d, "initdb").is_file() and Path(d, "pg_ctl").is_file():
            return Path(d)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    replica_port: int | None = None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=shop connect_timeout=5"

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=5"

    @property
    def replica_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.replica_port} user=postgres dbname=shop connect_timeout=5"


class PgCluster:
    """Start/stop helpers; every command has a timeout."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="ctxgrab-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.started: list[Path] = []

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [*self.as_user, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        return proc

    def start(self, data: Path, port: int, *extra: str) -> None:
        opts = " ".join([f"-p {port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1", "-c max_connections=40",
                         "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", *extra])
        # -W: do not let pg_ctl wait; readiness is checked by connecting (wait_ready).
        self.run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(data.parent / f"{data.name}.log"),
                 "-o", opts, "-W", "start")
        self.started.append(data)

    def wait_ready(self, dsn: str, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(dsn, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError as e:
                last = e
                time.sleep(0.05)  # retry interval of the readiness loop, not a wait for the outcome
        raise RuntimeError(f"PostgreSQL did not accept connections within {timeout_s:.0f} s: {last}")

    def stop_all(self) -> None:
        for data in reversed(self.started):
            try:
                self.run(str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        self.started.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def start_primary_and_replica(bindir: Path) -> tuple[PgCluster, PgServer]:
    import psycopg

    cluster = PgCluster(bindir)
    try:
        primary = cluster.root / "primary"
        cluster.run(str(bindir / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync", timeout=120)
        server = PgServer(bindir, cluster.root, free_port())
        cluster.start(primary, server.port)
        cluster.wait_ready(server.admin_dsn)
        with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE shop")
        replica = cluster.root / "replica"
        cluster.run(str(bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                    "-D", str(replica), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast", timeout=120)
        server.replica_port = free_port()
        cluster.start(replica, server.replica_port, "-c cluster_name=replica1", "-c hot_standby=on")
        cluster.wait_ready(server.replica_dsn)
        # Streaming has begun when the primary lists the standby.
        deadline = time.monotonic() + 30
        with psycopg.connect(server.admin_dsn, autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()[0] < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("the standby did not start streaming within 30 s")
                time.sleep(0.05)
        return cluster, server
    except BaseException:
        cluster.stop_all()
        raise


def start_single(bindir: Path, *extra: str) -> tuple[PgCluster, Path, int, str]:
    """One PostgreSQL server (no replica): ``(cluster, data dir, port, admin DSN)``; call
    ``cluster.stop_all()`` when done. ``extra`` are more ``-c name=value`` server options."""
    cluster = PgCluster(bindir)
    try:
        data = cluster.root / "primary"
        cluster.run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync", timeout=120)
        port = free_port()
        cluster.start(data, port, *extra)
        admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
        cluster.wait_ready(admin)
        return cluster, data, port, admin
    except BaseException:
        cluster.stop_all()
        raise
