"""Every fault of a Prometheus source becomes a stated gap or warning in the prompt, in bounded time.

The server here is a fake (``prom_fixtures.FaultServer``): real Prometheus cannot be made
to answer with a proxy's HTML page or a partial-response warning on demand.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

import ctxgrab
from ctxgrab.config import config_from_dict
from ctxgrab.evidence import Status
from ctxgrab.testing import static_collector
from prom_fixtures import FaultServer, fault_server, scenario  # noqa: F401 - pytest fixtures

AT = "2026-03-02T12:00:00Z"
TIMEOUT_S = 1.0


def run(url: str, *, packs: list[str] | None = None, default_timeout_s: float = TIMEOUT_S, **source: Any):
    cfg = config_from_dict({
        "defaults": {"since": "12h", "at": AT, "timeout_s": default_timeout_s, "deadline_s": 10},
        "sources": {"prom": {"type": "prometheus", "url": url, **source}},
        "services": {"payments": {
            "labels": {"service": "payments"},
            "packs": packs or [],
            "metrics": [] if packs else [{"id": "heap_used", "title": "JVM heap used", "unit": "bytes",
                                          "query": "sum(jvm_memory_used_bytes{$selector})"}],
        }},
    })
    started = time.monotonic()
    # Alerts are planned too (the service has labels); these tests count metric requests only.
    result = ctxgrab.incident("payments", config=cfg,
                              collectors={"alerts": static_collector("alerts", status=Status.skipped)})
    elapsed = time.monotonic() - started
    # every fault is answered within the configured timeout (plus start-up), never by hanging
    assert elapsed < min(default_timeout_s, source.get("timeout_s") or default_timeout_s) + 3.0, elapsed
    ev = next(e for e in result.evidence if e.kind == "metrics")
    return ev, result.markdown, elapsed


def gap_line(md: str, title: str = "JVM heap used") -> str:
    lines = [l for l in md.splitlines() if l.startswith(f"- {title}:")]
    assert lines, f"no gap line for {title} in:\n{md}"
    return lines[0]


def test_server_down_is_a_gap(scenario) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ev, md, elapsed = run(f"http://127.0.0.1:{port}")
    assert ev.status is Status.error
    assert "unreachable" in ev.reason and "connection refused" in ev.reason
    assert "connection refused" in gap_line(md)
    assert elapsed < 5


def test_slower_than_the_timeout_is_a_timeout_gap(fault_server: FaultServer) -> None:
    ev, md, elapsed = run(f"{fault_server.url}/slow")
    assert ev.status is Status.timeout
    assert "no answer within" in ev.reason
    assert "timeout" in gap_line(md)
    assert elapsed < TIMEOUT_S + 2.0  # the slow server would take 5 s


def test_per_source_timeout_overrides_the_default(fault_server: FaultServer) -> None:
    ev, md, elapsed = run(f"{fault_server.url}/slow", default_timeout_s=4.0, timeout_s=0.5)
    assert ev.status is Status.timeout and "within 0.5 s" in ev.reason
    assert elapsed < 2.5


def test_http_500_from_a_proxy(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/http500")
    assert ev.status is Status.error
    assert "HTTP 500" in ev.reason and "not a Prometheus reply (text/html)" in ev.reason
    assert "HTTP 500" in gap_line(md)


def test_non_json_reply_from_a_login_page(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/html200")
    assert ev.status is Status.error
    assert "not Prometheus JSON" in ev.reason and "text/html" in ev.reason
    assert "proxy or login page" in gap_line(md)


def test_status_error_names_the_error_type(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/bad_data")
    assert ev.status is Status.error
    assert "bad_data" in ev.reason and "HTTP 400" in ev.reason and "parse error" in ev.reason
    assert "bad_data" in gap_line(md)


def test_server_side_timeout_error_is_a_timeout(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/timeout_error")
    assert ev.status is Status.timeout and "error timeout" in ev.reason
    assert "timeout" in gap_line(md)


def test_warnings_on_a_partial_response_reach_the_prompt(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/warnings")
    assert ev.ok
    assert ev.warnings == ["Prometheus warning: partial response: store eu-1 unreachable"]
    assert "warning: Prometheus warning: partial response: store eu-1 unreachable" in md


def test_empty_result_is_an_empty_gap(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/empty")
    assert ev.status is Status.empty
    assert 'no series in the window for {service="payments"}' in ev.reason
    assert "empty" in gap_line(md)


def test_nan_and_inf_samples_are_left_out_and_counted(fault_server: FaultServer, scenario) -> None:
    ev, md, _ = run(f"{fault_server.url}/nan")
    assert ev.ok
    summary = ev.data["series"][0]["summary"]
    in_window = [v for t, v in scenario.saved["heap_used"] if scenario.end_s - 43200 <= t <= scenario.end_s]
    expected_dropped = sum(1 for i, (t, _) in enumerate(scenario.saved["heap_used"])
                           if scenario.end_s - 43200 <= t <= scenario.end_s and (i % 4 == 0 or i % 9 == 0))
    assert summary["dropped_points"] == expected_dropped == ev.data["dropped_points"]
    assert summary["points"] == len(in_window) - expected_dropped
    assert summary["max"] <= max(in_window)  # no +Inf leaked into the numbers
    assert f"{expected_dropped} NaN/Inf samples" in md


def test_all_nan_is_an_empty_gap(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/all_nan")
    assert ev.status is Status.empty and "NaN/Inf" in ev.reason
    assert "NaN/Inf" in gap_line(md)


def test_auth_headers_tenant_and_prefix(fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ev, _, _ = run(f"{fault_server.url}/auth", bearer_token="s3cret-token", org_id="tenant-a",
                   headers={"X-Extra": "1"})
    assert ev.ok, ev.reason
    path, params, headers = fault_server.requests[-1]
    assert path == "/auth/api/v1/query_range"  # the base URL's path prefix is kept
    assert headers["X-Extra"] == "1"
    assert params["step"] == ["60"] and params["timeout"] == ["1s"]
    bad, md, _ = run(f"{fault_server.url}/auth", bearer_token="wrong")
    assert bad.status is Status.error and "HTTP 401" in bad.reason
    assert "s3cret" not in md and "wrong" not in bad.reason


def test_basic_auth_is_sent(fault_server: FaultServer) -> None:
    run(f"{fault_server.url}/ok", username="grafana", password="pw")
    headers = fault_server.requests[-1][2]
    assert headers["Authorization"].startswith("Basic ")


def test_one_quick_retry_of_a_503(fault_server: FaultServer) -> None:
    ev, _, elapsed = run(f"{fault_server.url}/flaky", default_timeout_s=3)
    assert ev.ok, ev.reason
    assert not ev.warnings and ev.data["series"][0]["summary"].get("baseline_mean")
    # one query for window and baseline together, plus one retry of its 503: our retry, not the library's
    assert fault_server.flaky_seen == 2
    assert elapsed < 2


def test_probe_without_either_naming_falls_back_and_says_so(fault_server: FaultServer) -> None:
    ev, _, _ = run(f"{fault_server.url}/ok", packs=["jvm"])
    assert ev.data["naming"] == "micrometer"
    sent = [params["query"][0] for path, params, _ in fault_server.requests if "query" in params]
    assert sent and all("jvm_memory_type" not in q for q in sent)  # the default (Micrometer) naming's queries
    assert "found neither Micrometer nor OpenTelemetry" in ev.data["naming_note"]
    probes = [p for p, _, _ in fault_server.requests if p.endswith("/api/v1/series")]
    assert len(probes) == 2  # one probe per naming, shared by every metric of the pack


def test_tls_options_reach_the_session() -> None:
    from ctxgrab.collectors.metrics import PromClient
    from ctxgrab.config import SourceConfig

    def verify(**kw: Any) -> Any:
        session, _ = PromClient(SourceConfig(type="prometheus", url="https://prom.example:9090", **kw), 1)._session()
        session.close()
        return session.verify

    assert verify() is True
    assert verify(verify_tls=False) is False
    assert verify(ca_file="/etc/ssl/internal-ca.pem") == "/etc/ssl/internal-ca.pem"


def test_tls_options_reach_the_collection_client(tmp_path) -> None:
    import ssl

    from ctxgrab.collectors.metrics import PromFault, _ssl_context
    from ctxgrab.config import SourceConfig

    def ctx(url: str = "https://prom.example:9090", **kw: Any) -> Any:
        return _ssl_context(SourceConfig(type="prometheus", url=url, **kw))

    strict = ctx()
    assert strict.verify_mode == ssl.CERT_REQUIRED and strict.check_hostname
    lax = ctx(verify_tls=False)
    assert lax.verify_mode == ssl.CERT_NONE and not lax.check_hostname
    assert ctx() is strict  # built once per setting: a context costs ~20 ms of CPU
    with pytest.raises(PromFault, match="cannot read ca_file .*missing.pem"):
        ctx(ca_file=str(tmp_path / "missing.pem"))
    assert ctx("http://prom.example:9090", ca_file=str(tmp_path / "missing.pem")) is strict  # plain HTTP: unused


def test_credentials_never_reach_the_evidence(fault_server: FaultServer) -> None:
    host = fault_server.url.removeprefix("http://")
    ev, md, _ = run(f"http://grafana:hunter2@{host}/http500")
    assert ev.status is Status.error
    assert "hunter2" not in ev.reason and "hunter2" not in (ev.source or "") and "hunter2" not in md


def test_unknown_naming_says_why_it_is_empty(fault_server: FaultServer) -> None:
    # A generous timeout: this is about what the probe found, not about how fast it answers
    # (a probe that does not answer in time is the next test).
    ev, md, _ = run(f"{fault_server.url}/empty", packs=["jvm"], default_timeout_s=5.0)
    assert ev.status is Status.empty
    assert "the probe found neither Micrometer nor OpenTelemetry series" in ev.reason
    assert "found neither" in gap_line(md)


def test_a_probe_without_an_answer_in_time_is_said(fault_server: FaultServer) -> None:
    ev, md, _ = run(f"{fault_server.url}/slow_series", packs=["jvm"])
    assert ev.status is Status.empty
    assert "the naming probe gave no answer in time" in ev.reason
    assert any("default naming's query was used" in w for w in ev.warnings), ev.warnings
