"""A fake PagerDuty for tests and benchmarks: REST API v2 (incidents and notes) on loopback,
plus builders of Webhooks V3 deliveries. It is a fake, not PagerDuty: it follows
``shared/reference/pagerduty.md`` and records every request it receives.

What it checks like the reference says PagerDuty does:

- ``Authorization: Token token=<key>`` exactly, else 401 ``{"error": {"code": 2006, …}}``;
- ``From: <email of a known user>`` on POST/PUT/DELETE, else 400 (code 2011 when
  missing, 1008 when unknown);
- note body ``{"note": {"content": str}}``, at most 2000 notes per incident;
- pagination ``limit`` ≤ 100 and ``offset + limit`` ≤ 10000, answers with ``more``;
- unknown incident → 404 code 2100; ``PUT /incidents/{id}/notes/{note_id}`` only
  when ``supports_note_edit`` (it is newer than the rest of the API).

Faults are scripted with :meth:`FakePagerDuty.fail_next` (e.g. three 429s with or
without ``Retry-After``, or a 503: the request is not served) and
:meth:`FakePagerDuty.lose_reply_next` (the request IS served, e.g. a note is stored,
then the reply is dropped, delayed or replaced by an error: what a client sees when
a proxy or the network loses PagerDuty's answer).

Also importable by a ``ctxgrab serve`` subprocess (``PYTHONPATH=tests``) for
``server.prompt_builder: "fake_pagerduty:synthetic_prompt"``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ctxgrab.server.signature import signature_header

ACCEPT = "application/vnd.pagerduty+json;version=2"
NOTE_LIMIT = 2000


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class _Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    path_contains: str | None = None
    body: dict[str, Any] | None = None
    serve_first: bool = False  # serve the request, then answer with this fault instead of the real reply
    delay_s: float = 0.0  # wait this long before answering (after serving, when serve_first)


class FakePagerDuty:
    """Run with ``with FakePagerDuty() as pd: …``; ``pd.url`` is the API base URL."""

    def __init__(
        self,
        token: str = "pd-test-token",
        users: tuple[str, ...] = ("ctxgrab-bot@example.com",),
        *,
        supports_note_edit: bool = True,
        auto_create_incidents: bool = False,
    ) -> None:
        self.token = token
        self.users = {email: f"PUSR{i:03d}" for i, email in enumerate(users)}
        self.supports_note_edit = supports_note_edit
        self.auto_create_incidents = auto_create_incidents
        self.incidents: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[Recorded] = []
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._next_note = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- setup ---------------------------------------------------------------------------------
    def add_incident(self, incident_id: str, service_id: str = "PSVC9KX", created_at: str = "2026-03-04T09:15:02Z",
                     title: str = "HighErrorRate payments prod") -> dict[str, Any]:
        inc = {
            "id": incident_id, "type": "incident", "number": len(self.incidents) + 1, "status": "triggered",
            "title": title, "created_at": created_at, "urgency": "high",
            "self": f"{self.url}/incidents/{incident_id}", "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
            "service": {"id": service_id, "type": "service_reference", "summary": service_id},
        }
        with self._lock:
            self.incidents[incident_id] = inc
            self.notes.setdefault(incident_id, [])
        return inc

    def add_human_note(self, incident_id: str, content: str) -> dict[str, Any]:
        with self._lock:
            return self._new_note(incident_id, content, user_id="PHUMAN1")

    def fail_next(self, n: int, status: int, headers: dict[str, str] | None = None, *, method: str | None = None,
                  path_contains: str | None = None, body: dict[str, Any] | None = None) -> None:
        """Answer the next ``n`` matching requests with ``status`` (and headers) instead of serving them."""
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault(status, dict(headers or {}), method, path_contains, body))

    def lose_reply_next(self, n: int, *, method: str | None = None, path_contains: str | None = None,
                        status: int | None = None, delay_s: float = 0.0) -> None:
        """Serve the next ``n`` matching requests (a POST stores its note), then lose the reply:
        after ``delay_s``, close the connection without an answer (``status`` None) or answer ``status``."""
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault(status or 0, {}, method, path_contains, None, True, delay_s))

    # -- inspection ----------------------------------------------------------------------------
    def ctxgrab_notes(self, incident_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [n for n in self.notes.get(incident_id, []) if "[ctxgrab-note]" in n["content"][:200]]

    def requests_to(self, method: str, pattern: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- server --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            return "http://127.0.0.1:0"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakePagerDuty":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-pagerduty", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "FakePagerDuty":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        query = parse_qs(parts.query)
        status, payload, headers, rate_headers, delay_s = self._route(
            h.command, parts.path, query, {k: v for k, v in h.headers.items()}, body)
        with self._lock:
            self.requests.append(Recorded(h.command, parts.path, query, dict(h.headers.items()), body, status))
        if delay_s:
            time.sleep(delay_s)
        if status == 0:  # the reply is lost: close the connection without a word
            h.close_connection = True
            return
        data = json.dumps(payload).encode() if payload is not None else b""
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        if rate_headers:
            h.send_header("ratelimit-limit", "960")
            h.send_header("ratelimit-remaining", "959")
            h.send_header("ratelimit-reset", "60")
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> tuple[int, Any, dict[str, str], bool, float]:
        fault = None
        with self._lock:
            for i, f in enumerate(self._faults):
                if (f.method is None or f.method == method) and (f.path_contains is None or f.path_contains in path):
                    del self._faults[i]
                    fault = f
                    break
        if fault is not None and fault.serve_first:
            self._answer(method, path, query, headers, body)  # done, and then the answer goes missing
        if fault is not None:
            default = {"error": {"message": "Rate Limit Exceeded", "code": 2020}} if fault.status == 429 else \
                {"error": {"message": "Internal Server Error", "code": 2000}}
            return fault.status, fault.body or default, fault.headers, False, fault.delay_s
        status, payload, extra = self._answer(method, path, query, headers, body)
        return status, payload, extra, True, 0.0

    def _answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                body: Any) -> tuple[int, Any, dict[str, str]]:
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("authorization") != f"Token token={self.token}":
            return 401, _err("Unauthorized", 2006), {}
        write = method in ("POST", "PUT", "DELETE")
        user_id = None
        if write:
            email = lower.get("from")
            if not email:
                return 400, _err("You must specify a requester_id (From header)", 2011), {}
            user_id = self.users.get(email)
            if user_id is None:
                return 400, _err("Requester User Not Found", 1008), {}
            if method in ("POST", "PUT") and "application/json" not in lower.get("content-type", ""):
                return 400, _err("Content-Type must be application/json", 2001), {}
        m = re.fullmatch(r"/incidents/([^/]+)(/notes(?:/([^/]+))?)?", path)
        if not m:
            return 404, _err("Not Found", 2100), {}
        incident_id, notes_part, note_id = m.group(1), m.group(2), m.group(3)
        with self._lock:
            if incident_id not in self.incidents:
                if not self.auto_create_incidents:
                    return 404, _err("Not Found", 2100), {}
                self.incidents[incident_id] = {"id": incident_id, "type": "incident", "status": "triggered"}
                self.notes.setdefault(incident_id, [])
            if not notes_part:
                if method != "GET":
                    return 404, _err("Not Found", 2100), {}
                return 200, {"incident": self.incidents[incident_id]}, {}
            notes = self.notes[incident_id]
            if note_id is None:
                if method == "GET":
                    try:
                        limit = int(query.get("limit", ["25"])[0])
                        offset = int(query.get("offset", ["0"])[0])
                    except ValueError:
                        return 400, _err("Invalid Input Provided", 2001, ["limit/offset must be integers"]), {}
                    if limit > 100 or limit < 1 or offset < 0 or offset + limit > 10000:
                        return 400, _err("Invalid Input Provided", 2001, ["offset+limit must be <= 10000"]), {}
                    page = notes[offset:offset + limit]
                    return 200, {"notes": page, "limit": limit, "offset": offset,
                                 "more": offset + limit < len(notes), "total": None}, {}
                if method == "POST":
                    content = _content(body)
                    if content is None:
                        return 400, _err("Invalid Input Provided", 2001, ["note.content is required"]), {}
                    if len(notes) >= NOTE_LIMIT:
                        return 400, _err("Invalid Input Provided", 2001, ["incident has 2000 notes"]), {}
                    return 201, {"note": self._new_note(incident_id, content, user_id)}, {}
                return 404, _err("Not Found", 2100), {}
            # /notes/{note_id}
            if not self.supports_note_edit or method not in ("PUT", "DELETE"):
                return 404, _err("Not Found", 2100), {}
            found = next((n for n in notes if n["id"] == note_id), None)
            if found is None:
                return 404, _err("Not Found", 2100), {}
            if method == "DELETE":
                notes.remove(found)
                return 204, None, {}
            content = _content(body)
            if content is None:
                return 400, _err("Invalid Input Provided", 2001, ["note.content is required"]), {}
            found["content"] = content
            found["updated_at"] = _now()
            return 200, {"note": found}, {}

    def _new_note(self, incident_id: str, content: str, user_id: str | None) -> dict[str, Any]:
        self._next_note += 1
        note = {
            "id": f"PN{self._next_note:05d}",
            "user": {"id": user_id, "type": "user_reference", "summary": user_id},
            "channel": {"summary": "The PagerDuty website or APIs"},
            "content": content, "created_at": _now(), "updated_at": _now(),
        }
        self.notes.setdefault(incident_id, []).append(note)
        return note


def _content(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("note"), dict) and isinstance(body["note"].get("content"), str):
        return body["note"]["content"]
    return None


def _err(message: str, code: int, errors: list[str] | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "code": code, "errors": errors or []}}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- Webhooks V3 deliveries ----------------------------------------------------------------------
_EVENT_SEQ = itertools.count()  # every built event has its own id, like PagerDuty's


def incident_event(event_type: str, incident_id: str, *, service_id: str = "PSVC9KX",
                   created_at: str = "2026-03-04T09:15:02Z", event_id: str | None = None,
                   agent: dict[str, Any] | None = None, title: str = "[FIRING:1] HighErrorRate payments prod") -> dict:
    """An ``incident.*`` event envelope shaped like the reference's example."""
    eid = event_id or hashlib.sha1(
        f"{event_type}/{incident_id}/{time.time_ns()}/{next(_EVENT_SEQ)}".encode()).hexdigest()[:26].upper()
    return {"event": {
        "id": eid, "event_type": event_type, "resource_type": "incident",
        "occurred_at": "2026-03-04T09:15:02.481Z", "agent": agent, "client": {"name": "PagerDuty"},
        "data": {
            "id": incident_id, "type": "incident", "number": 4821, "status": event_type.split(".")[-1],
            "self": f"https://api.pagerduty.com/incidents/{incident_id}",
            "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
            "incident_key": "7d3f", "created_at": created_at, "title": title,
            "service": {"id": service_id, "type": "service_reference", "summary": "payments-prod"},
            "assignees": [{"id": "PUSR01A", "type": "user_reference", "summary": "Dana Ops"}],
            "escalation_policy": {"id": "PEP77QQ", "type": "escalation_policy_reference", "summary": "Payments"},
            "teams": [], "priority": None, "urgency": "high", "conference_bridge": None, "resolve_reason": None,
        }}}


