"""The CLI under hostile and damaged input: one line and exit 2, in bounded time and memory.

The cases that could exhaust the machine (alias bombs, a full disk) run as real processes
(``python -m ctxgrab.cli``) under a timeout and an address-space limit, so a regression
shows as a failed test, not as a machine out of memory; the others call the console
script's ``main()`` in this process. Each case is a reproduction from the "damaged and
hostile input" report.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import re
import resource
import subprocess
import sys
import threading
import tempfile
import time
from pathlib import Path

import pytest

import ctxgrab
from ctxgrab.config import load_config
from ctxgrab.errors import ConfigError
from ctxgrab.yamlsafe import safe_load

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "fixtures" / "demo"
EVIDENCE_V1 = REPO / "tests" / "data" / "evidence_v1.json"
SRC = Path(ctxgrab.__file__).resolve().parents[1]  # the ctxgrab under test, for the child processes
AS_LIMIT = 3 * 2**30  # a bomb that slips through fails with MemoryError here instead of swapping the machine


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def run_cli(*args: str | Path, timeout: float = 30, stdout=subprocess.PIPE, cwd: Path | None = None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    env.pop("CTXGRAB_DEBUG", None)
    from peak_rss import TRAMPOLINE

    started = time.monotonic()
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        # prlimit caps the CLI's address space and execs it; the trampoline measures it (peak_rss.py).
        proc = subprocess.Popen([*TRAMPOLINE, "prlimit", f"--as={AS_LIMIT}", "--", sys.executable, "-m", "ctxgrab.cli",
                                 *map(str, args)], stdout=stdout, stderr=subprocess.PIPE, text=True,
                                env={**env, "PEAK_RSS_FILE": rss_file.name}, cwd=cwd, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            raise
        peak_kib = int(rss_file.read() or 0) or None
    p = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    p.elapsed_s = time.monotonic() - started  # type: ignore[attr-defined]
    p.peak_kib = peak_kib  # type: ignore[attr-defined]
    return p


class _Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys, monkeypatch):
    """The console script's ``main()`` in this process (no interpreter start-up: the cases stay cheap)."""
    from ctxgrab.cli import main

    monkeypatch.delenv("CTXGRAB_DEBUG", raising=False)

    def run(*args: str | Path) -> _Ran:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["ctxgrab", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        out, err = capsys.readouterr()
        return _Ran(exit_info.value.code or 0, out, err)

    return run


def assert_one_line_error(p, *needles: str) -> str:
    err = p.stderr.strip()
    assert "Traceback" not in err, err[-2000:]
    assert p.returncode == 2, (p.returncode, err[-2000:])
    assert len(err.splitlines()) == 1 and err.startswith("ctxgrab: "), err[-2000:]
    for n in needles:
        assert n in err, err
    return err


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic YAML alias bomb (CVE-2003-1564 family): ``width ** levels`` nodes once walked."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# -- YAML ------------------------------------------------------------------------------------------
def test_an_alias_bomb_is_refused_in_milliseconds():
    for levels in (8, 9):
        started = time.perf_counter()
        with pytest.raises(Exception, match="expand to more than"):
            safe_load(billion_laughs(levels))
        assert time.perf_counter() - started < 0.5


def test_yaml_anchors_and_merge_keys_people_use_still_load():
    doc = "base: &b {timeout_s: 5, tags: [a, b]}\nsvc:\n  <<: *b\n  name: x\nother: *b\n"
    assert safe_load(doc) == {"base": {"timeout_s": 5, "tags": ["a", "b"]},
                              "svc": {"timeout_s": 5, "tags": ["a", "b"], "name": "x"},
                              "other": {"timeout_s": 5, "tags": ["a", "b"]}}


def test_an_alias_bomb_as_ctxgrab_yaml_fails_fast_with_one_line(tmp_path: Path):
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text("defaults: {since: 2h}\n" + billion_laughs(9))
    p = run_cli("check", "--config", cfg, timeout=20)
    assert_one_line_error(p, "ctxgrab.yaml: line", "alias")
    assert p.elapsed_s < 10
    assert p.peak_kib is not None and p.peak_kib < 400 * 1024  # a real run's size, not the bomb's 1.2 GB


def test_an_alias_bomb_as_a_settings_file_is_a_stated_gap_within_the_deadline(tmp_path: Path):
    (tmp_path / "app.yaml").write_text(billion_laughs(9))
    (tmp_path / "ctxgrab.yaml").write_text(
        "defaults: {timeout_s: 5, deadline_s: 10, at: '2026-03-02T12:00:00Z'}\n"
        "services:\n  payments:\n    settings: [{path: app.yaml}]\n")
    p = run_cli("incident", "-s", "payments", "-c", tmp_path / "ctxgrab.yaml", timeout=25)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    assert re.search(r"app\.yaml.*expand to more than", p.stdout), p.stdout[-3000:]
    assert p.elapsed_s < 12


@pytest.mark.parametrize("text, key, line", [
    ("defaults:\n  since: 2h\n  timeout_s: 5\n  since: 30m\n", "since", "line 4"),
    ("services:\n  payments: {}\n  checkout: {}\n  payments: {packs: [jvm]}\n", "payments", "line 4"),
], ids=["defaults", "services"])
def test_a_duplicate_key_is_an_error_naming_key_file_and_line(cli, tmp_path: Path, text: str, key: str, line: str):
    cfg = tmp_path / "dup.yaml"
    cfg.write_text(text)
    assert_one_line_error(cli("check", "--config", cfg), "dup.yaml", line, f"duplicate key '{key}'")


def test_a_duplicate_key_in_a_settings_file_is_a_gap_not_a_silent_last_wins(cli, tmp_path: Path):
    (tmp_path / "app.yaml").write_text("cache:\n  max-entries: 1000\n  ttl: 5m\n  max-entries: 50000000\n")
    (tmp_path / "ctxgrab.yaml").write_text(
        "defaults: {at: '2026-03-02T12:00:00Z'}\nservices:\n  payments:\n    settings: [{path: app.yaml}]\n")
    p = cli("incident", "-s", "payments", "-c", tmp_path / "ctxgrab.yaml")
    assert p.returncode == 0, p.stderr
    assert "duplicate key 'max-entries'" in p.stdout and "50000000" not in p.stdout


def test_a_config_that_is_not_utf8_or_nested_thousands_deep_is_one_line(cli, tmp_path: Path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("defaults:\n  since: 2h\n# café\n".encode("latin-1"))
    assert_one_line_error(cli("check", "-c", latin1), "latin1.yaml: line 3", "not UTF-8")
    deep = tmp_path / "deep.yaml"
    deep.write_text("services: " + "[" * 20000 + "]" * 20000 + "\n")
    assert_one_line_error(cli("check", "-c", deep), "deep.yaml", "nested more than")
    block = tmp_path / "block.yaml"
    block.write_text("services:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 3000)))
    assert_one_line_error(cli("check", "-c", block), "block.yaml", "nested more than")


# -- options and values ----------------------------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["--since", "99999999d"], "duration out of range"),
    (["--since", "9" * 400], "duration out of range"),
    (["--at", "0001-01-01T00:00:00Z"], "before year 1"),
    (["--at", "99999999999999999"], "out of range"),
    (["--since", "2h", "--from", "2026-03-02T09:00:00Z"], "--since and --from"),
    (["--budget", "0"], "positive number of tokens"),
    (["--budget", "-5"], "positive number of tokens"),
    (["--budget", "lots"], "--budget"),
], ids=["since-overflow", "since-400-digits", "at-year-1", "at-timestamp", "since-and-from", "budget-0",
        "budget-negative", "budget-text"])
def test_bad_incident_options_are_one_line_and_exit_2(cli, args: list[str], needle: str):
    p = cli("incident", "-s", "payments", "-c", DEMO / "ctxgrab.yaml", *args)
    assert_one_line_error(p, needle)
    assert p.stdout == ""


def test_logs_refuses_since_beside_from(cli):
    p = cli("logs", next((DEMO / "logs").glob("*.log")), "--since", "2h", "--from", "2026-03-02T09:00:00Z")
    assert_one_line_error(p, "--since and --from")


def test_render_refuses_a_budget_of_zero(cli):
    assert_one_line_error(cli("render", EVIDENCE_V1, "--budget", "0"), "positive number of tokens")


@pytest.mark.parametrize("url, needle", [
    ("http://127.0.0.1:99999", "port 99999 is out of range"),
    ("http://:9090", "no host name"),
    ("http://prom etheus:9090", "spaces"),
    ("http://prometheus..svc:9090", "not valid"),  # httpx raised UnicodeError (not an HTTPError) in check
    ("http://xn--zz:9090", "Invalid A-label"),
], ids=["port", "no-host", "space", "empty-label", "bad-punycode"])
def test_config_validation_rejects_a_url_no_client_can_use(cli, tmp_path: Path, url: str, needle: str):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"sources:\n  prom: {{type: prometheus, url: '{url}'}}\n")
    assert_one_line_error(cli("check", "-c", cfg), "sources.prom.url", needle)


