"""Load and fault test of ``ctxgrab serve`` as a real process against the fake PagerDuty.

500 deliveries for 100 incidents are sent concurrently: 20 % are re-deliveries
(same ``X-Webhook-Id``), 5 % carry a bad signature, 5 % a malformed body. Midway the
server is killed with SIGKILL while jobs are running, and started again; the sender
retries like PagerDuty does (connection errors and 5xx). Afterwards every valid
incident has exactly one ctxgrab note, nothing sent with a bad signature was acted
on, and no accepted job was lost. Prints p50/p99 acknowledgement latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fake_pagerduty import FakePagerDuty, annotated_event, delivery_headers, incident_event, ping_event

REPO = Path(__file__).resolve().parents[1]
SECRET = "whsec-load-test"
TOKEN = "pd-load-token"
BOT = "ctxgrab-bot@example.com"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(config: Path, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO / "tests"), env.get("PYTHONPATH", "")])
    env.update(LOADTEST_WH_SECRET=SECRET, LOADTEST_PD_TOKEN=TOKEN, FAKE_COLLECT_MS="150", FAKE_PROMPT_CHARS="6000")
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "ctxgrab.server", "--config", str(config), "--port", str(port),
             "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )


def _wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


def _delivery_keys(db: Path) -> set[str]:
    """Every delivery id the server recorded (``X-Webhook-Id`` values and ``event:<event.id>``)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {row[0] for row in conn.execute("SELECT webhook_id FROM deliveries")}
    finally:
        conn.close()


def _job_states(db: Path) -> dict[str, str]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT incident_id, state FROM jobs").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def _deliveries(valid: list[str], bait: list[str], rng: random.Random) -> list[dict]:
    """500 deliveries: 350 distinct valid, 100 re-deliveries, 25 bad signatures, 25 malformed."""
    unique: list[dict] = []

    def add(payload: dict, kind: str = "valid", incident: str | None = None) -> None:
        n = len(unique)
        raw = json.dumps(payload).encode()
        unique.append({"id": f"wh-{n:04d}", "raw": raw, "kind": kind, "incident": incident,
                       "secrets": [SECRET] if kind != "bad_signature" else ["not-the-secret"]})

    for inc in valid:  # 90 triggered + 90 acknowledged + 90 resolved
        add(incident_event("incident.triggered", inc), incident=inc)
        add(incident_event("incident.acknowledged", inc), incident=inc)
        add(incident_event("incident.resolved", inc), incident=inc)
    for inc in valid[:30]:  # reopened: the note is rebuilt, still one note
        add(incident_event("incident.reopened", inc), incident=inc)
    for inc in valid[30:60]:  # humans writing notes, and ctxgrab's own note coming back
        add(annotated_event(inc, "rolled back canary" if inc < valid[45] else "[ctxgrab-note] echo"), incident=inc)
    for i in range(10):
        add(ping_event(f"PING{i}"))
    for i in range(10):
        add({"event": {"id": f"FUT{i}", "event_type": "incident.future_thing", "resource_type": "incident",
                       "data": {"type": "incident_future"}}})
    assert len(unique) == 350
    # 25 bad signatures: 10 triggers for incidents that only attackers mention, 15 copies of valid events
    for inc in bait:
        add(incident_event("incident.triggered", inc), kind="bad_signature", incident=inc)
    for inc in valid[:15]:
        add(incident_event("incident.reopened", inc), kind="bad_signature", incident=inc)
    for i in range(25):  # signed correctly, not JSON or not an event
        raw = [b'{"event": {"event_type": "incident.triggered"', b"\xff\xfe\x00", b"[1, 2]", b"{}", b""][i % 5]
        unique.append({"id": f"wh-bad-{i}", "raw": raw, "kind": "malformed", "incident": None, "secrets": [SECRET]})
    valid_unique = unique[:350]
    dups = [dict(d, dup=True) for d in rng.sample(valid_unique, 100)]
    out = unique + dups
    rng.shuffle(out)
    assert len(out) == 500
    return out


