"""ctxgrab's note on a PagerDuty incident: its text, how it is found again, and how it is updated.

One note per incident. The note's first line carries :data:`MARKER`, which is how
ctxgrab recognises its own note — to update it instead of adding a second one, and
to ignore the ``incident.annotated`` event that its own note causes (loop guard).

"Update" follows what the REST API allows. Since Nov 2025 PagerDuty has
``PUT /incidents/{id}/notes/{note_id}``; ctxgrab lists the incident's notes, finds
its own by the marker, and replaces the content with PUT. On an account or API
version that refuses the PUT (405, or 404 while the note is still listed), the
existing note is kept as it is — its link to ``GET /incidents/{id}/prompt`` always
serves the newest prompt — and no second note is added. A 404 because the note was
deleted meanwhile (it is no longer listed) writes a new one. Finding the note by marker (not only by a stored note id)
makes this safe across a crash between the POST and the job being marked done.

When the prompt is longer than the note's cap and the run that made it is at hand
(:class:`RenderedPrompt`, what the default prompt builder returns), the note is
rendered again for its size through the budget machinery (measured in characters):
detail goes first, the headline facts (what is happening, the rollback plan, the
ask) stay. A plain string that is too long is cut at a line end, saying so.

>>> text = format_note("# Incident\\n" + "line\\n" * 2000, service="payments", at="2026-03-04T09:15:02Z",
...                    prompt_url="https://ctx.example/incidents/Q1/prompt?sig=ab", max_chars=600)
>>> len(text) <= 600, is_ctxgrab_note(text)
(True, True)
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .pagerduty import PagerDutyClient, PagerDutyError

__all__ = ["MARKER", "RenderedPrompt", "format_note", "is_ctxgrab_note", "prompt_signature", "prompt_url", "upsert_note", "NoteResult"]

MARKER = "[ctxgrab-note]"


def is_ctxgrab_note(content: str | None) -> bool:
    """True when ``content`` (possibly trimmed by PagerDuty) is a note ctxgrab wrote."""
    return bool(content) and content.lstrip().startswith(MARKER)


def prompt_signature(incident_id: str, prompt_token: str) -> str:
    """Per-incident capability for the prompt link: knowing it opens this incident's prompt only."""
    return hmac.new(prompt_token.encode(), f"prompt:{incident_id}".encode(), hashlib.sha256).hexdigest()[:32]


def prompt_url(base_url: str | None, incident_id: str, prompt_token: str | None) -> str | None:
    """``{base}/incidents/{id}/prompt?sig=…``, or None when no public URL or token is configured."""
    if not base_url or not prompt_token:
        return None
    sig = prompt_signature(incident_id, prompt_token)
    return f"{base_url.rstrip('/')}/incidents/{quote(incident_id, safe='')}/prompt?sig={sig}"


class RenderedPrompt(str):
    """A prompt's markdown that remembers the run it came from (``result``, an ``IncidentResult``).

    It is a ``str`` everywhere (stored, served, hashed); :func:`format_note` uses the run to
    render the note for its size instead of cutting the text.
    """

    result: Any

    def __new__(cls, result: Any, markdown: str | None = None) -> "RenderedPrompt":
        obj = super().__new__(cls, result.markdown if markdown is None else markdown)
        obj.result = result
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        # Prompts are built in child processes: the run travels with the text.
        return (RenderedPrompt, (self.result, str(self)))


def _render_for(result: Any, max_chars: int) -> str:
    """The run's prompt rendered within ``max_chars`` characters by the budget machinery."""
    from ..api import render_result

    fitted = render_result(result.service, result.at, result.window, result.baseline, result.evidence,
                           description=result.description, template=result.template, max_chars=max_chars)
    return fitted.markdown.strip("\n")


def format_note(markdown: str, *, service: str, at: str, prompt_url: str | None, max_chars: int) -> str:
    """Plain-text note: marker line, link to the full prompt, then the prompt, within ``max_chars``.

    A :class:`RenderedPrompt` too long for the note is rendered again for the room left
    (trimming detail, keeping the headline facts); whatever is still too long is cut at a
    line end, and the cut says how much was kept and where the rest is.
    """
    head = [f"{MARKER} Incident context from ctxgrab — service {service}, as of {at}"]
    if prompt_url:
        head.append(f"Full prompt: {prompt_url}")
    header = "\n".join(head) + "\n\n"
    body = markdown.strip("\n")
    if len(header) + len(body) <= max_chars:
        return header + body
    result = getattr(markdown, "result", None)
    if result is not None:
        fitted = _render_for(result, max_chars - len(header))
        if len(header) + len(fitted) <= max_chars:
            return header + fitted
        body = fitted
    where = prompt_url or "not linked (set server.public_base_url and server.prompt_token)"
    tail_tpl = "\n\n… cut here: {kept} of {total} characters shown. Full prompt: {where}"
    tail = tail_tpl.format(kept=len(body), total=len(body), where=where)
    room = max(0, max_chars - len(header) - len(tail) - 2)
    cut = body[:room]
    nl = cut.rfind("\n")
    if nl > room // 2:
        cut = cut[:nl]
    tail = tail_tpl.format(kept=f"{len(cut):,}", total=f"{len(body):,}", where=where)
    return (header + cut.rstrip() + tail)[:max_chars]


@dataclass(frozen=True)
class NoteResult:
    """What :func:`upsert_note` did: ``created``, ``updated``, ``unchanged`` or ``kept`` (edit refused)."""

    note_id: str | None
    action: str
    removed_duplicates: int = 0


async def upsert_note(
    client: PagerDutyClient, incident_id: str, content: str, bot_user_id: str | None = None
) -> NoteResult:
    """Make ``content`` ctxgrab's one note on the incident: create it, or update the existing one.

    A note is ctxgrab's when it starts with :data:`MARKER` and, if ``bot_user_id`` is
    known, was written by that user (a person quoting the marker is left alone).
    """
    return await _upsert(client, incident_id, content, bot_user_id, relist=True)


async def _upsert(
    client: PagerDutyClient, incident_id: str, content: str, bot_user_id: str | None, *, relist: bool
) -> NoteResult:
    notes = await client.list_notes(incident_id)
    ours = [
        n
        for n in notes
        if is_ctxgrab_note(_content(n))
        and (bot_user_id is None or (n.get("user") or {}).get("id") in (None, bot_user_id))
    ]
    if not ours:
        note = await client.create_note(incident_id, content)
        return NoteResult(note.get("id"), "created")
    keep, extra = ours[0], ours[1:]
    removed = 0
    for n in extra:  # left by an older version or a race with another ctxgrab instance
        try:
            await client.delete_note(incident_id, n["id"])
            removed += 1
        except PagerDutyError as e:
            if e.retryable:
                raise
    if _content(keep) == content:
        return NoteResult(keep.get("id"), "unchanged", removed)
    try:
        note = await client.update_note(incident_id, keep["id"], content)
    except PagerDutyError as e:
        if e.retryable or e.status not in (404, 405):
            raise
        if e.status == 404 and relist:
            # 404 means "no such note" as well as "no note edits here": look again
            fresh = await client.list_notes(incident_id)
            if not any(n.get("id") == keep.get("id") for n in fresh):  # ours was deleted meanwhile
                again = await _upsert(client, incident_id, content, bot_user_id, relist=False)
                return NoteResult(again.note_id, again.action, removed + again.removed_duplicates)
        return NoteResult(keep.get("id"), "kept", removed)  # the note is there; it cannot be edited
    return NoteResult(note.get("id") or keep.get("id"), "updated", removed)


def _content(note: dict[str, Any]) -> str:
    return str(note.get("content") or "")