def test_an_unknown_key_under_server_lists_the_allowed_keys(cli, tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server:\n  webhook_secret: x\n")
    err = assert_one_line_error(cli("check", "-c", cfg), "server.webhook_secret", "allowed here:")
    assert "webhook_secrets" in err and "max_connections" in err
    with pytest.raises(ConfigError, match=r"allowed here: .*webhook_secrets"):
        from ctxgrab.server.config import load_server_config
        load_server_config(cfg, env={})


def test_check_does_not_count_unreadable_inputs_as_found(cli, tmp_path: Path):
    (tmp_path / "gc").mkdir()
    (tmp_path / "gc" / "gc.log").symlink_to(tmp_path / "gone.log")  # rotated away under a symlink
    (tmp_path / "gc" / "old.log").mkdir()
    (tmp_path / "c.yaml").write_text("services:\n  payments:\n    gc_logs: ['gc/*.log']\n")
    p = cli("check", "-c", tmp_path / "c.yaml")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "2 UNREADABLE" in p.stdout and "No such file" in p.stdout and "a directory" in p.stdout
    assert "2 file(s)" not in p.stdout


# -- saved evidence -------------------------------------------------------------------------------
def test_render_reads_a_gzipped_save_and_refuses_binary_and_deep_json(cli, tmp_path: Path):
    plain = cli("render", EVIDENCE_V1)
    assert plain.returncode == 0
    gz = tmp_path / "evidence.json.gz"
    gz.write_bytes(gzip.compress(EVIDENCE_V1.read_bytes()))
    p = cli("render", gz)
    assert p.returncode == 0 and p.stdout == plain.stdout
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    assert_one_line_error(cli("render", binary), "core.bin", "binary data")
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b" " * (80 * 2**20)))  # 80 KiB that expand to 80 MiB
    assert_one_line_error(cli("render", bomb), "bomb.json.gz", "larger than")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    assert_one_line_error(cli("render", deep), "deep.json", "nested too deeply")


