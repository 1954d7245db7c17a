"""Shared test helpers.

- ``--update-golden`` rewrites golden files instead of comparing with them.
- ``require_binary(name)``: the path of an executable; skips when missing, but fails
  under ``CTXGRAB_REQUIRE_INTEGRATION=1`` (set by CI), where every real part must run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEMO_CONFIG = REPO / "fixtures" / "demo" / "ctxgrab.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output instead of comparing")


def integration_required() -> bool:
    return os.environ.get("CTXGRAB_REQUIRE_INTEGRATION") == "1"


def missing(reason: str) -> None:
    """Skip locally; fail in CI, where every real part must be present."""
    if integration_required():
        pytest.fail(f"{reason} (CTXGRAB_REQUIRE_INTEGRATION=1: .ci/run must install it)")
    pytest.skip(reason)


def find_binary(name: str, *extra_dirs: str) -> str:
    path = shutil.which(name)
    if path is None:
        for d in extra_dirs:
            candidate = Path(d) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                path = str(candidate)
                break
    if path is None:
        missing(f"{name} not found on PATH")
    return path  # type: ignore[return-value]


@pytest.fixture
def require_binary():
    return find_binary


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def demo_config() -> Path:
    return DEMO_CONFIG


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        missing(f"shared data folder not found at {SHARED}")
    return SHARED
