"""The PagerDuty note is rendered for its size: the headline facts survive the note's cap."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import anyio

from ctxgrab.server.config import ServerConfig
from ctxgrab.server.notes import format_note, is_ctxgrab_note
from ctxgrab.server.worker import library_prompt_builder

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo" / "ctxgrab.yaml"
AT = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
URL = "https://ctx.example/incidents/Q1/prompt?sig=ab"


def _demo_prompt() -> str:
    build = library_prompt_builder(DEMO)
    return anyio.run(build, "payments", AT)


def test_demo_note_at_default_cap_keeps_rollback_plan_and_ask() -> None:
    cap = ServerConfig.model_fields["note_max_chars"].default
    assert cap == 4000
    markdown = _demo_prompt()
    assert len(markdown) > cap  # the whole prompt does not fit: the note must be made for its size
    note = format_note(markdown, service="payments", at=AT.isoformat(), prompt_url=URL, max_chars=cap)
    assert len(note) <= cap and is_ctxgrab_note(note)
    assert f"Full prompt: {URL}" in note.splitlines()[1]
    assert "v2.3.1" in note
    assert "`kubectl rollout undo deployment/payments -n prod`" in note
    assert "## What is happening" in note and "**memory_leak**: live set after GC 2.4 GiB → 7.5 GiB" in note
    assert "## What I need from you" in note
    assert "… cut here" not in note  # rendered to fit, not cut


def test_note_of_plain_text_is_still_cut_at_a_line_end() -> None:
    text = "# Incident\n" + "line of detail\n" * 2000
    note = format_note(text, service="payments", at=AT.isoformat(), prompt_url=URL, max_chars=600)
    assert len(note) <= 600 and "… cut here:" in note and note.count("line of detail") < 40


def test_rendered_prompt_survives_the_trip_from_the_collection_process() -> None:
    import pickle

    markdown = _demo_prompt()
    back = pickle.loads(pickle.dumps(markdown))
    assert back == markdown and back.result.evidence  # the child's run comes back with the text
    note = format_note(back, service="payments", at=AT.isoformat(), prompt_url=None, max_chars=4000)
    assert "v2.3.1" in note and "kubectl rollout undo" in note