@pytest.mark.parametrize("field, value", [
    ("first_seen", "10:3x"), ("first_seen", 1e300), ("count", "many"), ("template", ["a", "b"]),
], ids=["time-text", "time-huge", "count-text", "template-list"])
def test_render_of_a_damaged_pattern_is_one_line(cli, tmp_path: Path, field: str, value):
    data = json.loads(EVIDENCE_V1.read_text())
    logs = next(e for e in data["evidence"] if e["kind"] == "logs")
    logs["data"]["patterns"][0][field] = value
    f = tmp_path / "damaged.json"
    f.write_text(json.dumps(data))
    p = cli("render", f)
    assert p.returncode in (0, 2) and "Traceback" not in p.stderr, p.stderr[-2000:]
    if p.returncode == 2:
        assert_one_line_error(p, "damaged.json")


def test_a_malformed_time_inside_a_pattern_is_one_line(cli, tmp_path: Path):
    data = json.loads(EVIDENCE_V1.read_text())
    logs = next(e for e in data["evidence"] if e["kind"] == "logs")
    logs["data"]["patterns"][0]["first_seen"] = "2026-13-45T99:00:00Z"
    f = tmp_path / "damaged.json"
    f.write_text(json.dumps(data))
    assert_one_line_error(cli("render", f), "damaged.json", "not a time")


