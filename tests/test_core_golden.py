"""Golden prompts: rendered output compared byte for byte with committed files.

Update deliberately with ``pytest tests/test_core_golden.py --update-golden`` and read the diff.
"""

from __future__ import annotations

from pathlib import Path

import ctxgrab

GOLDEN = Path(__file__).resolve().parent / "golden"


def check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} missing: run pytest --update-golden once and commit it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered"))
        raise AssertionError(f"{name} differs from the golden file (rerun with --update-golden if intended):\n{diff}")


def test_demo_prompt_matches_golden(demo_config: Path, update_golden: bool) -> None:
    check_golden("demo_payments.md", ctxgrab.incident("payments", config=demo_config).markdown, update_golden)
