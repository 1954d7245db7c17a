"""The Loki collector against a fake Loki (Loki cannot run here): paging, tenancy, errors, timeouts."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import anyio
import httpx
import pytest

from ctxgrab.collectors import CollectRequest
from ctxgrab.analysis.logpatterns import mine
from ctxgrab.collectors.loki import collect, query_lines, stream_formats, to_record
from ctxgrab.errors import SourceError
from ctxgrab.evidence import Status
from ctxgrab.timeutil import Window

from fake_loki import FakeLoki

UTC = timezone.utc
AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW = Window(AT - timedelta(hours=2), AT)
BASELINE = WINDOW.before()
NS = 1_000_000_000


def ns(t: datetime) -> int:
    return int(t.timestamp()) * NS + t.microsecond * 1000


NPE = (
    "{t} ERROR [http-nio-8080-exec-{n}] com.acme.payments.PaymentService - Payment processing failed for order {o}\n"
    "java.lang.NullPointerException: Cannot invoke \"com.acme.payments.Customer.getWallet()\" because "
    "\"customer\" is null\n"
    "\tat com.acme.payments.PaymentService.process(PaymentService.java:42)\n"
    "\tat com.acme.payments.PaymentController.charge(PaymentController.java:88)"
)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payments_streams() -> list:
    """Two pods of text logs (one multi-line Java trace per entry, joined by the shipper) and a JSON stream."""
    pod_a, pod_b, side = [], [], []
    start = BASELINE.start
    for i in range(0, 4 * 3600, 20):  # baseline and window: steady traffic
        t = start + timedelta(seconds=i, microseconds=123_456)
        pod = pod_a if i % 40 else pod_b
        pod.append((ns(t), f"{_iso(t)} INFO [http-nio-8080-exec-{i % 9}] com.acme.payments.PaymentController - "
                           f"Charged order {100000 + i} amount={i % 500}.25 EUR in {20 + i % 70} ms"))
    for i in range(0, 7200, 90):  # errors only after 10:02, inside the window
        t = WINDOW.start + timedelta(minutes=2, seconds=i)
        pod_b.append((ns(t), NPE.format(t=_iso(t), n=i % 7, o=200000 + i)))
    for i in range(0, 4 * 3600, 600):
        t = start + timedelta(seconds=i + 7)
        side.append((ns(t), json.dumps({"ts": _iso(t), "level": "warn", "logger": "c.a.LedgerClient",
                                        "msg": f"Ledger call slow: {900 + i % 1000} ms"})))
    return [
        ({"app": "payments", "namespace": "prod", "pod": "payments-7d9c-abcde", "level": "info"}, pod_a),
        ({"app": "payments", "namespace": "prod", "pod": "payments-7d9c-fghij"}, pod_b),
        ({"app": "payments", "namespace": "prod", "pod": "payments-7d9c-fghij", "container": "sidecar"}, side),
        ({"app": "checkout", "namespace": "prod", "pod": "checkout-1"}, [(ns(WINDOW.start), "other app")]),
    ]


@pytest.fixture
def loki():
    fake = FakeLoki(streams=payments_streams(), tenant="tenant-a").start()
    try:
        yield fake
    finally:
        fake.stop()


def request_for(fake: FakeLoki, **source) -> CollectRequest:
    src = SimpleNamespace(type="loki", url=fake.url, headers={"X-Team": "payments"}, org_id="tenant-a",
                          timeout_s=5.0, bearer_token=None, username=None, password=None, verify_tls=True,
                          ca_file=None)
    for k, v in source.items():
        setattr(src, k, v)
    config = SimpleNamespace(sources={"loki-prod": src, "prom": SimpleNamespace(type="prometheus", url="http://x")})
    return CollectRequest(service="payments", window=WINDOW, baseline=BASELINE, at=AT, base_dir=Path("."),
                          config=config, timeout_s=5.0)


def run(coro_fn, *args):
    return anyio.run(coro_fn, *args)


def test_collect_mines_window_against_baseline(loki: FakeLoki) -> None:
    ev = run(collect, request_for(loki), {"source": "loki-prod", "query": '{app="payments", namespace="prod"}'})
    assert ev.status is Status.ok, ev.reason
    assert ev.kind == "logs"
    d = ev.data
    first = d["patterns"][0]
    assert first["level"] == "ERROR" and first["new"] is True
    assert first["exception"] == "java.lang.NullPointerException"
    assert first["trace_summary"] == "NullPointerException at PaymentService.process(PaymentService.java:42)"
    assert first["count"] == 79 and first["first_seen"] == "2026-03-02T10:02:00+00:00"
    charged = next(p for p in d["patterns"] if p["template"].startswith("Charged order"))
    assert charged["count"] == 360 and charged["baseline_count"] == 360 and charged["new"] is False
    slow = next(p for p in d["patterns"] if p["template"].startswith("Ledger call slow"))
    assert slow["level"] == "WARN" and slow["count"] == 12
    assert d["lines_in_window"] == 360 + 79 + 12 and d["truncated"] is False
    # every request: explicit ns start/end, backward, a limit Loki accepts, tenant and extra headers
    for r in loki.requests:
        p = r["params"]
        assert p["direction"] == "backward" and int(p["limit"]) <= 5000
        assert p["start"].isdigit() and p["end"].isdigit() and len(p["start"]) == 19
        assert r["headers"]["X-Scope-OrgID"] == "tenant-a" and r["headers"]["X-Team"] == "payments"
    starts = {int(r["params"]["start"]) for r in loki.requests}
    assert starts == {ns(WINDOW.start), ns(BASELINE.start)}


def test_paging_past_the_limit_keeps_lines_sharing_a_timestamp(loki: FakeLoki) -> None:
    t = WINDOW.start + timedelta(minutes=5)
    burst = [(ns(t), f"burst line {i}") for i in range(7)]  # 7 lines, one ns: straddles a page boundary
    loki.streams.append(({"app": "burst", "pod": "b-1"}, [(ns(t) + k * NS, f"tick {k}") for k in range(1, 1000)]
                         + burst))

    async def go():
        async with httpx.AsyncClient(base_url=loki.url, headers={"X-Scope-OrgID": "tenant-a"}) as c:
            return await query_lines(c, '{app="burst"}', WINDOW, page_limit=250)

    entries, pages, truncated = run(go)
    assert len(entries) == 1006 and not truncated
    assert len({(e[0], e[1]) for e in entries}) == 1006
    assert sum(1 for e in entries if e[1].startswith("burst line")) == 7
    assert pages >= 5
    assert [e[0] for e in entries] == sorted((e[0] for e in entries), reverse=True)


def test_max_lines_cap_marks_the_result_truncated(loki: FakeLoki) -> None:
    ev = run(collect, request_for(loki), {"source": "loki-prod", "query": '{app="payments"}', "max_lines": 100})
    assert ev.status is Status.ok and ev.data["truncated"] is True
    assert ev.data["lines_in_window"] == 100
    assert any("max_lines" in w for w in ev.warnings)


def test_missing_tenant_is_reported_with_lokis_own_words(loki: FakeLoki) -> None:
    ev = run(collect, request_for(loki, org_id=None), {"source": "loki-prod", "query": '{app="payments"}'})
    assert ev.status is Status.error and ev.reason == "Loki 400: no org id"


def test_parse_error_text_becomes_the_reason(loki: FakeLoki) -> None:
    ev = run(collect, request_for(loki), {"source": "loki-prod", "query": 'app="payments"'})
    assert ev.status is Status.error
    assert ev.reason.startswith("Loki 400: parse error at line 1, col 1")


def test_loki_504_is_a_timeout(loki: FakeLoki) -> None:
    loki.fail_with = (504, "request timed out, decrease the duration of the request or add more label matchers")
    ev = run(collect, request_for(loki), {"source": "loki-prod", "query": '{app="payments"}'})
    assert ev.status is Status.timeout and "504" in ev.reason


def test_a_query_that_never_answers_times_out_on_our_deadline(loki: FakeLoki) -> None:
    loki.hang = True
    ev = run(collect, request_for(loki, timeout_s=0.3), {"source": "loki-prod", "query": '{app="payments"}'})
    assert ev.status is Status.timeout and "did not answer in time" in ev.reason


def test_rate_limit_is_retried_once(loki: FakeLoki) -> None:
    loki.throttle_first = 1
    ev = run(collect, request_for(loki), {"source": "loki-prod", "query": '{app="payments"}'})
    assert ev.status is Status.ok
    assert len(loki.requests) >= 3  # the throttled one, then the window and the baseline


def test_rate_limit_twice_is_an_error(loki: FakeLoki) -> None:
    loki.throttle_first = 2
    ev = run(collect, request_for(loki), {"source": "loki-prod", "query": '{app="payments"}'})
    assert ev.status is Status.error and ev.reason == "Loki 429: too many outstanding requests"


def test_unreachable_loki() -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = SimpleNamespace(url=f"http://127.0.0.1:{port}")
    ev = run(collect, request_for(fake), {"source": "loki-prod", "query": '{app="payments"}'})  # type: ignore[arg-type]
    assert ev.status is Status.error and ev.reason.startswith("Loki unreachable")


def test_unknown_or_wrong_source_is_named(loki: FakeLoki) -> None:
    ev = run(collect, request_for(loki), {"source": "prom", "query": '{app="payments"}'})
    assert ev.status is Status.error and "'prom'" in ev.reason


def test_categorized_labels_three_tuple_values(loki: FakeLoki) -> None:
    loki.categorize = True

    async def go():
        async with httpx.AsyncClient(base_url=loki.url, headers={"X-Scope-OrgID": "tenant-a"}) as c:
            return await query_lines(c, '{app="payments"}', WINDOW, max_lines=50)

    entries, _, _ = run(go)
    assert entries and all(e[2].get("trace_id") == "abc" for e in entries)


def test_metric_query_result_is_refused(loki: FakeLoki) -> None:
    loki.fail_with = None

    async def go():
        transport = httpx.MockTransport(lambda req: httpx.Response(200, json={
            "status": "success", "data": {"resultType": "matrix", "result": []}}))
        async with httpx.AsyncClient(base_url="http://loki", transport=transport) as c:
            return await query_lines(c, 'sum(rate({app="payments"}[5m]))', WINDOW)

    with pytest.raises(SourceError, match="not log lines"):
        run(go)


def test_to_record_keeps_nanoseconds_to_the_microsecond_and_label_level() -> None:
    rec = to_record(1772445600123456789, "plain line without level", {"detected_level": "warn", "pod": "p-1"})
    assert rec.time == datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)
    assert rec.level == "WARN" and rec.source == "pod=p-1"


def test_loki_lines_go_through_the_file_header_inference() -> None:
    # Spring Boot 3 lines shipped to Loki: the stream's layout is inferred like a file's, so the
    # header (pid, app, thread, logger) is not in the template and the level comes from the line.
    lines = [
        f"2026-03-02T10:0{i}:00.000Z {lvl} 4242 --- [payments] [nio-8080-exec-{i}] c.a.payments.LedgerClient"
        f"        : Ledger call to ledger-{i} failed after {900 + i} ms"
        for i, lvl in enumerate(("WARN", "ERROR", "WARN", "ERROR", "WARN"))
    ]
    entries = [(ns(datetime(2026, 3, 2, 10, i, tzinfo=UTC)), ln, {"pod": "p-1"}) for i, ln in enumerate(lines)]
    fmts = stream_formats(entries)
    recs = [to_record(*e, fmts[(("pod", "p-1"),)]) for e in entries]
    assert [r.level for r in recs] == ["WARN", "ERROR", "WARN", "ERROR", "WARN"]
    assert recs[1].message == "Ledger call to ledger-1 failed after 901 ms"
    assert recs[1].logger == "c.a.payments.LedgerClient"
    res = mine(recs)
    assert [p.template for p in res.patterns] == ["Ledger call to <*> failed after <duration>"]
