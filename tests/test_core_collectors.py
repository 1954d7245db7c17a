"""File-based collectors of the core: deploy events and settings, on hand-made inputs."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import anyio
import pytest

from ctxgrab.collectors.deploys import collect as collect_deploys
from ctxgrab.collectors.deploys import load_events, rollback_plan
from ctxgrab.collectors.settings import parse_jvm_flags, read_settings
from ctxgrab.errors import InputError
from ctxgrab.testing import make_request

UTC = timezone.utc


def test_deploy_times_with_offsets_are_compared_as_times() -> None:
    events = load_events(
        "- {version: v1, time: '2026-03-02T08:00:00Z'}\n"
        "- {version: v2, time: '2026-03-02T13:30:00+02:00'}\n"  # 11:30 UTC
        "- {version: v3, time: '2026-03-02T12:30:00+00:00', status: canary}\n",
        "d.yaml",
    )
    assert [e["version"] for e in events] == ["v1", "v2", "v3"]
    assert events[1]["time"] == "2026-03-02T11:30:00+00:00"
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    plan = rollback_plan(events, at, datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    assert plan["current"]["version"] == "v2" and plan["in_window"]  # v3 is in the future
    # the same instant written with another offset
    plan = rollback_plan(events, datetime.fromisoformat("2026-03-02T13:00:00+01:00"),
                         datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    assert plan["current"]["version"] == "v2" and plan["last_known_good"]["version"] == "v1"


def test_deploy_collector_reports_time_since_the_current_deploy(tmp_path: Path) -> None:
    (tmp_path / "deploys.yaml").write_text(
        "deploys:\n  - {version: v1, time: '2026-03-01T00:00:00Z'}\n"
        "  - {version: v2, time: '2026-03-02T11:00:00+01:00', status: canary, canary_weight: 5}\n")
    req = make_request({"services": {"s": {}}}, "s", base_dir=tmp_path)
    ev = anyio.run(collect_deploys, req, {"path": "deploys.yaml", "rollback": "undo"})
    assert ev.ok and ev.data["since_current_s"] == 2 * 3600
    assert ev.data["current"]["canary_weight"] == 5 and ev.data["rollback_command"] == "undo"


@pytest.mark.parametrize("text,match", [
    ("- {version: v1}\n", "needs at least `version` and `time`"),
    ("- {version: v1, time: yesterday}\n", "not a time"),
    ("- {version: v1, time: '2026-03-01T00:00:00Z', colour: red}\n", "unknown field"),
    ("deploys: [\n", "not valid YAML"),
])
def test_bad_deploy_files_name_the_problem(text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_events(text, "d.yaml")


def test_settings_formats(tmp_path: Path) -> None:
    (tmp_path / "a.properties").write_text("a.b=1\nlong=x\\\n  y\n# c=3\n")
    (tmp_path / "a.yaml").write_text("server:\n  max-websocket-sessions: 10000\n  enabled: true\n")
    (tmp_path / "jvm.options").write_text("# flags\n-Xms2g -Xmx8g -XX:+UseG1GC -XX:MaxGCPauseMillis=200 -Dx=y\n")
    assert read_settings(tmp_path / "a.properties", "auto") == ("properties", {"a.b": "1", "long": "xy"})
    fmt, values = read_settings(tmp_path / "a.yaml", "auto")
    assert fmt == "yaml" and values == {"server.max-websocket-sessions": "10000", "server.enabled": "true"}
    fmt, values = read_settings(tmp_path / "jvm.options", "auto")
    assert fmt == "jvm" and values["-Xmx"] == "8g" and values["-XX:UseG1GC"] == "true"
    assert parse_jvm_flags("-XX:-UseCompressedOops")["-XX:UseCompressedOops"] == "false"