@pytest.mark.parametrize("queue_sync", ["normal", "full"])
def test_500_concurrent_deliveries_with_duplicates_bad_input_and_a_sigkill(tmp_path: Path, queue_sync: str):
    rng = random.Random(8)
    valid = [f"QV{i:03d}" for i in range(90)]
    bait = [f"QX{i:03d}" for i in range(10)]
    deliveries = _deliveries(valid, bait, rng)
    db = tmp_path / "queue.sqlite3"
    log = tmp_path / "server.log"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"

    with FakePagerDuty(token=TOKEN, users=(BOT,)) as pd:
        for inc in valid + bait:
            pd.add_incident(inc)
        config = tmp_path / "ctxgrab.yaml"
        config.write_text(
            "server:\n"
            "  webhook_secrets: ['${LOADTEST_WH_SECRET}']\n"
            "  api_token: ${LOADTEST_PD_TOKEN}\n"
            f"  from_email: {BOT}\n"
            f"  api_base_url: {pd.url}\n"
            f"  queue_path: {db.name}\n"
            "  services: {PSVC9KX: payments}\n"
            "  prompt_builder: fake_pagerduty:synthetic_prompt\n"
            "  workers: 4\n"
            f"  public_base_url: {base}\n"
            "  prompt_token: load-prompt-token\n"
            "  note_max_chars: 2000\n"
            "  job_retry_base_s: 0.2\n"
            "  retry: {attempts: 4, base_delay_s: 0.05, max_delay_s: 1}\n"
            f"  queue_sync: {queue_sync}\n"
        )
        proc = _start(config, port, log)
        try:
            _wait_ready(base, proc, log)
            results: dict[int, int] = {}
            latencies_ms: list[float] = []
            resent = 0
            killed = {"at_acks": None, "running": 0, "queued": 0, "down_s": 0.0}

            async def send(i: int, d: dict, client: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
                nonlocal resent
                headers = delivery_headers(d["raw"], d["secrets"], d["id"])
                while True:
                    async with gate:
                        t0 = time.perf_counter()
                        try:
                            r = await client.post(f"{base}/webhooks/pagerduty", content=d["raw"], headers=headers)
                        except httpx.TransportError:
                            r = None
                        elapsed_ms = (time.perf_counter() - t0) * 1000
                    if r is not None and r.status_code < 500:
                        results[i] = r.status_code
                        latencies_ms.append(elapsed_ms)
                        return
                    resent += 1  # PagerDuty retries connection errors and 5xx
                    await asyncio.sleep(0.05)

            async def killer() -> None:
                nonlocal proc
                while True:  # midway, while jobs are running
                    states = _job_states(db)
                    if len(results) >= 250 and "running" in states.values():
                        break
                    await asyncio.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                states = _job_states(db)
                killed.update(at_acks=len(results), running=sum(s == "running" for s in states.values()),
                              queued=sum(s == "queued" for s in states.values()))
                t0 = time.monotonic()
                proc = _start(config, port, log)
                await asyncio.to_thread(_wait_ready, base, proc, log)
                killed["down_s"] = time.monotonic() - t0

            async def main() -> None:
                gate = asyncio.Semaphore(50)
                async with httpx.AsyncClient(timeout=5.0) as client:
                    await asyncio.gather(killer(), *(send(i, d, client, gate) for i, d in enumerate(deliveries)))

            asyncio.run(asyncio.wait_for(main(), 90))

            # every accepted job finishes: all valid incidents get exactly one note
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                states = _job_states(db)
                if all(len(pd.ctxgrab_notes(i)) == 1 for i in valid) and states and \
                        all(s == "done" for s in states.values()):
                    break
                assert proc.poll() is None, log.read_text()[-3000:]
                time.sleep(0.1)
            prompt = httpx.get(f"{base}/incidents/{valid[0]}/prompt",
                               headers={"Authorization": "Bearer load-prompt-token"}, timeout=5)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    kinds = {"valid": [], "bad_signature": [], "malformed": []}
    for i, d in enumerate(deliveries):
        kinds[d["kind"]].append(results.get(i))
    states = _job_states(db)
    lat = sorted(latencies_ms)
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"\nqueue_sync {queue_sync}: webhook acks: {len(lat)} answered, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms; "
          f"{resent} sends repeated around the SIGKILL (after {killed['at_acks']} acks, "
          f"{killed['running']} jobs running and {killed['queued']} queued at the kill; back in {killed['down_s']:.2f} s)")

    assert killed["at_acks"] is not None and killed["running"] >= 1, "the kill must interrupt running jobs"
    assert kinds["valid"] == [202] * 450, "every valid delivery and re-delivery is acknowledged"
    assert kinds["bad_signature"] == [401] * 25
    assert kinds["malformed"] == [400] * 25
    # exactly one ctxgrab note per valid incident; no job lost; nothing acted on from bad signatures
    assert {i: len(pd.ctxgrab_notes(i)) for i in valid} == {i: 1 for i in valid}
    assert sorted(states) == sorted(valid) and set(states.values()) == {"done"}
    assert all(pd.ctxgrab_notes(i) == [] for i in bait)
    # the 25 badly signed deliveries (15 of them for valid incidents) were not recorded, let alone acted on
    keys = _delivery_keys(db)
    signed_ok = {d["id"] for d in deliveries if d["kind"] == "valid"}
    assert signed_ok <= keys, "every accepted delivery id is in the deliveries table"
    bad = [d for d in deliveries if d["kind"] == "bad_signature"]
    assert len(bad) == 25 and sum(d["incident"] in valid for d in bad) == 15
    assert not {d["id"] for d in bad} & keys
    assert not {"event:" + json.loads(d["raw"])["event"]["id"] for d in bad} & keys
    assert not [r for r in pd.requests if any(b in r.path for b in bait)]
    assert "recovered" in log.read_text(), "the restarted server put the interrupted jobs back"
    note = pd.ctxgrab_notes(valid[0])[0]["content"]
    assert len(note) <= 2000 and f"{base}/incidents/{valid[0]}/prompt?sig=" in note
    assert prompt.status_code == 200 and prompt.text.startswith("# Incident: payments")
