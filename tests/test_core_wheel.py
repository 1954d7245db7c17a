"""The wheel: built from the checkout, installed into a fresh venv, runs the demo from there."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-w", str(out), "-q"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    wheels = list(out.glob("ctxgrab-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_ships_templates_and_packs_but_not_fixtures_or_tests(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "ctxgrab/_data/templates/incident.md.j2" in names
    assert "ctxgrab/_data/collectors/jvm.yaml" in names
    assert "ctxgrab/_data/collectors/http.yaml" in names
    assert not [n for n in names if n.startswith(("fixtures/", "tests/", "benchmarks/")) or "/fixtures/" in n]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[ctxgrab.collectors]" in text and "ctxgrab.collectors.metrics:collect" in text


def test_installed_wheel_runs_the_demo(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # The test environment's packages are visible, so no network install is needed;
    # ctxgrab itself comes from the wheel (checked below).
    venv.EnvBuilder(with_pip=False, system_site_packages=True).create(env_dir)
    py = env_dir / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CTXGRAB_CONFIG")}
    where = subprocess.run([str(py), "-c", "import ctxgrab, ctxgrab.resources as r; print(ctxgrab.__file__); "
                            "print(r.bundled_dir('templates'))"], capture_output=True, text=True, cwd=cwd, env=env)
    assert where.returncode == 0, where.stderr
    module_file, templates = where.stdout.split()
    assert Path(module_file).is_relative_to(env_dir), module_file
    assert Path(templates).is_relative_to(env_dir) and templates.endswith("_data/templates")
    demo = REPO / "fixtures" / "demo" / "ctxgrab.yaml"
    r = subprocess.run([str(env_dir / "bin" / "ctxgrab"), "incident", "--service", "payments", "--config", str(demo)],
                       capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    from test_core_demo import DEMO_FACTS
    import re

    for what, rx in DEMO_FACTS:
        assert re.search(rx, r.stdout), f"installed wheel's prompt lacks: {what}"
