"""Traces from OTLP JSON files: spans from the real OpenTelemetry SDK (tests/otel_scenario.py).

The scenario (see its docstring): ``orders`` calls ledger-service, whose query turns
slow at 11:02 (about 40 ms → 1.9 s), and payment-gateway, which fails about a third of
the calls from 11:20, with retries. The assertions derive from those settings.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

import ctxgrab
from ctxgrab.analysis.traces import KIND_CLIENT, KIND_SERVER, Span, normalize_id, spans_from_otlp, summarize
from ctxgrab.collectors.traces import read_otlp_files
from ctxgrab.config import config_from_dict
from ctxgrab.errors import ConfigError
from ctxgrab.render.budget import count_tokens

import otel_scenario

SC = otel_scenario.Scenario()
WINDOW = ("2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z")
REPO = Path(__file__).resolve().parents[1]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def assert_scenario_facts(data: dict) -> None:
    """The facts every input (files, Jaeger, Tempo) must give for the SDK scenario."""
    h = data["headline"]
    slow = h["slow"]
    assert slow["name"] == "ledger-service" and slow["operation"] == "GET /balance"
    assert slow["critical_share"] >= 0.8  # the 1.9 s query dwarfs everything else on the slow traces
    assert slow["critical_top"]["service"] == "ledger-service"
    assert slow["critical_top"]["operation"] == "SELECT ledger_entries"
    assert slow["onset_by"] == "latency" and abs(_ts(slow["onset"]) - SC.slow_at.timestamp()) < 120
    assert slow["before"]["p99_ms"] < 120 and slow["since"]["p99_ms"] > 1500
    failing = h["failing"]
    assert failing["name"] == "payment-gateway" and failing["operation"] == "POST /authorize"
    assert failing["onset_by"] == "errors" and abs(_ts(failing["onset"]) - SC.fail_at.timestamp()) < 120
    assert failing["before"]["error_ratio"] == 0
    assert 0.22 <= failing["since"]["error_ratio"] <= 0.45  # fail_share 0.33 over a few hundred calls
    retry = h["retry"]
    assert retry["dependency"] == "payment-gateway" and retry["max_attempts"] == 3 and retry["after_error"] >= 50
    top_error = data["errors"][0]
    assert top_error["exception_type"].endswith("GatewayUnavailableError")
    assert top_error["dependency"] == "payment-gateway" and top_error["http_status"] == "503"
    assert "Traceback" in top_error["example"] and "upstream connect error" in top_error["example"]


@pytest.fixture(scope="module")
def otlp() -> list[dict]:
    return otel_scenario.otlp_requests(otel_scenario.run(SC))


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory, otlp: list[dict]) -> Path:
    """A rotated set as the Collector's file exporter leaves it: older part gzipped."""
    d = tmp_path_factory.mktemp("otel")
    lines = [json.dumps(r, separators=(",", ":")) + "\n" for r in otlp]
    half = len(lines) // 2
    with gzip.open(d / "traces.json.1.gz", "wt") as f:
        f.writelines(lines[:half])
    (d / "traces.json").write_text("".join(lines[half:]))
    return d


