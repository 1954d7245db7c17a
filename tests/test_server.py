"""ctxgrab serve: signatures, the webhook endpoint, the queue, the worker and the PagerDuty client.

PagerDuty cannot run here: the REST API is ``tests/fake_pagerduty.py``, a fake on loopback.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from starlette.testclient import TestClient

from ctxgrab.errors import ConfigError
from ctxgrab.server import JobQueue, JobSpec, ServerConfig, create_app, load_server_config
from ctxgrab.server.config import BreakerPolicy, RetryPolicy
from ctxgrab.server.metrics import Metrics
from ctxgrab.server.notes import MARKER, format_note, prompt_signature, upsert_note
from ctxgrab.server.pagerduty import PagerDutyClient, PagerDutyError, RetryLater
from ctxgrab.server.resilience import CircuitBreaker, CircuitOpenError, parse_retry_after_s
from ctxgrab.server.signature import sign, signature_header, verify
from ctxgrab.server.worker import Worker
from fake_pagerduty import FakePagerDuty, annotated_event, delivery_headers, incident_event, ping_event

SECRET = "whsec-current"
TOKEN = "pd-test-token"
BOT = "ctxgrab-bot@example.com"


def _cfg(pd_url: str | None = None, **kw) -> ServerConfig:
    base = dict(
        webhook_secrets=[SECRET],
        api_token=TOKEN if pd_url else None,
        from_email=BOT,
        api_base_url=pd_url or "https://api.pagerduty.com",
        services={"PSVC9KX": "payments"},
        public_base_url="https://ctxgrab.example.com",
        prompt_token="prompt-token-1",
        note_max_chars=1000,
        retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05),
        job_retry_base_s=0.05,
    )
    base.update(kw)
    return ServerConfig(**base)


def _post(client: TestClient, payload, *, secrets=(SECRET,), webhook_id="wh-1", raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post("/webhooks/pagerduty", content=body, headers=delivery_headers(body, list(secrets), webhook_id))


async def _prompt(service: str, at: datetime) -> str:
    return f"# Incident: {service}\n\nat {at.isoformat()}\n" + "- evidence line\n" * 200


def _wait_until(predicate, timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- signatures -----------------------------------------------------------------------------------
def test_signature_accepts_any_matching_secret_and_entry_during_rotation():
    body = '{"event":{"data":{"title":"Zahlungsfehler ü → ✓"}}}'.encode()
    header = f"v1={sign(body, 'old')}, v1={sign(body, 'new')}"
    assert verify(body, header, ["new"])
    assert verify(body, header, ["old", "unrelated"])
    assert verify(body, "v1=" + sign(body, "new").upper(), ["new"])  # hex case does not matter
    assert not verify(body, header, ["other"])
    assert not verify(body + b" ", header, ["new"])  # any change to the raw bytes breaks it
    assert not verify(body, None, ["new"]) and not verify(body, "", ["new"])
    assert not verify(body, "v0=" + sign(body, "new"), ["new"])  # only v1 is understood
    assert not verify(body, header, [])  # no secret configured: nothing verifies
    assert signature_header(body, ["a", "b"]).count("v1=") == 2


# -- config ---------------------------------------------------------------------------------------
def test_config_expands_env_and_rejects_unknown_keys(tmp_path: Path):
    p = tmp_path / "ctxgrab.yaml"
    p.write_text(
        "server:\n  webhook_secrets: ['${WH_NEW}', '${WH_OLD:-}']\n  api_token: ${PD_KEY}\n"
        "  from_email: bot@example.com\n  services: {PSVC9KX: payments}\n"
    )
    cfg = load_server_config(p, env={"WH_NEW": "n3w", "PD_KEY": "u+S3cretKey"})
    assert cfg.secrets() == ["n3w"]  # the unset rotation slot is dropped, not an empty key
    assert cfg.api_token.get_secret_value() == "u+S3cretKey" and "u+S3cretKey" not in repr(cfg)
    with pytest.raises(ConfigError, match="PD_KEY"):
        load_server_config(p, env={"WH_NEW": "n3w"})
    p.write_text("server:\n  webhook_secret: x\n")
    with pytest.raises(ConfigError, match=r"server\.webhook_secret: unknown key"):
        load_server_config(p, env={})
    p.write_text("sources: {}\n")
    with pytest.raises(ConfigError, match="server: section missing"):
        load_server_config(p, env={})


# -- webhook endpoint -----------------------------------------------------------------------------
def test_webhook_rejects_bad_signature_malformed_and_oversized_bodies(tmp_path: Path, caplog):
    app = create_app(_cfg(max_body_bytes=2048), queue_path=tmp_path / "q.db", build_prompt=_prompt, start_worker=False)
    with TestClient(app) as client:
        ev = incident_event("incident.triggered", "QBAD1")
        r = _post(client, ev, secrets=("wrong",))
        assert r.status_code == 401
        assert "REJECTED PagerDuty webhook" in caplog.text and "disables a subscription" in caplog.text
        body = json.dumps(ev).encode()
        r = client.post("/webhooks/pagerduty", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 401  # no signature at all
        assert _post(client, None, raw=b'{"event": {"event_type": ', webhook_id="wh-2").status_code == 400
        assert _post(client, None, raw=b"\xff\xfe", webhook_id="wh-3").status_code == 400
        assert _post(client, {"no": "event"}, webhook_id="wh-4").status_code == 400
        assert _post(client, None, raw=b"x" * 5000, webhook_id="wh-5").status_code == 413
        metrics = client.get("/metrics").text
    q = JobQueue(tmp_path / "q.db")
    assert q.jobs() == [] and q.get("QBAD1") is None
    assert 'ctxgrab_webhooks_rejected_total{reason="signature"} 2' in metrics
    assert 'ctxgrab_webhooks_rejected_total{reason="malformed"} 3' in metrics
    assert 'ctxgrab_webhooks_rejected_total{reason="too_large"} 1' in metrics


def test_webhook_queues_triggers_dedupes_and_ignores_what_it_does_not_act_on(tmp_path: Path):
    app = create_app(_cfg(bot_user_id="PBOT1"), queue_path=tmp_path / "q.db", build_prompt=_prompt, start_worker=False)
    with TestClient(app) as client:
        trig = incident_event("incident.triggered", "Q1", created_at="2026-03-04T10:15:02+01:00")
        r = _post(client, trig, webhook_id="wh-a")
        assert r.status_code == 202 and r.json() == {"status": "queued", "incident": "Q1"}
        assert _post(client, trig, webhook_id="wh-a").json()["status"] == "duplicate"  # PagerDuty retry
        other = incident_event("incident.reopened", "Q1")
        assert _post(client, other, webhook_id="wh-b").json()["status"] == "coalesced"
        cases = {
            "wh-c": ping_event(),
            "wh-d": incident_event("incident.acknowledged", "Q1"),
            "wh-e": incident_event("incident.triggered", "Q2", service_id="PUNMAPPED"),
            "wh-f": annotated_event("Q1", f"{MARKER} Incident context from ctxgrab …"),
            "wh-g": incident_event("incident.triggered", "Q3", agent={"id": "PBOT1", "type": "user_reference"}),
            "wh-h": {"event": {"event_type": "incident.some_future_type", "data": {}}},
        }
        reasons = {}
        for wid, ev in cases.items():
            r = _post(client, ev, webhook_id=wid)
            assert r.status_code == 202, wid
            assert r.json()["status"] == "ignored", wid
            reasons[wid] = r.json()["reason"]
    assert "not mapped" in reasons["wh-e"] and "own note" in reasons["wh-f"] and "API user" in reasons["wh-g"]
    jobs = JobQueue(tmp_path / "q.db").jobs()
    assert [(j.incident_id, j.service, j.at, j.state) for j in jobs] == [
        ("Q1", "payments", "2026-03-04T09:15:02+00:00", "queued")  # creation time, normalised to UTC
    ]


def test_a_signed_body_resent_under_a_new_webhook_id_is_a_duplicate(tmp_path: Path):
    app = create_app(_cfg(), queue_path=tmp_path / "q.db", build_prompt=_prompt, start_worker=False)
    raw = json.dumps(incident_event("incident.triggered", "Q1", event_id="EVT1")).encode()
    with TestClient(app) as client:
        assert _post(client, None, raw=raw, webhook_id="wh-1").json()["status"] == "queued"
        q = JobQueue(tmp_path / "q.db")
        q.claim()
        assert q.complete("Q1", "PN1") == "done"
        # a captured delivery replayed: same signed body, a new X-Webhook-Id (the header is not signed)
        r = _post(client, None, raw=raw, webhook_id="wh-attacker-2")
        assert r.status_code == 202 and r.json()["status"] == "duplicate"
        assert q.get("Q1").state == "done"  # the collection is not run again
        # and without any X-Webhook-Id at all
        r = client.post("/webhooks/pagerduty", content=raw,
                        headers={"X-PagerDuty-Signature": signature_header(raw, [SECRET])})
        assert r.json()["status"] == "duplicate"
        # a new event for the incident (its own id) still reruns it
        other = incident_event("incident.reopened", "Q1", event_id="EVT2")
        assert _post(client, other, webhook_id="wh-3").json()["status"] == "requeued"


def test_health_ready_and_metrics(tmp_path: Path):
    app = create_app(_cfg(), queue_path=tmp_path / "q.db", build_prompt=_prompt)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        _wait_until(lambda: client.get("/readyz").status_code == 200, what="readyz")
        _post(client, incident_event("incident.triggered", "Q1"))
        _wait_until(lambda: 'ctxgrab_jobs{state="done"} 1' in client.get("/metrics").text, what="job done")
        text = client.get("/metrics").text
    for line in ("ctxgrab_webhooks_received_total 1", "ctxgrab_jobs_done_total 1",
                 "ctxgrab_collection_duration_seconds_count 1"):  # the whole line: "… 1" is not "… 10"
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert "# TYPE ctxgrab_collection_duration_seconds histogram" in text


# -- end to end against the fake PagerDuty ---------------------------------------------------------
def test_trigger_then_reopen_leaves_one_updated_note_and_serves_the_prompt(tmp_path: Path):
    builds = []

    async def prompt(service: str, at: datetime) -> str:
        builds.append((service, at.isoformat()))
        return f"# Incident: {service} (build {len(builds)})\n" + "- a line of evidence\n" * 300

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.add_human_note("Q1", "looking into it")
        app = create_app(_cfg(pd.url), queue_path=tmp_path / "q.db", build_prompt=prompt)
        with TestClient(app) as client:
            _post(client, incident_event("incident.triggered", "Q1"), webhook_id="wh-1")
            _wait_until(lambda: len(pd.ctxgrab_notes("Q1")) == 1, what="first note")
            first = pd.ctxgrab_notes("Q1")[0]
            _wait_until(lambda: JobQueue(tmp_path / "q.db").get("Q1").state == "done", what="job done")
            _post(client, incident_event("incident.reopened", "Q1"), webhook_id="wh-2")
            _wait_until(lambda: "build 2" in pd.ctxgrab_notes("Q1")[0]["content"], what="note update")
            notes = pd.ctxgrab_notes("Q1")
            sig = prompt_signature("Q1", "prompt-token-1")
            full = client.get(f"/incidents/Q1/prompt?sig={sig}")
            by_token = client.get("/incidents/Q1/prompt", headers={"Authorization": "Bearer prompt-token-1"})
            assert client.get("/incidents/Q1/prompt").status_code == 401
            assert client.get(f"/incidents/Q1/prompt?sig={prompt_signature('Q2', 'prompt-token-1')}").status_code == 401
            assert client.get("/incidents/Q9/prompt", headers={"Authorization": "Bearer prompt-token-1"}).status_code == 404
    assert builds == [("payments", "2026-03-04T09:15:02+00:00")] * 2
    assert len(notes) == 1 and notes[0]["id"] == first["id"]
    assert len(pd.notes["Q1"]) == 2  # the human note is untouched
    content = notes[0]["content"]
    assert len(content) <= 1000 and content.startswith(MARKER)
    assert f"https://ctxgrab.example.com/incidents/Q1/prompt?sig={sig}" in content and "cut here" in content
    assert full.status_code == 200 and full.text.startswith("# Incident: payments (build 2)")
    assert full.headers["content-type"].startswith("text/markdown") and by_token.text == full.text
    posts, puts = pd.requests_to("POST", "/notes"), pd.requests_to("PUT", "/notes/")
    assert len(posts) == 1 and len(puts) == 1
    for r in posts + puts:
        assert r.headers["Authorization"] == f"Token token={TOKEN}"
        assert r.headers["From"] == BOT
        assert r.headers["Accept"] == "application/vnd.pagerduty+json;version=2"
        assert r.body == {"note": {"content": r.body["note"]["content"]}}


def test_note_found_by_marker_after_a_crash_is_updated_not_duplicated():
    async def main(pd: FakePagerDuty) -> list[str]:
        async with PagerDutyClient(TOKEN, BOT, pd.url) as client:
            actions = [(await upsert_note(client, "Q1", f"{MARKER} v1")).action]
            # the process died after the POST, before the job was marked done: the rerun finds the note
            actions.append((await upsert_note(client, "Q1", f"{MARKER} v2")).action)
            actions.append((await upsert_note(client, "Q1", f"{MARKER} v2")).action)
            return actions

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        assert anyio.run(main, pd) == ["created", "updated", "unchanged"]
        assert [n["content"] for n in pd.ctxgrab_notes("Q1")] == [f"{MARKER} v2"]


def test_without_note_edit_the_existing_note_is_kept_and_extra_notes_are_removed():
    async def main(pd: FakePagerDuty) -> list[str]:
        async with PagerDutyClient(TOKEN, BOT, pd.url) as client:
            first = await upsert_note(client, "Q1", f"{MARKER} v1")
            second = await upsert_note(client, "Q1", f"{MARKER} v2")
            return [first.action, second.action]

    with FakePagerDuty(token=TOKEN, users=(BOT,), supports_note_edit=False) as pd:
        pd.add_incident("Q1")
        assert anyio.run(main, pd) == ["created", "kept"]
        assert [n["content"] for n in pd.ctxgrab_notes("Q1")] == [f"{MARKER} v1"]

    async def dedupe(pd: FakePagerDuty):
        async with PagerDutyClient(TOKEN, BOT, pd.url) as client:
            return await upsert_note(client, "Q1", f"{MARKER} new")

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.add_human_note("Q1", f"{MARKER} old copy A")
        pd.add_human_note("Q1", f"{MARKER} old copy B")
        result = anyio.run(dedupe, pd)
        assert result.action == "updated" and result.removed_duplicates == 1
        assert [n["content"] for n in pd.ctxgrab_notes("Q1")] == [f"{MARKER} new"]


def test_a_put_404_because_our_note_was_deleted_writes_a_new_note():
    class DeletedMeanwhile(PagerDutyClient):
        async def update_note(self, incident_id: str, note_id: str, content: str):
            with pd._lock:  # a person deletes ctxgrab's note between our list and our PUT
                pd.notes[incident_id] = [n for n in pd.notes[incident_id] if n["id"] != note_id]
            return await super().update_note(incident_id, note_id, content)

    async def main() -> list[str]:
        async with PagerDutyClient(TOKEN, BOT, pd.url) as c:
            first = await upsert_note(c, "Q1", f"{MARKER} v1")
        async with DeletedMeanwhile(TOKEN, BOT, pd.url) as c:
            second = await upsert_note(c, "Q1", f"{MARKER} v2")
        return [first.action, second.action]

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        assert anyio.run(main) == ["created", "created"]
        assert [n["content"] for n in pd.ctxgrab_notes("Q1")] == [f"{MARKER} v2"]


def test_a_put_405_keeps_the_note():
    async def main() -> str:
        async with PagerDutyClient(TOKEN, BOT, pd.url) as c:
            await upsert_note(c, "Q1", f"{MARKER} v1")
            return (await upsert_note(c, "Q1", f"{MARKER} v2")).action

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.fail_next(1, 405, method="PUT", body={"error": {"message": "Method Not Allowed", "code": 2000}})
        assert anyio.run(main) == "kept"
        assert [n["content"] for n in pd.ctxgrab_notes("Q1")] == [f"{MARKER} v1"]
        assert len(pd.requests_to("POST", "/notes")) == 1


# -- PagerDuty client: retries, Retry-After, breaker -------------------------------------------------
def _client(pd: FakePagerDuty, delays: list[float], **kw) -> PagerDutyClient:
    async def sleep(s: float) -> None:
        delays.append(s)

    kw.setdefault("retry", RetryPolicy(attempts=4, base_delay_s=1.0, max_delay_s=20.0))
    return PagerDutyClient(TOKEN, BOT, pd.url, sleep=sleep, rand=lambda: 0.5, **kw)


def test_client_retries_429_and_5xx_honouring_retry_after_with_jittered_backoff():
    delays: list[float] = []

    async def main(pd: FakePagerDuty):
        async with _client(pd, delays) as c:
            return await c.list_notes("Q1")

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.add_human_note("Q1", "looking")
        pd.fail_next(1, 429, {"Retry-After": "7"}, method="GET")
        pd.fail_next(1, 429, {}, method="GET")  # a 429 without headers: plain backoff
        pd.fail_next(1, 503, method="GET")
        notes = anyio.run(main, pd)
        assert [n["content"] for n in notes] == ["looking"]
        assert len(pd.requests_to("GET", "/notes")) == 4
    # Retry-After 7 s wins over backoff 0.5; then full-jitter backoff 0.5*2**1, 0.5*2**2
    assert delays == [7.0, 1.0, 2.0]


@pytest.mark.parametrize("lose", ["dropped", "timeout", "502"])
def test_client_does_not_resend_a_post_whose_reply_was_lost(lose: str):
    delays: list[float] = []

    async def create(pd: FakePagerDuty):
        async with _client(pd, delays, timeout_s=0.3) as c:
            return await c.create_note("Q1", f"{MARKER} x")

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        if lose == "dropped":
            pd.lose_reply_next(1, method="POST")
        elif lose == "timeout":
            pd.lose_reply_next(1, method="POST", delay_s=1.0)
        else:
            pd.lose_reply_next(1, method="POST", status=502)
        with pytest.raises(PagerDutyError) as e:
            anyio.run(create, pd)
        assert e.value.retryable and "not resent" in str(e.value)
        assert len(pd.requests_to("POST", "/notes")) == 1  # sent once: PagerDuty stored it
        assert len(pd.ctxgrab_notes("Q1")) == 1
        pd.fail_next(1, 429, {}, method="POST")  # a 429 was refused, not stored: resent at once
        assert anyio.run(create, pd)["content"] == f"{MARKER} x"
        assert len(pd.requests_to("POST", "/notes")) == 3
    assert delays == [0.5]


def test_worker_reruns_after_a_lost_post_reply_and_leaves_one_note(tmp_path: Path):
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.lose_reply_next(1, method="POST")  # stored by PagerDuty, the answer never arrives
        cfg = _cfg(pd.url, job_retry_base_s=0.01)
        q = JobQueue(tmp_path / "q.db")
        q.accept("w1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))

        async def main() -> Worker:
            async with PagerDutyClient(TOKEN, BOT, pd.url, retry=RetryPolicy(attempts=3, base_delay_s=0.01)) as c:
                w = _worker(q, cfg, _prompt, c)
                for _ in range(200):
                    if q.get("Q1").state in ("done", "failed"):
                        break
                    await w.run_once()
                    await anyio.sleep(0.01)
                return w

        w = anyio.run(main)
        notes = pd.ctxgrab_notes("Q1")
        posts = pd.requests_to("POST", "/notes")
    job = q.get("Q1")
    assert job.state == "done" and job.note_id == notes[0]["id"]
    assert len(notes) == 1 and len(posts) == 1
    assert w.metrics.get("ctxgrab_jobs_retried_total", cause="pagerduty") == 1
    assert w.metrics.get("ctxgrab_notes_total", action="unchanged") == 1


def test_client_does_not_retry_4xx_and_gives_up_on_long_retry_after():
    delays: list[float] = []

    async def create(pd: FakePagerDuty, client_kw=None):
        async with _client(pd, delays, **(client_kw or {})) as c:
            return await c.create_note("Q1", "x")

    with FakePagerDuty(token="other", users=(BOT,)) as pd:
        pd.add_incident("Q1")
        with pytest.raises(PagerDutyError) as e:
            anyio.run(create, pd)
        assert e.value.status == 401 and not e.value.retryable and len(pd.requests) == 1
    with FakePagerDuty(token=TOKEN, users=("someone-else@example.com",)) as pd:
        pd.add_incident("Q1")
        with pytest.raises(PagerDutyError) as e:
            anyio.run(create, pd)
        assert e.value.status == 400 and e.value.code == 1008
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.fail_next(1, 429, {"ratelimit-reset": "120"})
        with pytest.raises(RetryLater) as e:
            anyio.run(create, pd)
        assert e.value.delay_s == 120.0 and len(pd.requests) == 1
    assert delays == []


def test_circuit_breaker_opens_after_consecutive_failures_and_recovers():
    now = [0.0]
    breaker = CircuitBreaker("pagerduty", failure_threshold=2, reset_after_s=30, clock=lambda: now[0])
    delays: list[float] = []

    async def create(pd: FakePagerDuty):
        async with _client(pd, delays, breaker=breaker, retry=RetryPolicy(attempts=2, base_delay_s=0.1)) as c:
            return await c.get_incident("Q1")  # a GET: retried within the call

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.fail_next(3, 502)
        with pytest.raises(PagerDutyError) as e:
            anyio.run(create, pd)  # both attempts meet a 502: the second failure opens the circuit
        assert e.value.status == 502 and breaker.state == "open"
        with pytest.raises(CircuitOpenError) as e2:
            anyio.run(create, pd)
        assert e2.value.retry_in_s == 30
        assert len(pd.requests) == 2  # open: nothing was sent
        now[0] = 31.0
        assert breaker.state == "half-open"
        with pytest.raises(CircuitOpenError):
            anyio.run(create, pd)  # the one trial call meets the last 502 and re-opens
        now[0] = 62.0
        assert anyio.run(create, pd)["id"] == "Q1"
        assert breaker.state == "closed" and breaker.times_opened == 2


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after_s("12") == 12.0
    assert parse_retry_after_s("Wed, 21 Oct 2015 07:28:30 GMT", now=lambda: 1445412480.0) == 30.0
    assert parse_retry_after_s("soon") is None and parse_retry_after_s(None) is None


def test_retry_after_is_always_finite_and_capped():
    now = lambda: 1445412480.0  # noqa: E731
    assert parse_retry_after_s("inf") is None and parse_retry_after_s("-inf") is None
    assert parse_retry_after_s("nan") is None and parse_retry_after_s("1e400") is None
    assert parse_retry_after_s("999999999999") == 3600.0  # capped at an hour
    assert parse_retry_after_s("Fri, 31 Dec 9999 23:59:59 GMT", now=now) == 3600.0
    assert parse_retry_after_s("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0  # a date in the past: now
    assert parse_retry_after_s("-5") == 0.0


@pytest.mark.parametrize("header", ["inf", "1e12", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_bad_retry_after_never_parks_a_job_for_ever(tmp_path: Path, header: str):
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.fail_next(1, 429, {"Retry-After": header}, method="GET")
        q = JobQueue(tmp_path / "q.db")
        q.accept("w1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))

        async def main() -> None:
            async with PagerDutyClient(TOKEN, BOT, pd.url, retry=RetryPolicy(attempts=3, base_delay_s=0.01)) as c:
                await _worker(q, _cfg(pd.url), _prompt, c).run_once()

        before = time.time()
        anyio.run(main)
    job = q.get("Q1")
    if header == "inf":  # not a number of seconds: ignored, the call's own backoff retried it
        assert job.state == "done" and len(pd.ctxgrab_notes("Q1")) == 1
    else:  # rescheduled, at most about an hour away
        assert job.state == "queued" and "429" in job.last_error
        assert before + 3000 < job.next_run_at < before + 2 * 3600


# -- worker ---------------------------------------------------------------------------------------
def _worker(q: JobQueue, cfg: ServerConfig, builder, pd_client=None) -> Worker:
    return Worker(q, cfg, build_prompt=builder, metrics=Metrics(), pd_client=pd_client, rand=lambda: 1.0)


def test_worker_reschedules_failed_and_slow_collections_and_never_loses_the_job(tmp_path: Path):
    calls = []

    async def flaky(service: str, at: datetime) -> str:
        calls.append(service)
        if len(calls) == 1:
            raise RuntimeError("prometheus config broken")
        if len(calls) == 2:
            await anyio.sleep(5)
        return "# ok"

    cfg = _cfg(collection_timeout_s=0.2, job_retry_base_s=0.01)
    q = JobQueue(tmp_path / "q.db")
    q.accept("w1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))
    w = _worker(q, cfg, flaky)

    async def drive() -> None:
        for _ in range(200):
            job = q.get("Q1")
            if job.state == "done":
                return
            await w.run_once()
            await anyio.sleep(0.01)

    anyio.run(drive)
    job = q.get("Q1")
    assert job.state == "done" and len(calls) == 3
    assert q.get_prompt("Q1") == "# ok"
    assert w.metrics.get("ctxgrab_jobs_retried_total", cause="collection") == 2


def test_worker_marks_permanent_pagerduty_errors_failed(tmp_path: Path):
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:  # incident unknown to PagerDuty → 404
        cfg = _cfg(pd.url)
        q = JobQueue(tmp_path / "q.db")
        q.accept("w1", JobSpec("QGONE", "payments", "2026-03-04T09:15:02+00:00"))

        async def main() -> None:
            async with PagerDutyClient(TOKEN, BOT, pd.url) as c:
                await _worker(q, cfg, _prompt, c).run_once()

        anyio.run(main)
    job = q.get("QGONE")
    assert job.state == "failed" and "404" in job.last_error


def test_worker_waits_out_an_open_pagerduty_circuit(tmp_path: Path):
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.fail_next(10, 503)
        cfg = _cfg(pd.url, breaker=BreakerPolicy(failure_threshold=2, reset_after_s=60))
        q = JobQueue(tmp_path / "q.db")
        q.accept("w1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))

        async def main() -> None:
            breaker = CircuitBreaker("pd", 2, 60)
            async with PagerDutyClient(TOKEN, BOT, pd.url, breaker=breaker,
                                       retry=RetryPolicy(attempts=3, base_delay_s=0.001)) as c:
                await _worker(q, cfg, _prompt, c).run_once()

        anyio.run(main)
        job = q.get("Q1")
        assert job.state == "queued" and "circuit" in job.last_error
        assert job.next_run_at > time.time() + 50  # rescheduled for when the circuit half-opens
        assert len(pd.requests) == 2


def test_waiting_on_an_open_circuit_or_a_rate_limit_uses_no_attempt_and_is_jittered(tmp_path: Path):
    now = [1_000_000.0]
    q = JobQueue(tmp_path / "q.db", clock=lambda: now[0])
    for inc in ("Q1", "Q2"):
        q.accept(f"w-{inc}", JobSpec(inc, "payments", "2026-03-04T09:15:02+00:00"))
    rands = iter([0.0, 1.0] * 50)
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.add_incident("Q2")
        cfg = _cfg(pd.url, job_attempts=2)
        breaker = CircuitBreaker("pd", failure_threshold=1, reset_after_s=60, clock=lambda: 0.0)

        async def main() -> list[float]:
            waits: list[float] = []
            async with PagerDutyClient(TOKEN, BOT, pd.url, breaker=breaker,
                                       retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=1)) as c:
                w = Worker(q, cfg, build_prompt=_prompt, metrics=Metrics(), pd_client=c, rand=lambda: next(rands))
                pd.fail_next(3, 429, {"Retry-After": "120"}, method="GET")  # three long rate-limit waits
                breaker.record_failure()  # then a PagerDuty outage: the circuit is open
                breaker.record_success()
                for i in range(8):  # 8 waits for a job that may fail twice
                    if i == 3:
                        breaker.record_failure()
                    claimed = q.claim()  # the job due first, as run_once would take it
                    assert claimed is not None
                    await w.process(claimed)
                    job = q.get(claimed.incident_id)
                    assert job.state == "queued" and job.attempts == 0, (i, job)
                    waits.append(job.next_run_at - now[0])
                    now[0] += 10_000
                breaker.record_success()  # PagerDuty is back
                while await w.run_once():
                    pass
                assert w.metrics.get("ctxgrab_jobs_retried_total", cause="rate_limited") == 3
                assert w.metrics.get("ctxgrab_jobs_retried_total", cause="circuit_open") == 5
                return waits

        waits = anyio.run(main)
        assert {inc: len(pd.ctxgrab_notes(inc)) for inc in ("Q1", "Q2")} == {"Q1": 1, "Q2": 1}
    assert [q.get(inc).state for inc in ("Q1", "Q2")] == ["done", "done"]
    # jitter: up to half the wait on top, never earlier than asked
    assert waits[:3] == [120.0, 180.0, 120.0]
    assert waits[3:] == [90.0, 60.0, 90.0, 60.0, 90.0]


def test_an_unexpected_error_reschedules_the_job_and_ends_failed(tmp_path: Path, caplog):
    class Broken(PagerDutyClient):
        async def list_notes(self, incident_id: str):
            raise KeyError("id")  # e.g. a note without an id in PagerDuty's answer

    q = JobQueue(tmp_path / "q.db")
    q.accept("w1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))
    cfg = _cfg("http://127.0.0.1:9", job_attempts=3, job_retry_base_s=0.01)

    async def main() -> Worker:
        async with Broken(TOKEN, BOT, "http://127.0.0.1:9") as c:
            w = _worker(q, cfg, _prompt, c)
            for _ in range(300):
                if q.get("Q1").state == "failed":
                    break
                await w.run_once()
                await anyio.sleep(0.005)
            return w

    w = anyio.run(main)
    job = q.get("Q1")
    assert job.state == "failed" and job.attempts == 3 and job.lease_until is None
    assert "unexpected error: KeyError" in job.last_error
    assert w.metrics.get("ctxgrab_jobs_retried_total", cause="error") == 2
    assert w.metrics.get("ctxgrab_jobs_failed_total") == 1
    assert "Traceback" in caplog.text  # the bug is logged with its traceback


# -- queue ----------------------------------------------------------------------------------------
def test_queue_recovers_running_jobs_and_folds_repeated_triggers(tmp_path: Path):
    path = tmp_path / "q.db"
    q = JobQueue(path)
    spec = JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00")
    assert q.accept("w1", spec) == "queued"
    assert q.claim().state == "running"
    assert q.accept("w2", spec) == "coalesced"  # arrives while running: one more run afterwards
    q.close()
    q2 = JobQueue(path)  # a new process after SIGKILL
    assert q2.counts()["running"] == 1 and q2.recover() == 1
    job = q2.claim()
    assert job.incident_id == "Q1" and job.attempts == 2
    assert q2.complete("Q1", "PN1") == "queued"  # the rerun asked for by w2
    q2.claim()
    assert q2.complete("Q1", None) == "done" and q2.get("Q1").note_id == "PN1"
    assert q2.accept("w1", spec) == "duplicate"
    assert q2.accept("w3", spec) == "requeued"
    assert q2.accept(None, None, "ping") == "ignored"


def test_note_is_capped_with_a_pointer_to_the_full_prompt():
    md = "# Incident\n" + "".join(f"line {i}\n" for i in range(3000))
    url = "https://ctx.example/incidents/Q1/prompt?sig=abc"
    text = format_note(md, service="payments", at="2026-03-04T09:15:02+00:00", prompt_url=url, max_chars=800)
    assert len(text) <= 800 and text.count(url) == 2 and f"of {len(md.strip()):,} characters shown" in text
    assert text.splitlines()[-1].startswith("… cut here")
    short = format_note("# small", service="payments", at="t", prompt_url=None, max_chars=800)
    assert short.endswith("# small") and "cut" not in short


# -- docs and CLI ---------------------------------------------------------------------------------
def test_every_server_config_key_is_documented():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "pagerduty.md").read_text(encoding="utf-8")
    keys = []
    for name, field in ServerConfig.model_fields.items():
        sub = field.annotation if isinstance(field.annotation, type) else None
        if sub is not None and issubclass(sub, (RetryPolicy, BreakerPolicy)):
            keys += [f"{name}.{k}" for k in sub.model_fields]
        else:
            keys.append(name)
    missing = [k for k in keys if f"| `{k}` |" not in doc]
    assert missing == [], f"docs/pagerduty.md lacks a row for: {missing}"


def test_serve_command_exits_2_on_a_config_without_a_server_section(tmp_path: Path):
    from typer.testing import CliRunner

    from ctxgrab.cli import app

    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text("services: {}\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "server: section missing" in result.output


def test_a_person_quoting_the_marker_is_not_mistaken_for_ctxgrab():
    async def main(pd: FakePagerDuty):
        async with PagerDutyClient(TOKEN, BOT, pd.url) as client:
            return await upsert_note(client, "Q1", f"{MARKER} mine", bot_user_id=pd.users[BOT])

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1")
        pd.add_human_note("Q1", f"{MARKER} pasted by a person")  # written by PHUMAN1
        assert anyio.run(main, pd).action == "created"
        assert [n["content"] for n in pd.notes["Q1"]] == [f"{MARKER} pasted by a person", f"{MARKER} mine"]


def test_prune_forgets_old_deliveries_and_finished_jobs(tmp_path: Path):
    now = [1_000_000.0]
    q = JobQueue(tmp_path / "q.db", clock=lambda: now[0])
    q.accept("w1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00"))
    q.accept("w2", JobSpec("Q2", "payments", "2026-03-04T09:15:02+00:00"))
    q.claim()
    q.save_prompt("Q1", "payments", "# p")
    q.complete("Q1", "PN1")
    now[0] += 40 * 86400
    assert q.prune() == 4  # 2 delivery ids, Q1's prompt and job; the queued Q2 stays
    assert [j.incident_id for j in q.jobs()] == ["Q2"] and q.get_prompt("Q1") is None
    assert q.accept("w1", JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00")) == "queued"


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
def test_concurrent_deliveries_share_commits_and_each_gets_its_own_outcome(tmp_path: Path, inline: bool):
    from ctxgrab.server.app import _GroupCommit

    q = JobQueue(tmp_path / "q.db")
    batches: list[int] = []
    real = q.accept_many

    def slow_accept_many(items):
        batches.append(len(items))
        time.sleep(0.05)  # a slow disk sync
        return real(items)

    q.accept_many = slow_accept_many  # type: ignore[method-assign]
    commit = _GroupCommit(q, inline=inline)

    async def main() -> dict[str, str]:
        out: dict[str, str] = {}

        async def one(i: int) -> None:
            spec = JobSpec(f"Q{i % 10}", "payments", "2026-03-04T09:15:02+00:00")
            out[f"w{i}"] = await commit.accept(f"w{i % 25}", spec, "queued")

        async with anyio.create_task_group() as tg:
            for i in range(30):
                tg.start_soon(one, i)
        return out

    out = anyio.run(main)
    # 30 deliveries read together share one disk sync (the first one used to commit alone: [1, 29])
    assert batches == [30]
    assert sorted(out.values()).count("duplicate") == 5  # w25..w29 reuse ids w0..w4
    assert sorted(out.values()).count("queued") == 10  # one job per incident
    assert {j.incident_id for j in q.jobs()} == {f"Q{i}" for i in range(10)}


def test_a_cancelled_committing_request_does_not_strand_the_others(tmp_path: Path):
    from ctxgrab.server.app import _GroupCommit

    q = JobQueue(tmp_path / "q.db")
    real = q.accept_many
    started = threading.Event()

    def slow_accept_many(items):
        started.set()
        time.sleep(0.2)  # a slow disk sync
        return real(items)

    q.accept_many = slow_accept_many  # type: ignore[method-assign]
    commit = _GroupCommit(q)
    spec = JobSpec("Q1", "payments", "2026-03-04T09:15:02+00:00")

    async def main() -> dict[str, str]:
        out: dict[str, str] = {}
        first = anyio.CancelScope()

        async def committer() -> None:
            with first:  # the request that commits for everyone; its client goes away
                out["w0"] = await commit.accept("w0", spec, "queued")

        async def waiter(wid: str) -> None:
            out[wid] = await commit.accept(wid, spec, "queued")

        with anyio.fail_after(10):  # before the fix w1 and w2 waited for ever
            async with anyio.create_task_group() as tg:
                tg.start_soon(committer)
                await anyio.to_thread.run_sync(started.wait)  # w0's commit is on the disk now
                tg.start_soon(waiter, "w1")  # these join the next batch, which w0 commits
                tg.start_soon(waiter, "w2")
                await anyio.sleep(0.02)
                first.cancel()
        return out

    out = anyio.run(main)
    assert out.get("w1") == "coalesced" and out.get("w2") == "coalesced"
    assert out.get("w0") in (None, "queued")  # cancelled or not, its delivery is committed
    assert q.accept("w0", spec) == "duplicate"
    assert q.counts()["queued"] == 1


# -- the real pipeline ------------------------------------------------------------------------------
DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo" / "ctxgrab.yaml"


def test_default_builder_runs_the_pipeline_in_a_child_process_and_notes_the_demo_prompt(tmp_path: Path):
    import ctxgrab
    from ctxgrab.server.worker import SubprocessPromptBuilder

    if not DEMO.is_file():
        pytest.fail(f"demo config missing: {DEMO}")
    at = datetime.fromisoformat("2026-03-02T12:00:00+00:00")
    expected = ctxgrab.incident("payments", at=at, config=str(DEMO)).markdown
    builder = SubprocessPromptBuilder(None, str(DEMO), processes=1)
    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        pd.add_incident("Q1", created_at="2026-03-02T12:00:00Z")
        cfg = _cfg(pd.url, note_max_chars=60000)
        q = JobQueue(tmp_path / "q.db")
        q.accept("w1", JobSpec("Q1", "payments", at.isoformat()))

        async def main() -> None:
            async with PagerDutyClient(TOKEN, BOT, pd.url) as c:
                assert await _worker(q, cfg, builder, c).run_once()

        anyio.run(main)
        notes = pd.ctxgrab_notes("Q1")
    assert q.get_prompt("Q1") == expected
    assert len(notes) == 1 and notes[0]["content"].endswith(expected.strip("\n"))


def test_one_file_serves_both_the_server_and_the_pipeline(tmp_path: Path):
    from ctxgrab.server.config import load_pipeline_config

    p = tmp_path / "ctxgrab.yaml"
    p.write_text("services:\n  payments: {description: Card API}\nserver:\n  services: {PSVC9KX: payments}\n")
    assert list(load_pipeline_config(p).services) == ["payments"]
    assert load_server_config(p, env={}).services == {"PSVC9KX": "payments"}


def test_collections_do_not_need_the_server_secrets(tmp_path: Path, monkeypatch):
    from ctxgrab.server.config import load_pipeline_config

    monkeypatch.delenv("PD_KEY_NOT_SET", raising=False)
    p = tmp_path / "ctxgrab.yaml"
    p.write_text("services:\n  payments: {}\nserver:\n  api_token: ${PD_KEY_NOT_SET}\n")
    assert list(load_pipeline_config(p).services) == ["payments"]
    with pytest.raises(ConfigError, match="PD_KEY_NOT_SET"):
        load_server_config(p)
