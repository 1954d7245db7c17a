"""Deploy history from a file of deploy events: the current state and the rollback plan.

The file (YAML or JSON) is a list of events, or a mapping with ``deploys:``::

    deploys:
      - {version: v2.3.1, time: 2026-02-27T14:00:00Z, status: succeeded}
      - {version: v2.3.2, time: 2026-03-02T10:00:00Z, status: canary, canary_weight: 10}

Params: ``path``, ``rollback`` (the exact rollback command).

Payload (``data``)::

    {"current": {version, time, status, canary_weight, ...},
     "previous": {...} | None,
     "last_known_good": {...} | None,     # newest earlier deploy that did not fail
     "since_current_s": float,            # time from the current deploy to `at`
     "in_window": bool,                   # the current deploy happened inside the window
     "rollback_command": str | None,
     "events": [...]}                     # every event up to `at`, oldest first
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import yaml

from ..yamlsafe import safe_load as safe_yaml
from ..configfile import yaml_error_line
from ..errors import InputError
from ..evidence import Evidence, Status
from ..timeutil import parse_time
from . import CollectRequest, run_blocking

KIND = "deploys"
_BAD_STATUSES = {"failed", "rolled_back", "rolledback", "aborted", "degraded"}
_FIELDS = ("version", "time", "status", "canary_weight", "author", "change", "image", "note")


def load_events(text: str, where: str) -> list[dict[str, Any]]:
    """Validated deploy events, oldest first; times as ISO strings in UTC."""
    try:
        raw = json.loads(text) if where.endswith(".json") else safe_yaml(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{where}:{yaml_error_line(e)}") from None
    if isinstance(raw, dict):
        raw = raw.get("deploys")
    if not isinstance(raw, list):
        raise InputError(f"{where}: expected a list of deploy events (or a mapping with `deploys:`)")
    events = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "version" not in item or "time" not in item:
            raise InputError(f"{where}: deploy #{i + 1}: each event needs at least `version` and `time`")
        unknown = set(item) - set(_FIELDS)
        if unknown:
            raise InputError(f"{where}: deploy #{i + 1}: unknown field(s) {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(_FIELDS)})")
        try:
            t = parse_time(item["time"])
        except ValueError as e:
            raise InputError(f"{where}: deploy #{i + 1}: {e}") from None
        ev = {k: item.get(k) for k in _FIELDS}
        ev["version"] = str(ev["version"])
        ev["time"] = t.astimezone(timezone.utc).isoformat()
        ev["status"] = str(ev.get("status") or "succeeded").lower()
        events.append(ev)
    events.sort(key=lambda e: parse_time(e["time"]))
    return events


def rollback_plan(events: list[dict[str, Any]], at: datetime, window_start: datetime) -> dict[str, Any]:
    """Current, previous and last known good deploys as of ``at`` (times compared as times, any offset)."""
    past = [e for e in events if parse_time(e["time"]) <= at]
    if not past:
        return {"current": None, "previous": None, "last_known_good": None, "events": []}
    current = past[-1]
    previous = past[-2] if len(past) > 1 else None
    good = next(
        (e for e in reversed(past[:-1]) if e["status"] not in _BAD_STATUSES and e["version"] != current["version"]),
        None,
    )
    return {
        "current": current,
        "previous": previous,
        "last_known_good": good,
        "in_window": parse_time(current["time"]) >= window_start,
        "events": past,
    }


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    path = request.resolve(params["path"])
    base = {"kind": KIND, "name": "deploys", "title": "Deployments", "source": str(path)}
    if not path.is_file():
        return Evidence.failed(**base, reason=f"deploy history file not found: {path}")
    text = await run_blocking(path.read_text, "utf-8")
    events = load_events(text, str(path))
    plan = rollback_plan(events, request.at, request.window.start)
    if plan["current"] is None:
        return Evidence(**base, status=Status.empty, reason=f"no deploy before {request.at.isoformat()}",
                        data={"events": []})
    plan["since_current_s"] = (request.at - parse_time(plan["current"]["time"])).total_seconds()
    plan["rollback_command"] = params.get("rollback")
    return Evidence(**base, data=plan)