def _config(trace_dir: Path, **entry) -> Path:
    data = {"defaults": {"at": WINDOW[1], "since": "1h"},
            "services": {"orders": {"traces": [entry or {"path": "traces.json"}]}}}
    path = trace_dir / "ctxgrab.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_sdk_writes_the_otlp_json_wire_format(otlp: list[dict]) -> None:
    sp = otlp[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(sp["traceId"]) == 32 and len(sp["spanId"]) == 16 and int(sp["traceId"], 16)
    assert isinstance(sp["kind"], int) and isinstance(sp["startTimeUnixNano"], str)


def test_files_give_the_scenario_facts(trace_dir: Path) -> None:
    from ctxgrab.collectors.traces import summarize_files
    from ctxgrab.logread import expand_paths
    from ctxgrab.timeutil import Window, parse_time

    w = Window(parse_time(WINDOW[0]), parse_time(WINDOW[1]))
    paths = expand_paths(str(trace_dir / "traces.json"))
    assert [p.name for p in paths] == ["traces.json.1.gz", "traces.json"]
    data = summarize_files(paths, "orders", w, w.before(), 1_000_000, None)
    assert_scenario_facts(data)
    assert data["sampling"]["traces_in_window"] > 500 and data["sampling"]["traces_in_baseline"] > 500
    assert data["read"]["bad_lines"] == 0 and data["read"]["partial"] is None
    ops = {o["name"]: o for o in data["operations"]}
    assert ops["POST /orders"]["baseline"]["p99_ms"] < 300 < ops["POST /orders"]["p99_ms"]


def test_incident_prompt_names_the_dependencies_onsets_and_retries(trace_dir: Path) -> None:
    result = ctxgrab.incident("orders", config=_config(trace_dir))
    names = [s["name"] for s in result.signals]
    assert "downstream_latency" in names and "downstream_errors" in names
    assert result.kind == "error_spike"  # the failing dependency explains the errors; latency is secondary
    md = result.markdown
    what = md.split("## What is happening", 1)[1].split("\n## ", 1)[0]
    assert "ledger-service GET /balance" in what and "SELECT ledger_entries" in what and "since 11:02" in what
    assert "payment-gateway POST /authorize fails" in what and "since 11:20" in what and "retried" in what
    section = md.split("### Traces (traces.json)", 1)[1].split("\n## ", 1)[0]
    assert "**Retries:**" in section and "GatewayUnavailableError" in section and "```text" in section
    ev = next(e for e in result.evidence if e.kind == "traces")
    assert_scenario_facts(ev.data)


def test_traces_section_fits_its_share_and_trimming_keeps_the_headline(trace_dir: Path) -> None:
    from ctxgrab.commands.traces import render_markdown

    result = ctxgrab.incident("orders", config=_config(trace_dir))
    ev = next(e for e in result.evidence if e.kind == "traces")
    assert count_tokens(render_markdown(ev.data)) <= 800  # a few hundred tokens, stack example included (734)
    full = count_tokens(result.markdown)
    small = ctxgrab.incident("orders", config=_config(trace_dir), budget=full // 2)
    assert count_tokens(small.markdown) <= full // 2
    assert "of the slowest traces' time is in ledger-service" in small.markdown
    assert small.trimmed
    tiny = ctxgrab.incident("orders", config=_config(trace_dir), budget=400)
    assert "downstream_errors" in tiny.markdown and "payment-gateway" in tiny.markdown


def test_cli_markdown_and_json(trace_dir: Path) -> None:
    cmd = [sys.executable, "-m", "ctxgrab.cli", "traces", str(trace_dir / "traces.json"), "--from", WINDOW[0],
           "--to", WINDOW[1], "--service", "orders"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("## Traces") and "**Time:** " in r.stdout and "since 11:02 UTC" in r.stdout
    r = subprocess.run(cmd + ["--format", "json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_scenario_facts(json.loads(r.stdout))


def test_cli_without_spans_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'not json\n{"resourceSpans": 7}\n[1,2]\n\x00\xff\n')
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "traces", str(bad)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no spans found" in r.stderr and "not JSON" in r.stderr
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "traces", str(tmp_path / "nope*.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no trace file matches" in r.stderr


def test_hostile_files_are_read_around(tmp_path: Path, otlp: list[dict]) -> None:
    good = json.dumps(otlp[0])
    span = dict(otlp[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0], startTimeUnixNano="soon")
    broken = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span, {"name": "no ids"}]}]}]}
    f = tmp_path / "t.json.gz"
    raw = gzip.compress((good + "\n" + json.dumps(broken) + "\n{\"resourceSpans\":[\n" + good + "\n").encode())
    f.write_bytes(raw[:-10])  # truncated .gz: keep what was read
    spans, stats, partial = read_otlp_files([f])
    n_good = sum(len(ss["spans"]) for rs in otlp[0]["resourceSpans"] for ss in rs["scopeSpans"])
    assert len(spans) >= n_good and stats.bad_spans == 2 and stats.bad_lines >= 1
    assert any("stopped reading" in p for p in stats.problems) or stats.lines == 4
    capped, _, partial = read_otlp_files([f], max_spans=10)
    assert len(capped) >= 10 and "max_spans" in partial["reason"]


def test_ids_in_hex_or_base64_are_the_same_ids() -> None:
    assert normalize_id("S/kvNXezTaajzpKdDg5HNg==", 16) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert normalize_id("4BF92F3577B34DA6A3CE929D0E0E4736", 16) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert normalize_id("00f067aa0ba902b7", 8) == "00f067aa0ba902b7"
    assert normalize_id("a3ce929d0e0e4736", 16) == "0000000000000000a3ce929d0e0e4736"  # 64-bit Jaeger id


