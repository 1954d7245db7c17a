"""The embedded demo: every scenario fact appears with its number, in markdown and in JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ctxgrab

GB = 1024**3

# (what, a regex the markdown prompt must match)
DEMO_FACTS = [
    ("heap 2 GB → 8 GB over 12 h", r"JVM heap used\*\*: 2\.0 GiB → 7\.9 GiB over 12 h"),
    ("-Xmx8g / 8 GB max", r"`-Xmx` = `8g`"),
    ("heap max 8 GB", r"JVM heap max\*\*: 8\.0 GiB"),
    ("GC pause time rising", r"Time paused in GC\*\*: 0\.2% → 2\.\d% over 12 h"),
    ("5xx about 15% in the last hour", r"5xx ratio 15\.\d% since 11:00 UTC"),
    ("NullPointerException burst", r"×1,\d{3}[^\n]*NullPointerException"),
    ("OutOfMemoryError burst", r"×\d+[^\n]*OutOfMemoryError"),
    ("NPE frame", r"PaymentService\.process\(PaymentService\.java:42\)"),
    ("deploy 2 h before the end", r"\*\*v2\.3\.2\*\*, deployed 2026-03-02 10:00 UTC \(2 h ago\)"),
    ("10% canary", r"canary at 10% of traffic"),
    ("last known good v2.3.1", r"Last known good: \*\*v2\.3\.1\*\*"),
    ("rollback command", r"`kubectl rollout undo deployment/payments -n prod`"),
    ("MaxWebSocketSessions 10000", r"`server\.max-websocket-sessions` = `10000`"),
    ("Redis cache max 10k entries", r"`payments\.cache\.redis\.max-entries` = `10000`"),
    ("Redis cache without TTL", r"`payments\.cache\.redis\.ttl` = `none`"),
    ("GC log: live set rising, leak verdict", r"Verdict: memory leak suspected"),
    ("GC log: live set after GC in numbers", r"live set after GC 2\.\d GiB → 7\.\d GiB over 11 h"),
    ("GC log: Full GC reclaims little", r"Full GC reclaims \d\.\d% of the heap"),
    ("heap dump: RedisCache retains most of the heap", r"com\.acme\.payments\.RedisCache[^\n]*retains [\d.]+ MiB \(9\d\.\d% of the live heap\)"),
    ("constraints: rollback, staging, canary, review, regression test",
     r"(?s)Rollback ready.*Staging first.*production-like traffic.*Gradual rollout.*Review.*feature flag.*Regression test"),
]

PLANTED_SECRETS = ["Pa55w0rd-Demo-9f2", "AKIA4DEMO7EXAMPLE2QZ", "c2lnbmF0dXJlLWRlbW8tb25seQ",
                   "eyJzdWIiOiJsZWRnZXItY2xpZW50In0"]


@pytest.fixture(scope="module")
def demo_result():
    return ctxgrab.incident("payments", config=Path(__file__).resolve().parents[1] / "fixtures/demo/ctxgrab.yaml")


@pytest.mark.parametrize("fact", DEMO_FACTS, ids=[f[0] for f in DEMO_FACTS])
def test_demo_prompt_states_every_fact_with_its_number(demo_result, fact) -> None:
    import re

    assert re.search(fact[1], demo_result.markdown), f"demo prompt lacks: {fact[0]}"


def test_demo_has_no_gaps(demo_result) -> None:
    gaps = [(e.name, e.status.value, e.reason) for e in demo_result.evidence if e.status.value not in ("ok", "skipped")]
    assert gaps == []


@pytest.mark.parametrize("secret", PLANTED_SECRETS)
def test_demo_prompt_and_json_hold_no_planted_secret(demo_result, secret: str) -> None:
    assert secret not in demo_result.markdown
    assert secret not in demo_result.to_json()


def test_demo_json_holds_the_same_facts_as_data(demo_result) -> None:
    data = json.loads(demo_result.to_json())
    assert data["schema_version"] == 1 and data["service"] == "payments"
    assert data["window"]["start"] == "2026-03-02T00:00:00+00:00"
    ev = {e["name"]: e for e in data["evidence"]}
    heap = ev["jvm.heap_used"]["data"]["series"][0]["summary"]
    assert round(heap["first"] / GB, 1) == 2.0 and round(heap["last"] / GB, 1) == 7.9
    assert heap["span_s"] == 12 * 3600
    assert ev["jvm.heap_max"]["data"]["series"][0]["summary"]["last"] == 8 * GB
    err = ev["http.error_ratio"]["data"]["series"][0]["summary"]["change_point"]
    assert 0.14 < err["after"] < 0.16 and err["before"] < 0.005
    deploys = ev["deploys"]["data"]
    assert deploys["current"]["version"] == "v2.3.2" and deploys["current"]["canary_weight"] == 10
    assert deploys["last_known_good"]["version"] == "v2.3.1"
    assert deploys["since_current_s"] == 2 * 3600
    assert deploys["rollback_command"] == "kubectl rollout undo deployment/payments -n prod"
    settings = {kv["key"]: kv["value"] for f in ev["settings"]["data"]["files"] for kv in f["values"]}
    assert settings["server.max-websocket-sessions"] == "10000" and settings["-Xmx"] == "8g"
    assert settings["payments.cache.redis.max-entries"] == "10000"
    logs = next(e for e in data["evidence"] if e["kind"] == "logs")["data"]
    templates = " ".join(p["template"] + " " + (p.get("exception") or "") for p in logs["patterns"])
    assert "NullPointerException" in templates and "OutOfMemoryError" in templates
    names = {s["name"] for s in data["signals"]}
    assert {"memory_leak", "error_spike", "recent_deploy", "new_exception"} <= names


def test_demo_renders_the_same_bytes_every_time(demo_config: Path) -> None:
    a = ctxgrab.incident("payments", config=demo_config).markdown
    b = ctxgrab.incident("payments", config=demo_config).markdown
    assert a == b


def test_demo_cli_prompt_to_stdout_diagnostics_to_stderr(demo_config: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "incident", "--service", "payments",
                        "--config", str(demo_config)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# Incident context: payments")
    assert "[1/" not in r.stderr  # progress only on a terminal
    out = tmp_path / "prompt.md"
    r2 = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "incident", "-s", "payments", "-c", str(demo_config),
                         "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0 and r2.stdout == "" and out.read_text() == r.stdout


def test_window_options_change_the_window(demo_config: Path) -> None:
    r = ctxgrab.incident("payments", since="2h", config=demo_config)
    assert r.window.hours == 2
    r = ctxgrab.incident("payments", start="2026-03-02T09:00:00Z", end="2026-03-02T11:00:00Z", config=demo_config)
    assert r.window.start.hour == 9 and r.window.end.hour == 11
    heap = next(e for e in r.evidence if e.name == "jvm.heap_used").data["series"][0]["summary"]
    assert heap["span_s"] == 2 * 3600
