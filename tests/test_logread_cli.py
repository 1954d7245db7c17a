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


# ---------------------------------------------------------------- time zones and special files

_BERLIN = ("2026-03-02 11:05:00,000 ERROR c.a.Ledger - charge failed in the window\n"
           "2026-03-02 11:30:00,000 ERROR c.a.Ledger - charge failed after it\n")


def test_timezone_option(tmp_path: Path) -> None:
    p = tmp_path / "app.log"
    p.write_text(_BERLIN)
    args = ["logs", str(p), "--from", "2026-03-02T10:00:00Z", "--to", "2026-03-02T10:10:00Z", "--format", "json"]
    res = runner.invoke(app, args + ["--timezone", "Europe/Berlin"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["lines_in_window"] == 1
    res = runner.invoke(app, args)
    assert json.loads(res.stdout)["lines_in_window"] == 0
    res = runner.invoke(app, args + ["--timezone", "Mars/Olympus"])
    assert res.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in res.output


def test_directory_stands_for_its_files(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("2026-03-02 10:00:00,000 ERROR c.a.X - boom 1\n")
    (tmp_path / "b.log").write_text("2026-03-02 10:01:00,000 ERROR c.a.X - boom 2\n")
    res = runner.invoke(app, ["logs", str(tmp_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["lines_in_window"] == 2 and data["patterns"][0]["template"] == "boom <num>"
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["logs", str(empty)])
    assert res.exit_code == 2 and "is a directory with no files in it" in res.output


def test_fifo_and_process_substitution(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    env = dict(os.environ)
    writer = subprocess.Popen(["sh", "-c", f"cat > {fifo}"], stdin=subprocess.PIPE)
    reader = subprocess.Popen([sys.executable, "-m", "ctxgrab.cli", "logs", str(fifo), "--format", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    writer.communicate(_BERLIN.encode(), timeout=30)
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err.decode()
    assert json.loads(out)["lines_in_window"] == 2
    # bash process substitution hands the command /dev/fd/N
    res = subprocess.run(["bash", "-c", f'"{sys.executable}" -m ctxgrab.cli logs <(printf "%s" "$LOG") --format json'],
                         capture_output=True, env={**env, "LOG": _BERLIN}, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout)["lines_in_window"] == 2


def test_spring_boot_3_header_is_not_in_patterns_or_examples() -> None:
    res = runner.invoke(app, ["logs", str(DATA / "logs" / "spring-boot-3.log"), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    for p in data["patterns"]:
        assert " --- [" not in p["template"] and " --- [" not in p["example"] and "[myapp]" not in p["example"]
        assert not p["example"][:1].isdigit() and not p["template"].startswith("<")
    err = next(p for p in data["patterns"] if p["level"] == "ERROR")
    assert err["example"].startswith("Servlet.service() for servlet [dispatcherServlet] threw exception\n"
                                     "java.lang.IllegalStateException: pool exhausted")
    assert err["exception"] == "java.lang.IllegalStateException"