def _sp(sid: str, parent: str, svc: str, name: str, kind: int, start_ms: float, end_ms: float, **kw) -> Span:
    return Span.make("t1", sid, parent, svc, name, kind, int(start_ms * 1e6), int(end_ms * 1e6), **kw)


def test_critical_path_counts_self_time_along_the_last_finishing_children() -> None:
    # root 0-100: A (client, 10-40) and B (client, 30-90, overlapping A); B's server 32-88 with a query 35-85.
    spans = [
        _sp("r", "", "api", "GET /x", KIND_SERVER, 0, 100),
        _sp("a", "r", "api", "call a", KIND_CLIENT, 10, 40, dep="svc-a"),
        _sp("b", "r", "api", "call b", KIND_CLIENT, 30, 90, dep="svc-b"),
        _sp("bs", "b", "svc-b", "GET /b", KIND_SERVER, 32, 88),
        _sp("q", "bs", "svc-b", "SELECT", KIND_CLIENT, 35, 85, dep="postgresql"),
    ]
    data = summarize(spans, service="api")
    cp = {(c["service"], c["operation"]): c["ms"] for c in data["critical_path"]["top"]}
    # path: root 90-100 (10) ← b 88-90 (2) ← bs 85-88 (3) ← q 35-85 (50) ← bs 32-35 (3) ← b 30-32 (2) ← a 10-30
    # (A counts only until B started: 20) ← root 0-10 (10).
    assert cp == {("svc-b", "SELECT"): 50.0, ("api", "GET /x"): 20.0, ("api", "call a"): 20.0,
                  ("svc-b", "GET /b"): 6.0, ("api", "call b"): 4.0}
    deps = {d["name"]: d for d in data["dependencies"]}
    assert deps["svc-b"]["critical_share"] == 0.6  # 60 of 100 ms is under the call to svc-b
    assert deps["svc-a"]["critical_share"] == 0.2


def test_retries_fanout_and_call_graph_change() -> None:
    base, win = [], []
    for i in range(10):
        t = i * 1000.0
        base += [Span.make(f"b{i}", "r", "", "api", "GET /x", KIND_SERVER, int(t * 1e6), int((t + 50) * 1e6)),
                 Span.make(f"b{i}", "c", "r", "api", "old call", KIND_CLIENT, int((t + 1) * 1e6), int((t + 5) * 1e6),
                           dep="legacy")]
        t += 100_000
        win.append(Span.make(f"w{i}", "r", "", "api", "GET /x", KIND_SERVER, int(t * 1e6), int((t + 90) * 1e6)))
        n = 40 if i == 3 else 2
        for k in range(n):  # a failed attempt then a retry; one request fans out to 40 calls
            win.append(Span.make(f"w{i}", f"c{k}", "r", "api", "POST /pay", KIND_CLIENT, int((t + 1 + 2 * k) * 1e6),
                                 int((t + 2 + 2 * k) * 1e6), dep="gateway", error=(k == 0)))
    data = summarize(base + win, service="api", window=(int(99_000e6), int(200_000e6)), baseline=(0, int(99_000e6)))
    assert data["paths"]["new"][0]["path"] == "api: POST /pay"
    assert data["paths"]["vanished"][0]["path"] == "api: old call"
    r = data["retries"][0]
    assert (r["dependency"], r["after_error"], r["parents_after_error"], r["max_attempts"]) == ("gateway", 10, 10, 40)
    f = data["fanout"][0]
    assert f["max_children"] == 40 and f["typical_children"] == 2 and f["trace_id"] == "w3"


def test_error_groups_mask_variable_parts_and_keep_one_example() -> None:
    spans = [Span.make(f"t{i}", "s", "", "api", "GET /x", KIND_SERVER, i * 10**9, i * 10**9 + 5, error=True,
                       message=f"order {1000 + i} failed", exc_type="ValueError",
                       exc_text=f"ValueError: order {1000 + i} failed\n  at x") for i in range(6)]
    data = summarize(spans, service="api")
    assert len(data["errors"]) == 1 and data["errors"][0]["count"] == 6
    assert data["errors"][0]["status_message"] == "order <num> failed"
    assert data["errors"][0]["example"].startswith("ValueError: order 1000 failed")


