"""``ctxgrab logs``: markdown, JSON, windows, assignments and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ctxgrab.cli import app

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def test_json_output_has_the_documented_pattern_fields() -> None:
    res = runner.invoke(app, ["logs", str(DATA / "java_stacktrace.log"), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["lines_in_window"] == 8 and data["patterns_total"] == 3
    first = data["patterns"][0]
    assert {"id", "template", "count", "first_seen", "last_seen", "level", "example"} <= set(first)
    assert first["exception"] == "java.lang.NullPointerException" and first["count"] == 3
    assert first["first_seen"] == "2026-03-02T10:02:01.500000+00:00"


def test_window_and_baseline_from_the_command_line() -> None:
    res = runner.invoke(app, ["logs", str(DATA / "python_traceback.log"), "--from", "2026-03-02T10:02:08Z",
                              "--to", "2026-03-02T10:02:16Z", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["lines_in_window"] == 4  # c9 info, c9 KeyError, two rejected amounts
    by_exc = {p["exception"]: p for p in data["patterns"]}
    assert by_exc["RuntimeError"]["new"] is True  # the baseline (10:02:00-10:02:08) has none
    assert by_exc["KeyError"]["new"] is False and by_exc["KeyError"]["baseline_count"] == 1


def test_markdown_names_exception_and_frame() -> None:
    res = runner.invoke(app, ["logs", str(DATA / "java_stacktrace.log")])
    assert res.exit_code == 0, res.output
    assert "`NullPointerException at PaymentService.process(PaymentService.java:13)`" in res.stdout
    assert res.stdout.index("ERROR ×3") < res.stdout.index("INFO ×3")


def test_assignments_give_one_id_per_input_line(tmp_path: Path) -> None:
    src = DATA / "java_stacktrace.log"
    res = runner.invoke(app, ["logs", str(src), "--assignments"])
    assert res.exit_code == 0, res.output
    ids = res.stdout.split()
    lines = src.read_text().splitlines()
    assert len(ids) == len(lines)
    # a stack trace line carries the id of the log line it belongs to
    assert ids[2] == ids[1] and ids[3] == ids[1] and ids[0] != ids[1]
    plain = tmp_path / "messages.txt"
    plain.write_text("user 1 logged in\n\nuser 2 logged in\ndisk full\n")
    ids = runner.invoke(app, ["logs", str(plain), "--assignments"]).stdout.split()
    assert len(ids) == 4 and ids[1] == "-" and ids[0] == ids[2] != ids[3]


def test_missing_file_and_bad_time_exit_2_with_one_line() -> None:
    res = runner.invoke(app, ["logs", "/nonexistent/app.log"])
    assert res.exit_code == 2 and "no log file matches /nonexistent/app.log" in res.output
    res = runner.invoke(app, ["logs", str(DATA / "java_stacktrace.log"), "--from", "yesterday-ish"])
    assert res.exit_code == 2 and "not a time" in res.output