def annotated_event(incident_id: str, content: str, *, agent_id: str = "PHUMAN1", event_id: str | None = None) -> dict:
    """``incident.annotated``: the incident id is at ``data.incident.id``."""
    return {"event": {
        "id": event_id or f"ANN{time.time_ns()}-{next(_EVENT_SEQ)}", "event_type": "incident.annotated", "resource_type": "incident",
        "occurred_at": "2026-03-04T09:20:00.000Z",
        "agent": {"id": agent_id, "type": "user_reference", "summary": "someone"}, "client": None,
        "data": {"type": "incident_note", "id": "PNOTE1", "content": content, "trimmed": False,
                 "incident": {"id": incident_id, "type": "incident_reference"}}}}


def ping_event(event_id: str = "PING1") -> dict:
    return {"event": {"id": event_id, "event_type": "pagey.ping", "resource_type": "pagey",
                      "occurred_at": "2026-03-04T09:00:00.000Z", "agent": None, "client": None,
                      "data": {"message": "Hello from your friend Pagey!", "type": "ping"}}}


def delivery_headers(raw: bytes, secrets: list[str], webhook_id: str, subscription: str = "PXSUIZH") -> dict[str, str]:
    """The headers PagerDuty sends with one delivery."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "PagerDuty-Webhook/V3.0",
        "X-Webhook-Id": webhook_id,
        "X-Webhook-Subscription": subscription,
        "X-PagerDuty-Signature": signature_header(raw, secrets),
    }


# -- prompt builders for a server subprocess ------------------------------------------------------
async def synthetic_prompt(service: str, at: datetime) -> str:
    """A stand-in collection: waits ``FAKE_COLLECT_MS`` (default 100) and returns ~``FAKE_PROMPT_CHARS`` characters.

    The text depends only on (service, at), like a real run with a pinned clock.
    """
    import anyio

    await anyio.sleep(float(os.environ.get("FAKE_COLLECT_MS", "100")) / 1000)
    size = int(os.environ.get("FAKE_PROMPT_CHARS", "6000"))
    line = f"- {service} evidence line as of {at.isoformat()}\n"
    head = f"# Incident: {service}\n\nWindow ends {at.isoformat()}.\n\n"
    return head + line * max(1, (size - len(head)) // len(line))


def main(argv: list[str] | None = None) -> int:
    """``python tests/fake_pagerduty.py --token T``: serve the fake until stdin closes; prints its URL."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="fake PagerDuty REST API on loopback (tests and benchmarks)")
    ap.add_argument("--token", default="pd-test-token")
    ap.add_argument("--user", default="ctxgrab-bot@example.com")
    args = ap.parse_args(argv)
    with FakePagerDuty(token=args.token, users=(args.user,), auto_create_incidents=True) as fake:
        print(fake.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