# -- output ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_under_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        p = run_cli("incident", "-s", "payments", "-c", DEMO / "ctxgrab.yaml", stdout=full)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.strip().splitlines() if "No space left" in ln]
    assert len(lines) == 1 and lines[0].startswith("ctxgrab: cannot write the output")


def test_version_and_help_read_like_a_person_wrote_them(cli):
    p = cli("--version")
    assert p.returncode == 0 and re.fullmatch(r"ctxgrab \S+\n", p.stdout)
    commands = ["incident", "render", "check", "gc", "heap", "logs", "redact", "change", "serve", "mcp"]
    for cmd in [None, *commands]:
        p = cli(*([cmd] if cmd else []), "--help")
        assert p.returncode == 0, p.stderr
        for python_type in ("<str>", "<int>", "<path>", "<float>", "list[", "<bool>", "{"):
            assert python_type not in p.stdout.replace("{deployment", ""), f"{cmd} --help shows {python_type}"
    gc_help = cli("gc", "--help").stdout
    assert "gc [OPTIONS] FILES..." in gc_help and "--since" not in gc_help
    incident_help = cli("incident", "--help").stdout
    assert "--since DURATION" in incident_help and "--from TIME" in incident_help


def test_a_usage_error_is_one_line(cli):
    assert_one_line_error(cli("incident"), "Missing option '--service'")
    assert_one_line_error(cli("no-such-command"), "No such command")


# -- gaps -------------------------------------------------------------------------------------------
class _ProxyErrorPage(http.server.BaseHTTPRequestHandler):
    """A local stand-in for an nginx in front of a dead Prometheus: its stock 502 page (nginx 1.18 markup)."""

    BODY = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
            b"</center>\r\n<hr><center>nginx/1.18.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n")

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


def _demo_config_against(tmp_path: Path, url: str) -> Path:
    text = (DEMO / "ctxgrab.yaml").read_text()
    text = re.sub(r"type: prometheus_files.*\n\s+path: metrics", f"type: prometheus\n    url: {url}", text)
    assert f"url: {url}" in text
    for item in DEMO.iterdir():
        if item.name != "ctxgrab.yaml":
            (tmp_path / item.name).symlink_to(item)
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(text)
    return cfg


def _gap_lines(markdown: str) -> list[str]:
    section = markdown.split("## Gaps in the evidence", 1)[1].split("\n## ", 1)[0]
    return [ln for ln in section.splitlines() if ln.startswith("- ")]


def test_a_source_behind_a_failing_proxy_is_one_gap_line_with_the_page_title(cli, tmp_path: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ProxyErrorPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cfg = _demo_config_against(tmp_path, f"http://127.0.0.1:{server.server_port}")
        p = cli("incident", "-s", "payments", "-c", cfg)
    finally:
        server.shutdown()
        server.server_close()
    assert p.returncode == 0, p.stderr[-2000:]
    assert "<html" not in p.stdout and "<title>" not in p.stdout
    prom_lines = [ln for ln in _gap_lines(p.stdout) if "HTTP 502" in ln and not ln.startswith("- Alerts")]
    assert len(prom_lines) == 1, _gap_lines(p.stdout)
    assert "HTML page: 502 Bad Gateway" in prom_lines[0]
    assert "JVM heap used" in prom_lines[0] and "Latency p99" in prom_lines[0]
    assert re.search(r"\((\d+) collectors\)", prom_lines[0])