def test_output_is_bounded_and_says_what_it_left_out() -> None:
    spans = []
    for i in range(200):
        t = i * 10**9
        spans.append(Span.make(f"t{i}", "r", "", "api", f"GET /op{i % 20}", KIND_SERVER, t, t + 10**8))
        for k in range(12):
            spans.append(Span.make(f"t{i}", f"c{k}", "r", "api", f"call {k}", KIND_CLIENT, t + k, t + 10**7,
                                   dep=f"dep{k}", error=(i % 3 == 0), message=f"boom kind {k}", exc_type=f"E{k}"))
    data = summarize(spans, service="api")
    assert len(data["operations"]) == 5 and data["omitted"]["operations"] == 15
    assert len(data["dependencies"]) == 5 and data["omitted"]["dependencies"] == 7
    assert len(data["errors"]) == 3 and data["omitted"]["errors"] == 9
    from ctxgrab.commands.traces import render_markdown

    md = render_markdown(data)
    assert "Left out: 15 more operations, 7 more dependencies, 9 more errors" in md
    assert count_tokens(md) < 900


def test_config_rejects_unclear_trace_entries(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"traces\[0\]: give exactly one of `path`"):
        config_from_dict({"services": {"s": {"traces": [{"path": "a", "source": "j"}]}}}, tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match=r"traces\[0\]\.source: no source of type jaeger or tempo named 'loki'"):
        config_from_dict({"sources": {"loki": {"type": "loki", "url": "http://x"}},
                          "services": {"s": {"traces": [{"source": "loki"}]}}}, tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"services": {"s": {"traces": [{"path": "a", "sample": 3}]}}}, tmp_path / "c.yaml")
    cfg = config_from_dict({"sources": {"j": {"type": "jaeger", "url": "http://j:16686"},
                                        "t": {"type": "tempo", "url": "http://t:3200", "org_id": "a"}},
                            "services": {"s": {"traces": [{"source": "j"}, {"source": "t", "query": "{}"}]}}})
    assert [e.source for e in cfg.services["s"].traces] == ["j", "t"]


