"""``ctxgrab check``: is the config valid, and does each source answer?"""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path

import httpx
import typer

from .config import Config, SourceConfig, load_config
from .redact import redact
from .sources import auth_headers, basic_auth, public_url, verify_option

__all__ = ["run_check", "probe_source"]

_READY_PATHS = {
    "prometheus": "/-/ready",
    "victoriametrics": "/health",
    "alertmanager": "/-/ready",
    "loki": "/ready",
    "jaeger": "/api/services",
    "tempo": "/ready",
}


def probe_source(name: str, source: SourceConfig, cfg: Config) -> tuple[bool, str]:
    """(answered, one-line detail) for one source."""
    if source.type == "prometheus_files":
        folder = cfg.base_dir / (source.path or ".")
        files = list(folder.glob("*.json")) if folder.is_dir() else []
        return (bool(files), f"{len(files)} saved responses in {folder}" if files else f"no saved responses in {folder}")
    if source.type in _READY_PATHS and source.url:
        url = source.url + _READY_PATHS[source.type]
        shown = public_url(url)  # never print credentials from the URL
        creds = basic_auth(source)
        try:
            r = httpx.get(url, timeout=source.timeout_s or 5.0, verify=verify_option(source),
                          headers=auth_headers(source), auth=httpx.BasicAuth(*creds) if creds else None)
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as e:  # a host the resolver refuses
            return False, f"{shown}: {type(e).__name__}: {redact(str(e))}"
        return r.status_code < 400, f"{shown}: HTTP {r.status_code}"
    return True, f"type {source.type}: not probed by check"


def run_check(config_path: Path | None) -> bool:
    cfg = load_config(config_path)
    typer.echo(f"config {cfg.path}: valid, {len(cfg.services)} service(s), {len(cfg.sources)} source(s)")
    all_ok = True
    for name, source in cfg.sources.items():
        ok, detail = probe_source(name, source, cfg)
        all_ok &= ok
        typer.echo(f"  source {name} ({source.type}): {'ok' if ok else 'FAILED'} — {detail}")
    for sname, svc in cfg.services.items():
        globs = [e.path for e in svc.logs if e.path] + svc.gc_logs + svc.heap_dumps
        globs += [e.path for e in svc.traces if e.path]
        globs += svc.thread_dumps + svc.flight_recordings
        globs += [svc.deploys.path] if svc.deploys else []
        globs += [s.path for s in svc.settings]
        for pattern in globs:
            matches = sorted(glob.glob(str(cfg.base_dir / Path(pattern).expanduser())))
            problems = [p for p in (_unreadable(m) for m in matches) if p]
            ok = bool(matches) and not problems
            all_ok &= ok
            if not matches:
                detail = "NO FILES"
            elif problems:
                detail = (f"{len(matches)} match(es), {len(problems)} UNREADABLE: " + "; ".join(problems[:3])
                          + (f"; and {len(problems) - 3} more" if len(problems) > 3 else ""))
            else:
                detail = f"{len(matches)} file(s)"
            typer.echo(f"  service {sname}: {pattern}: {detail}")
    return all_ok


def _unreadable(path: str) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it can (opened, one byte read)."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return f"{path} (a directory)"
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device: opening it could block; ask the kernel instead
            return None if os.access(path, os.R_OK) else f"{path} (permission denied)"
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        return f"{path} ({e.strerror or e})"
    return None
