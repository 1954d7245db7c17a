"""Limits across sources and OutOfMemoryError as a memory signal.

- A memory pool pinned just under its configured maximum (``-XX:MaxDirectMemorySize`` in
  ``jvm.options``, read by the settings collector) is a saturation fact; it read "no clear trend".
- A service restarting in a loop on a non-heap OutOfMemoryError (stack traces recorded from
  OpenJDK 17, see tests/data/README.md) gets the memory prompt naming the OOM kind and the
  limit it hit; it was classed "error spike".
- Containers killed for memory (OOMKilled, Kubernetes evidence) lead to the same prompt.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ctxgrab
from ctxgrab.evidence import Evidence
from ctxgrab.signals import choose_kind, derive, limits
from ctxgrab.timeutil import Window

DATA = Path(__file__).parent / "data" / "oom"
AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
MiB = 1024**2


def _reply(points: list[tuple[float, float]], labels: dict[str, str]) -> str:
    """A Prometheus query_range reply, as the HTTP API documents it."""
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": [[t, repr(v)] for t, v in points]}]}})


def _service(tmp_path: Path, log_text: str | None = None, direct: float | None = None) -> Path:
    (tmp_path / "jvm.options").write_text("-Xmx2g\n-XX:MaxDirectMemorySize=512m\n-XX:MaxMetaspaceSize=256m\n")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    end = AT.timestamp()
    pts = [(end - 7200 + 60 * i, 2.0 if i % 3 else 1.0) for i in range(121)]
    (metrics / "request_rate.json").write_text(_reply(pts, {"service": "gateway"}))
    if direct is not None:
        # Direct buffers flat just under the 512 MiB ceiling for the whole window (Netty's pooled arenas).
        flat = [(end - 7200 + 60 * i, direct + (i % 4) * 64 * 1024) for i in range(121)]
        (metrics / "direct_buffers.json").write_text(_reply(flat, {"service": "gateway", "pod": "gateway-0"}))
    svc = {"packs": ["jvm", "http"], "settings": [{"path": "jvm.options"}]}
    if log_text is not None:
        (tmp_path / "app.log").write_text(log_text)
        svc["logs"] = [{"path": "app.log", "title": "gateway log"}]
    cfg = {"defaults": {"since": "2h", "at": AT.isoformat()},
           "sources": {"saved": {"type": "prometheus_files", "path": "metrics"}},
           "services": {"gateway": svc}}
    path = tmp_path / "ctxgrab.yaml"
    path.write_text(json.dumps(cfg))
    return path


def test_direct_buffers_pinned_under_their_setting_are_saturation(tmp_path: Path) -> None:
    cfg = _service(tmp_path, direct=508 * MiB)
    r = ctxgrab.incident("gateway", config=cfg)
    bound = limits(r.evidence)["direct_buffers"]
    assert [(b["source"], b["name"], b["value"]) for b in bound] == [("setting", "-XX:MaxDirectMemorySize", 512 * MiB)]
    sat = next(s for s in r.signals if s["name"] == "saturation")
    assert "Direct buffers used pinned at 508 MiB, 99% of -XX:MaxDirectMemorySize = 512 MiB" in sat["summary"]
    assert sat["facts"]["resources"][0]["pinned"] is True
    assert r.kind == "saturation"
    # Beside the metric, the bound with its units.
    assert "bounded by `-XX:MaxDirectMemorySize` = `512m` (512 MiB) in jvm.options (99% now)" in r.markdown


def test_pool_far_from_its_limit_is_not_saturated(tmp_path: Path) -> None:
    r = ctxgrab.incident("gateway", config=_service(tmp_path, direct=100 * MiB))
    assert "saturation" not in [s["name"] for s in r.signals]


def _restart_loop(trace: str, restarts: int = 6) -> str:
    lines = []
    t = AT - timedelta(hours=3)
    for i in range(40):  # a quiet baseline window
        lines.append(f"{(t + timedelta(minutes=2 * i)).isoformat().replace('+00:00', 'Z')} INFO [main] "
                     f"com.acme.gateway.Proxy - forwarded request {i}")
    for n in range(restarts):
        at = AT - timedelta(minutes=100 - 15 * n)
        stamp = at.isoformat().replace("+00:00", "Z")
        lines.append(f"{stamp} INFO [main] com.acme.gateway.Application - Started Application in 4.2 seconds")
        for k in range(4):
            s = (at + timedelta(seconds=30 + k)).isoformat().replace("+00:00", "Z")
            lines.append(f"{s} ERROR [nioEventLoopGroup-3-{k}] io.netty.channel.DefaultChannelPipeline - "
                         f"An exceptionCaught() event was fired")
            lines.append(trace.rstrip("\n"))
    return "\n".join(lines) + "\n"


def test_restart_loop_on_direct_buffer_oom_is_a_memory_incident(tmp_path: Path) -> None:
    trace = (DATA / "direct.txt").read_text()
    r = ctxgrab.incident("gateway", config=_service(tmp_path, log_text=_restart_loop(trace)))
    oom = next(s for s in r.signals if s["name"] == "oom")
    assert r.kind == "memory_leak" and choose_kind(r.signals)[1] == ["oom"]
    assert "OutOfMemoryError (direct buffer) ×24" in oom["summary"]
    assert "the limit it hit: -XX:MaxDirectMemorySize = 512 MiB" in oom["summary"]
    assert "**oom**: OutOfMemoryError (direct buffer)" in r.markdown


def test_metaspace_oom_names_its_own_limit(tmp_path: Path) -> None:
    trace = (DATA / "metaspace.txt").read_text()
    r = ctxgrab.incident("gateway", config=_service(tmp_path, log_text=_restart_loop(trace, 2)))
    oom = next(s for s in r.signals if s["name"] == "oom")
    assert "OutOfMemoryError (metaspace) ×8" in oom["summary"] and "-XX:MaxMetaspaceSize = 256 MiB" in oom["summary"]


def test_direct_oom_without_the_setting_uses_the_limit_in_the_message() -> None:
    trace = (DATA / "direct.txt").read_text()
    logs = Evidence(kind="logs", name="app", title="app log", data={"patterns": [
        {"template": "An exceptionCaught() event was fired", "count": 3, "level": "ERROR",
         "exception": "java.lang.OutOfMemoryError", "example": trace, "first_seen": "2026-03-02T11:00:00+00:00"}]})
    sig = next(s for s in derive([logs]) if s["name"] == "oom")
    assert "the limit it hit: 4.0 MiB (the limit the error message names)" in sig["summary"]


def test_oomkilled_containers_lead_to_the_memory_prompt() -> None:
    window = Window.ending(AT, timedelta(hours=2))
    k8s = Evidence(kind="deploys", name="kubernetes", title="Deployments", data={
        "current": None, "restarts": {"total": 5, "termination_reasons": {"OOMKilled": 5}, "waiting_reasons": {}},
        "pods": [{"name": "gateway-0", "restarts": 5, "memory_limit_bytes": 1024 * MiB}]})
    sigs = derive([k8s], window)
    oom = next(s for s in sigs if s["name"] == "oom")
    assert oom["summary"] == "5 containers killed for memory (OOMKilled) at the 1.0 GiB container memory limit"
    assert choose_kind(sigs) == ("memory_leak", ["oom"])