def test_otlp_decoder_reads_enum_names_base64_ids_and_tempo_batches() -> None:
    payload = {"batches": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                            "scopeSpans": [{"spans": [{
                                "traceId": "S/kvNXezTaajzpKdDg5HNg==", "spanId": "APBnqgupArc=", "name": "GET /x",
                                "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 1000, "endTimeUnixNano": "3000",
                                "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
                                "attributes": [{"key": "db.system", "value": {"stringValue": "redis"}}]}]}]}]}
    (s,) = list(spans_from_otlp(payload))
    assert (s.trace, s.sid, s.kind, s.error, s.dep, s.message) == (
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", KIND_CLIENT, True, "redis", "boom")
    assert s.end - s.start == 2000


def _traces_ev(headline: dict, service: str = "api"):  # noqa: ANN202
    from ctxgrab.evidence import Evidence

    return Evidence(kind="traces", name="t", title="Traces", data={"service": service, "headline": headline})


def _dep(**kw) -> dict:
    d = {"name": "ledger", "operation": "GET /b", "calls": 100, "errors": 0, "error_ratio": 0.0, "p99_ms": 900.0,
         "baseline": {"calls": 100, "errors": 0, "error_ratio": 0.0, "p99_ms": 40.0}, "critical_share": 0.8,
         "critical_top": None, "remote_share": None, "onset": None, "onset_by": None, "before": None, "since": None}
    return d | kw


def test_downstream_signals_fire_on_the_numbers_and_choose_the_existing_kinds() -> None:
    from ctxgrab import signals

    sig = signals.derive([_traces_ev({"slow": _dep(), "failing": None, "retry": None})])
    assert [s["name"] for s in sig] == ["downstream_latency"]
    assert sig[0]["summary"] == ("80% of the slowest traces' time is in ledger GET /b, p99 40 ms → 900 ms "
                                 "vs the baseline window")
    assert signals.choose_kind(sig) == ("latency", ["downstream_latency"])
    failing = _dep(errors=30, error_ratio=0.3, onset="2026-03-02T11:20:05Z", onset_by="errors",
                   before={"calls": 50, "errors": 0, "error_ratio": 0.0, "p99_ms": 40.0},
                   since={"calls": 50, "errors": 30, "error_ratio": 0.6, "p99_ms": 40.0})
    retry = {"dependency": "ledger", "operation": "GET /b", "after_error": 12}
    sig = signals.derive([_traces_ev({"slow": None, "failing": failing, "retry": retry})])
    assert sig[0]["summary"] == "ledger GET /b fails 60.0% of calls since 11:20 UTC vs 0.0% before, 12 retried"
    assert signals.choose_kind(sig) == ("error_spike", ["downstream_errors"])


def test_downstream_latency_does_not_blame_a_downstream_that_answers_fast() -> None:
    from ctxgrab import signals

    # 80% of the slow traces' time is under the calls, but ledger's own spans hold 5%: the caller waits.
    assert signals.derive([_traces_ev({"slow": _dep(remote_share=0.05), "failing": None, "retry": None})]) == []
    assert signals.derive([_traces_ev({"slow": _dep(p99_ms=60.0), "failing": None, "retry": None})]) == []
    ok = signals.derive([_traces_ev({"slow": _dep(remote_share=0.7), "failing": None, "retry": None})])
    assert ok and ok[0]["name"] == "downstream_latency"


def test_cycles_duplicates_and_skew_are_survived() -> None:
    spans = [_sp("a", "c", "api", "A", KIND_SERVER, 0, 100), _sp("b", "a", "api", "B", KIND_CLIENT, 10, 90, dep="x"),
             _sp("c", "b", "x", "C", KIND_SERVER, -5, 120)]  # a cycle a→b→c→a, and c outside its parent
    spans += [_sp("b", "a", "api", "B", KIND_CLIENT, 10, 90, dep="x")]  # exported twice
    spans += [_sp(f"f{i}", "a", "api", "F", KIND_CLIENT, 1, 2, dep="y") for i in range(30)]
    spans += [_sp("g", "f0", "api", "G", KIND_CLIENT, 1, 2, dep="y"), _sp("f0", "g", "api", "G", KIND_CLIENT, 1, 2)]
    data = summarize(spans, service="api")
    assert data["sampling"]["duplicate_spans"] == 2
    assert data["critical_path"]["total_ms"] <= 125
    assert {d["name"]: d["calls"] for d in data["dependencies"]}["x"] == 1


def test_exception_text_in_spans_is_redacted_in_the_prompt(tmp_path: Path, otlp: list[dict]) -> None:
    import copy

    req = copy.deepcopy(otlp[-1])
    spans = [sp for rs in req["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    victim = spans[0]
    victim["status"] = {"code": 2, "message": "login failed"}
    victim["events"] = [{"name": "exception", "timeUnixNano": victim["endTimeUnixNano"], "attributes": [
        {"key": "exception.type", "value": {"stringValue": "AuthError"}},
        {"key": "exception.message", "value": {"stringValue": "bad token Authorization: Bearer "
                                                              "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2ln"}},
        {"key": "exception.stacktrace", "value": {"stringValue": "AuthError: bad token\n  at auth.check()"}}]}]
    f = tmp_path / "t.json"
    f.write_text(json.dumps(req) + "\n")
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "traces", str(f), "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "eyJhbGciOiJIUzI1NiJ9" not in r.stdout and "[REDACTED:" in r.stdout


def test_brief_detail_shows_the_traces_verdict(trace_dir: Path) -> None:
    from ctxgrab.render import environment

    result = ctxgrab.incident("orders", config=_config(trace_dir))
    ev = next(e for e in result.evidence if e.kind == "traces")
    line = environment().get_template("sections/_brief.md.j2").render(ev=ev)
    assert line.startswith("- Traces (traces.json): `")
    assert "of the slowest traces' time is in ledger-service GET /balance" in line
    assert "payment-gateway POST /authorize fails" in line and "retries" in line


def test_dependencies_are_the_focus_services_calls_even_when_it_is_not_the_root() -> None:
    # gateway (root, client call into payments) → payments server → payments calls ledger (no peer attributes)
    spans = [_sp("g", "", "gateway", "GET /pay", KIND_SERVER, 0, 100),
             _sp("gc", "g", "gateway", "POST /charge", KIND_CLIENT, 5, 95, dep="payments"),
             _sp("p", "gc", "payments", "POST /charge", KIND_SERVER, 6, 94),
             _sp("pl", "p", "payments", "ledger call", KIND_CLIENT, 10, 90)]
    data = summarize(spans, service="payments")
    (d,) = data["dependencies"]
    assert (d["name"], d["operation"], d["critical_share"]) == ("ledger call", "ledger call", 0.8)
    assert d["remote_share"] is None  # ledger is not instrumented: no spans of it below the call


def test_reading_stops_at_the_deadline_with_a_partial_result(tmp_path: Path, otlp: list[dict]) -> None:
    import time as _time

    f = tmp_path / "many.json"
    line = json.dumps(otlp[0]) + "\n"
    f.write_text(line * 600)
    spans, stats, partial = read_otlp_files([f], deadline=_time.monotonic() - 1)
    assert stats.lines == 256 and "stopped at the deadline after 256 lines" in partial["reason"]
