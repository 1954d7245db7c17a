"""Incident kinds: signals pick the template; golden prompt per kind; saved evidence renders again."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import jinja2.meta
import pytest

import ctxgrab
from ctxgrab.api import load_evidence, render_result, save_evidence
from ctxgrab.errors import InputError, RenderError
from ctxgrab.render import environment
from ctxgrab.signals import choose_kind, derive, time_to_limit
from test_core_golden import check_golden

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = {
    # scenario: (config, service, expected kind)
    "memory_leak": (REPO / "fixtures/demo/ctxgrab.yaml", "payments", "memory_leak"),
    "error_spike": (REPO / "fixtures/scenarios/error_spike/ctxgrab.yaml", "checkout", "error_spike"),
    "latency": (REPO / "fixtures/scenarios/latency/ctxgrab.yaml", "search", "latency"),
    "saturation": (REPO / "fixtures/scenarios/saturation/ctxgrab.yaml", "orders", "saturation"),
    "generic": (REPO / "fixtures/scenarios/generic/ctxgrab.yaml", "inventory", "incident"),
}


@pytest.fixture(scope="module")
def results():
    return {name: ctxgrab.incident(service, config=cfg) for name, (cfg, service, _) in SCENARIOS.items()}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_selects_its_kind(results, scenario: str) -> None:
    r = results[scenario]
    expected = SCENARIOS[scenario][2]
    assert r.kind == expected and r.template == expected
    if expected != "incident":
        assert re.search(r"^Kind: \*\*[^*]+\*\*, chosen by [a-z_]+\.$", r.markdown, re.M)
    else:
        assert "Kind: **Incident** (no rule fired)." in r.markdown


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_golden_prompt_per_kind(results, scenario: str, update_golden: bool) -> None:
    # The memory-leak scenario is the demo, pinned once as demo_payments.md.
    name = "demo_payments.md" if scenario == "memory_leak" else f"kind_{scenario}.md"
    check_golden(name, results[scenario].markdown, update_golden)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_saved_evidence_renders_byte_identically(results, scenario: str, tmp_path: Path) -> None:
    r = results[scenario]
    path = tmp_path / "evidence.json"
    save_evidence(r, path)
    again = render_result(**load_evidence(path))
    assert again.markdown == r.markdown
    assert again.to_dict() == r.to_dict()


def test_render_cli_matches_the_live_cli(tmp_path: Path) -> None:
    cfg, service, _ = SCENARIOS["error_spike"]
    saved = tmp_path / "ev.json"
    live = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "incident", "-s", service, "-c", str(cfg),
                           "--save", str(saved)], capture_output=True, text=True, timeout=120)
    assert live.returncode == 0, live.stderr
    again = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "render", str(saved)], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout == live.stdout
    forced = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "render", str(saved), "--template", "latency"],
                            capture_output=True, text=True, timeout=120)
    assert "rendered with the `latency` template as asked" in forced.stdout


def test_evidence_schema_is_checked(tmp_path: Path, results) -> None:
    path = tmp_path / "ev.json"
    save_evidence(results["generic"], path)
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="newer ctxgrab .*schema 99.*fix: upgrade"):
        load_evidence(path)
    path.write_text('{"service": "x"}')
    with pytest.raises(InputError, match="not a ctxgrab evidence file"):
        load_evidence(path)
    path.write_text("{broken")
    with pytest.raises(InputError, match="not JSON"):
        load_evidence(path)
    data["schema_version"] = 1
    del data["window"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="malformed evidence file"):
        load_evidence(path)


def test_version_1_files_keep_rendering() -> None:
    """A file saved by this version is committed; later versions must still render it."""
    fixture = REPO / "tests" / "data" / "evidence_v1.json"
    loaded = load_evidence(fixture)
    out = render_result(**loaded).markdown
    assert out.startswith("# Incident context: checkout")
    assert "5xx ratio 8.0%" in out


def test_template_override_and_unknown_template(results) -> None:
    r = results["memory_leak"]
    with pytest.raises(RenderError, match="unknown template 'nope'.*memory_leak"):
        render_result(r.service, r.at, r.window, r.baseline, r.evidence, template="nope")


def test_user_template_extends_a_bundled_one(tmp_path: Path, results) -> None:
    (tmp_path / "memory_leak.md.j2").write_text(
        '{% extends "bundled/memory_leak.md.j2" %}\n'
        "{% block extra_constraints %}\n{{ super() }}"
        "8. **Change freeze.** Name the approver.\n{% endblock %}\n"
    )
    r = results["memory_leak"]
    out = render_result(r.service, r.at, r.window, r.baseline, r.evidence, templates_dir=tmp_path).markdown
    assert "7. **Soak test.**" in out and "8. **Change freeze.** Name the approver." in out


def test_template_packs_from_an_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results) -> None:
    pkg = tmp_path / "acme_ctxgrab"
    (pkg / "templates").mkdir(parents=True)
    (pkg / "collectors").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "templates" / "acme.md.j2").write_text("ACME prompt for {{ service }} ({{ kind }})\n")
    (pkg / "collectors" / "acmepack.yaml").write_text("name: acmepack\nmetrics: []\n")
    dist = tmp_path / "acme_ctxgrab-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ctxgrab\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[ctxgrab.packs]\nacme = acme_ctxgrab\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from ctxgrab import packs, render, resources

    resources.plugin_dirs.cache_clear()
    render.environment.cache_clear()
    try:
        r = results["latency"]
        out = render_result(r.service, r.at, r.window, r.baseline, r.evidence, template="acme").markdown
        assert out == "ACME prompt for search (latency)\n"
        assert packs.load_pack("acmepack").name == "acmepack"
    finally:
        resources.plugin_dirs.cache_clear()
        render.environment.cache_clear()


def _template_variables() -> dict[str, set[str]]:
    env = environment()
    out = {}
    for p in sorted((REPO / "templates").rglob("*.j2")):
        text = p.read_text()
        # jinja2.meta misses some names a template assigns itself ({% set %} inside branches).
        local = set(re.findall(r"\{%-?\s*set\s+([a-z_]\w*)\s*=", text))
        out[str(p.relative_to(REPO))] = jinja2.meta.find_undeclared_variables(env.parse(text)) - local
    return out


def test_every_template_variable_is_documented() -> None:
    doc = (REPO / "docs" / "templates.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", doc, re.M))
    missing = {name: sorted(v - documented) for name, v in _template_variables().items() if v - documented}
    assert not missing, f"docs/templates.md does not list: {missing}"


def test_time_to_limit() -> None:
    assert time_to_limit(6.0, 0.5, 8.0) == 4.0
    assert time_to_limit(6.0, 0.0, 8.0) is None
    assert time_to_limit(6.0, -1.0, 8.0) is None
    assert time_to_limit(9.0, 1.0, 8.0) == 0.0


def test_memory_leak_signal_states_time_to_exhaustion(results) -> None:
    sig = next(s for s in results["memory_leak"].signals if s["name"] == "memory_leak")
    assert sig["facts"]["hours_to_limit"] > 0
    assert "full in" in sig["summary"]


def test_generic_scenario_fires_nothing(results) -> None:
    assert results["generic"].signals == []
    assert choose_kind([]) == ("incident", [])
    assert "No rule fired" in results["generic"].markdown


def test_signals_come_with_their_numbers(results) -> None:
    for r in results.values():
        for s in r.signals:
            assert re.search(r"\d", s["summary"]), s
            assert s["facts"], s
    assert [s["name"] for s in derive([])] == []


def test_saved_template_and_budget_apply_when_rendering_again(tmp_path: Path) -> None:
    cfg, service, _ = SCENARIOS["memory_leak"]
    saved = tmp_path / "ev.json"
    live = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "incident", "-s", service, "-c", str(cfg),
                           "--template", "latency", "--budget", "2000", "--save", str(saved)],
                          capture_output=True, text=True, timeout=120)
    assert live.returncode == 0, live.stderr
    assert "rendered with the `latency` template as asked" in live.stdout
    again = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "render", str(saved)], capture_output=True,
                           text=True, timeout=120)
    assert again.stdout == live.stdout
    data = json.loads(saved.read_text())
    assert "duration_ms" not in data["evidence"][0]  # same evidence, same bytes


def test_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    cfg, service, _ = SCENARIOS["generic"]
    for flag in ("--save", "-o"):
        r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "incident", "-s", service, "-c", str(cfg), flag,
                            str(tmp_path / "no" / "such" / "dir" / "x")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert "cannot write: No such file or directory" in r.stderr and "Traceback" not in r.stderr
