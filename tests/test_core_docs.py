"""Docs are tested: the README's commands, every command's --help example, the public API."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

import ctxgrab
from ctxgrab.cli import app

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.S)


def test_readme_has_the_two_commands_and_ci_runs_the_second() -> None:
    demo, tests = readme_commands()
    assert "pip install ." in demo and "ctxgrab incident --service payments --config fixtures/demo/ctxgrab.yaml" in demo
    test_cmd = tests.split("&&")[-1].strip()
    assert test_cmd in (REPO / ".ci" / "run").read_text()


def test_readme_demo_command_runs() -> None:
    demo = readme_commands()[0]
    run = demo.split("&&")[-1].strip()  # the install steps are exercised by test_core_wheel
    argv = shlex.split(run)
    assert argv[0] == "ctxgrab"
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", *argv[1:]], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# Incident context: payments")


@pytest.mark.slow
def test_readme_first_command_on_a_clean_venv_prints_the_golden_demo(tmp_path: Path) -> None:
    """The README's first command, as a new user runs it: a venv with nothing but pip.

    Catches a dependency the package needs but does not declare (the test environment
    itself has every package installed).
    """
    demo = readme_commands()[0]
    clone = tmp_path / "checkout"
    r = subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:  # not a git checkout (e.g. an sdist): copy the tree
        import shutil

        shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(".venv", "__pycache__", ".pytest_cache"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CTXGRAB_CONFIG")}
    r = subprocess.run(["bash", "-c", demo.replace("pip install .", "pip install -q .")], capture_output=True,
                       text=True, cwd=clone, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "gave nothing" not in r.stderr, r.stderr  # every source of the demo answered
    assert r.stdout == (REPO / "tests" / "golden" / "demo_payments.md").read_text()


def _commands():
    group = get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", _commands())
def test_every_command_help_has_an_example(name: str) -> None:
    r = subprocess.run([sys.executable, "-m", "ctxgrab.cli", name, "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Example" in r.stdout and "ctxgrab " + name in r.stdout, r.stdout


def test_public_api_all_is_honest() -> None:
    for name in ctxgrab.__all__:
        assert hasattr(ctxgrab, name), name
    public = {n for n in dir(ctxgrab) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(ctxgrab, n)).__name__ == "module"}
    assert public - modules <= set(ctxgrab.__all__), sorted(public - modules - set(ctxgrab.__all__))
    for name in ("incident", "aincident", "IncidentResult", "Evidence", "redact"):
        assert name in ctxgrab.__all__
        assert getattr(ctxgrab, name).__doc__, f"{name} has no docstring"
