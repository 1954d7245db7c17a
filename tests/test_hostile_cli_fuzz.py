"""Fuzzing the entry points that read configs, saved evidence and webhook bodies.

Hypothesis mutates real inputs: the demo and scenario configs (``fixtures/``), the
committed evidence file of an older release (``tests/data/evidence_v1.json``) and a fresh
``--save`` of the demo, and signed PagerDuty webhook bodies built like
``tests/fake_pagerduty.py`` builds them from the reference's example. Every run must end
in a result or in ctxgrab's own one-line error (exit 2 on the command line, 400/413 from
the service): never a traceback, an unexpected exception or a 500, and within a bound.

Each property runs in-process on the same functions the commands call
(``load_config``, ``api.render_saved``, the Starlette app); a few examples of each also
run through the real ``python -m ctxgrab.cli`` to check exit codes and stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

import ctxgrab
from ctxgrab.api import render_saved, resolve_window
from ctxgrab.config import load_config
from ctxgrab.errors import CtxgrabError
from ctxgrab.server import ServerConfig, create_app
from fake_pagerduty import delivery_headers, incident_event

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [REPO / "fixtures" / "demo" / "ctxgrab.yaml",
           *sorted((REPO / "fixtures" / "scenarios").glob("*/ctxgrab.yaml"))]
EVIDENCE_V1 = REPO / "tests" / "data" / "evidence_v1.json"
SECRET = "whsec-fuzz"
BOUND_S = 5.0  # per example; generous for a shared CI machine, far below a hang

def _fuzz(examples: int) -> settings:
    """CI runs a fixed, small sample; ``CTXGRAB_FUZZ_EXAMPLES=2000 CTXGRAB_FUZZ_RANDOM=1`` runs a campaign."""
    return settings(max_examples=int(os.environ.get("CTXGRAB_FUZZ_EXAMPLES", examples)), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    derandomize=not os.environ.get("CTXGRAB_FUZZ_RANDOM"))

# Values that broke something once, or sit on a boundary: durations, times, ports, depth, aliases.
NASTY_SCALARS = [
    "99999999d", "0", "-5", "1e400", "nan", "", "~", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "http://127.0.0.1:99999", "http://:9090", "${UNSET_VAR}", "${X:-", "[[[[[[", "{a: *nope}", "&a [*a]",
    "\x00", "\ufeff", "\udcff", "é", "yes", "0x1F", "2h30", "1h30m", "-1h", "7w", "true", "null", "[]", "{}",
]
YAML_NOISE = [":", " ", "\n", "- ", "&x ", "*x", "<<: *x\n", "!!python/object:os.system ", "\t", "'", '"', "#",
              "{", "}", "[", "]", ",", "? ", "|", ">", "%YAML 1.1\n", "---\n", "...\n"]


def _one_line(e: BaseException) -> None:
    text = str(e)
    assert text and "\n" not in text.strip() and "Traceback" not in text, repr(text)[:500]


# -- configs ----------------------------------------------------------------------------------------
@st.composite
def mutated_config(draw) -> bytes:
    source = draw(st.sampled_from(CONFIGS))
    lines = source.read_text().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["scalar", "noise", "drop", "dup", "indent", "bytes"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        line = lines[i] if lines else ""
        if op == "scalar" and ":" in line:
            key, _, _ = line.partition(":")
            lines[i] = f"{key}: {json.dumps(draw(st.sampled_from(NASTY_SCALARS)))}\n"
        elif op == "noise":
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(YAML_NOISE)) + line[at:]
        elif op == "drop" and lines:
            del lines[i]
        elif op == "dup" and lines:
            lines.insert(i, line)  # often a duplicate key
        elif op == "indent":
            lines[i] = "  " * draw(st.integers(1, 3)) + line
        elif op == "bytes":
            lines.insert(i, draw(st.binary(min_size=1, max_size=8)).decode("latin-1"))
    return "".join(lines).encode("utf-8", "surrogateescape")


@_fuzz(80)
@given(mutated_config())
def test_a_mutated_config_loads_or_is_one_line(tmp_path_factory, raw: bytes):
    folder = tmp_path_factory.mktemp("cfg")
    cfg = folder / "ctxgrab.yaml"
    cfg.write_bytes(raw)
    started = time.monotonic()
    try:
        loaded = load_config(cfg, env={})
        resolve_window(loaded)
    except CtxgrabError as e:
        _one_line(e)
    assert time.monotonic() - started < BOUND_S


# -- saved evidence ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_save() -> str:
    return ctxgrab.incident("payments", config=str(CONFIGS[0])).to_json()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.sampled_from(NASTY_SCALARS),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:6]):  # enough of each list; the long ones are series points
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated_evidence(draw, demo: str) -> bytes:
    text = draw(st.sampled_from([EVIDENCE_V1.read_text(), demo]))
    if draw(st.integers(0, 9)) == 0:  # byte-level: truncation or a flipped byte
        raw = text.encode()
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] if draw(st.booleans()) else raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:]
    data = json.loads(text)
    paths = _paths(data)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.integers(0, 4)) == 0 and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation changed the shape
    return json.dumps(data, allow_nan=True).encode()


@_fuzz(30)
@given(data=st.data())
def test_mutated_saved_evidence_renders_or_is_one_line(tmp_path_factory, demo_save: str, data):
    raw = data.draw(mutated_evidence(demo_save))
    f = tmp_path_factory.mktemp("ev") / "evidence.json"
    f.write_bytes(raw)
    started = time.monotonic()
    try:
        result = render_saved(f)
        assert result.markdown.startswith("# ")
        result.to_json()
    except CtxgrabError as e:
        _one_line(e)
    assert time.monotonic() - started < BOUND_S


# -- webhook bodies ---------------------------------------------------------------------------------
@st.composite
def mutated_webhook(draw) -> bytes:
    event = incident_event(draw(st.sampled_from(["incident.triggered", "incident.reopened", "incident.resolved"])),
                           "QFUZZ1")
    if draw(st.integers(0, 5)) == 0:
        raw = json.dumps(event).encode()
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + draw(st.binary(max_size=6)) + raw[at + 1:]
    paths = _paths(event)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        if not path:
            event = draw(JSON_VALUES)
            continue
        parent = event
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    return json.dumps(event, allow_nan=True).encode()


@pytest.fixture(scope="module")
def webhook_client(tmp_path_factory):
    async def prompt(service, at):  # pragma: no cover - no worker runs
        return ""

    cfg = ServerConfig(webhook_secrets=[SECRET], services={"PSVC9KX": "payments"})
    app = create_app(cfg, queue_path=tmp_path_factory.mktemp("q") / "q.db", build_prompt=prompt, start_worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@_fuzz(80)
@given(raw=mutated_webhook())
def test_a_mutated_signed_webhook_is_202_or_400_never_500(webhook_client, raw: bytes):
    started = time.monotonic()
    r = webhook_client.post("/webhooks/pagerduty", content=raw, headers=delivery_headers(raw, [SECRET], "wh-fuzz"))
    assert r.status_code in (202, 400, 413), (r.status_code, r.text[:500])
    if r.status_code == 400:
        error = r.json()["error"]
        assert "\n" not in error and len(error) < 400
    assert time.monotonic() - started < BOUND_S


# -- the real command line, a few examples of each -----------------------------------------------------
def _run(*args: str | Path) -> subprocess.CompletedProcess:
    src = Path(ctxgrab.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "ctxgrab.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=30, env=env)


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=mutated_config(), data=st.data())
def test_the_command_line_exits_0_or_2_with_one_line(tmp_path_factory, demo_save: str, raw: bytes, data):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "ctxgrab.yaml").write_bytes(raw)
    (folder / "evidence.json").write_bytes(data.draw(mutated_evidence(demo_save)))
    for args in (["check", "-c", folder / "ctxgrab.yaml"], ["render", folder / "evidence.json"]):
        p = _run(*args)
        assert "Traceback" not in p.stderr, p.stderr[-2000:]
        # check exits 1 when a source or input does not answer: a result, not an error
        assert p.returncode in ((0, 1, 2) if args[0] == "check" else (0, 2)), (args, p.returncode, p.stderr)
        if p.returncode == 2:
            assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("ctxgrab: "), p.stderr
