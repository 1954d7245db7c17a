"""Token budget: make the prompt fit, trimming detail before facts, and say what was trimmed.

Two entry points:

- :func:`count_tokens` counts tokens offline. No exact tokenizer of the major
  model families ships inside a dependency ctxgrab already has, so this is a
  calibrated estimate (see below); it errs on the high side, so a prompt that
  fits by this count fits the model.
- :func:`fit_to_budget` renders, and while the text is over budget re-renders
  with progressively trimmed copies of the evidence: fewer series points first,
  then shorter long strings (log examples, stack traces), then fewer items in
  every long list (log patterns, heap classes, GC events, ...). Each evidence's
  title, status and reason are never touched and every list keeps its first
  (top) item, so the headline facts survive any budget. The notes it returns
  ("Heap dump: first 5 of classes (12), histogram (20)") are shown in the prompt.

Example::

    >>> from ctxgrab.evidence import Evidence
    >>> ev = Evidence(kind="logs", name="app", title="app log",
    ...               data={"patterns": [{"template": f"error {i}", "count": 100 - i} for i in range(40)]})
    >>> def render(evs, notes):
    ...     lines = [p["template"] for e in evs for p in e.data["patterns"]]
    ...     return "\\n".join(lines + notes)
    >>> text, notes = fit_to_budget([ev], render, budget_tokens=60)
    >>> count_tokens(text) <= 60, notes
    (True, ['app log: first 10 of patterns (40)'])

The estimate
------------
A handful of features are counted over the UTF-8 bytes with ``bytes.translate``
and ``split`` (about 7 MB/s, so a 10 kB prompt takes under 2 ms): letter runs, letters past the sixth of
long runs, groups of up to three digits, punctuation runs and their repeats,
non-ASCII characters, newline runs and indentation runs. Their weights were
fitted by least squares against the larger of the exact o200k_base and
cl100k_base counts, and the sum is multiplied by :data:`SAFETY_FACTOR` so that
the estimate is at or above the exact count for 95% of the calibration pieces.
``benchmarks/calibrate_tokens.py`` re-measures it (rendered prompts, log samples,
JSON payloads, source code, docs); the figures are in ``docs/benchmarks.md``
(redaction section).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from ..evidence import Evidence

__all__ = ["count_tokens", "fit_to_budget", "cut_text", "SAFETY_FACTOR", "LEVELS", "DETAILS"]

#: Multiplier that puts the estimate at or above the exact count for 95% of calibration pieces.
SAFETY_FACTOR = 1.145

# Features and their weights (least squares on estimate/exact, fitted on the corpus of
# benchmarks/calibrate_tokens.py against max(o200k_base, cl100k_base)).
_W_WORD = 1.197  # per letter run
_W_LONG_LETTER = 0.204  # per letter past the 6th of a long run
_W_DIGITS = 1.282  # per group of up to 3 digits
_W_PUNCT_RUN = 0.397  # per run of one punctuation character
_W_PUNCT_REPEAT = 0.052  # per repeat inside such a run
_W_NON_ASCII = 1.95  # per non-ASCII character
_W_NEWLINES = 1.088  # per run of newlines
_W_INDENT = 0.497  # per run of 2+ spaces or tabs


def _table(keep: Callable[[int], bool], mark: bytes = b"x") -> bytes:
    return bytes(mark[0] if keep(i) else 32 for i in range(256))


# One byte-translation per feature turns counting into C-speed bytes.split()/count().
_LETTERS = _table(lambda i: 65 <= i <= 90 or 97 <= i <= 122)
_DIGIT_BYTES = _table(lambda i: 48 <= i <= 57)
_NEWLINE_BYTES = _table(lambda i: i == 10)
_BLANK_BYTES = _table(lambda i: i in (9, 32))
_HIGH_BYTES = bytes(range(128, 256))
_PUNCT_BYTES = bytes(i if 33 <= i <= 126 and not chr(i).isalnum() else 32 for i in range(256))


def _features(text: str) -> tuple[int, ...]:
    """Counts the estimate weighs, in the order of :data:`_WEIGHTS`."""
    raw = text.encode("utf-8", "surrogatepass")
    words = raw.translate(_LETTERS).split()
    long_letters = sum(len(w) - 6 for w in words if len(w) > 6)
    digit_groups = sum((len(d) + 2) // 3 for d in raw.translate(_DIGIT_BYTES).split())
    punct_chars = raw.translate(_PUNCT_BYTES)
    punct = len(raw) - punct_chars.count(b" ")
    punct_runs = 0
    for chunk in punct_chars.split():
        punct_runs += 1 if len(chunk) == 1 else 1 + sum(1 for a, b in zip(chunk, chunk[1:]) if a != b)
    non_ascii = 0 if text.isascii() else len(text) - len(raw.translate(None, _HIGH_BYTES))
    newline_runs = len(raw.translate(_NEWLINE_BYTES).split())
    indent_runs = sum(1 for r in raw.translate(_BLANK_BYTES).split() if len(r) > 1)
    return (len(words), long_letters, digit_groups, punct_runs, punct - punct_runs, non_ascii, newline_runs,
            indent_runs)


_WEIGHTS = (_W_WORD, _W_LONG_LETTER, _W_DIGITS, _W_PUNCT_RUN, _W_PUNCT_REPEAT, _W_NON_ASCII, _W_NEWLINES, _W_INDENT)


def count_tokens(text: str) -> int:
    """Estimated token count of ``text`` (offline, deterministic, slightly high).

    >>> count_tokens("")
    0
    >>> 5 <= count_tokens("heap used 2.0 GB -> 7.9 GB over 12 h") <= 25
    True
    """
    if not text:
        return 0
    total = sum(w * f for w, f in zip(_WEIGHTS, _features(text)))
    return math.ceil(total * SAFETY_FACTOR)


@dataclass(frozen=True)
class Level:
    """Limits applied at one trim level (None: no limit)."""

    points: int | None  # points kept per series, evenly spaced, first and last always
    string_chars: int | None  # longer strings are cut to this many characters
    list_items: int | None  # other lists keep their first N items


#: From no trimming to the most that is ever trimmed; fit_to_budget picks the lightest that fits.
LEVELS: tuple[Level, ...] = (
    Level(None, None, None),
    Level(120, None, None),
    Level(60, 4000, 50),
    Level(30, 2000, 30),
    Level(24, 1200, 20),
    Level(16, 800, 15),
    Level(12, 500, 12),
    Level(8, 400, 10),
    Level(6, 300, 8),
    Level(4, 240, 6),
    Level(3, 200, 5),
    Level(2, 160, 4),
    Level(2, 120, 3),
    Level(2, 100, 2),
    Level(2, 80, 1),
)

# Strings under these keys are headline facts: never shortened.
_HEADLINE_KEYS = frozenset(
    {"title", "status", "reason", "verdict", "summary", "rollback", "rollback_command", "command", "unit",
     "version", "current", "previous", "last_good", "name", "kind", "exception", "collector"}
)
_MIN_STRING_CHARS = 60
# The current state and the settings that bound resources are headline facts, and
# small: evidence of these kinds is never trimmed.
_KEEP_WHOLE_KINDS = frozenset({"settings", "deploys", "postgres"})
# Kept as they are because prompts do not show them: cutting them saves no tokens.
_UNSHOWN_KEYS = frozenset({"query"})


def _is_points(value: list[Any]) -> bool:
    """A time series: a list of [timestamp, value] pairs."""
    if len(value) < 3:
        return False
    for item in (value[0], value[-1]):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], (int, float))):
            return False
    return True


def _thin(points: list[Any], keep: int) -> list[Any]:
    """``keep`` points evenly spaced over the series, first and last included."""
    if len(points) <= keep:
        return points
    if keep <= 1:
        return [points[-1]]
    step = (len(points) - 1) / (keep - 1)
    return [points[round(i * step)] for i in range(keep)]


class _Trimmer:
    def __init__(self, level: Level) -> None:
        self.level = level
        # (what, label) -> [count of trimmed things, largest original size, kept]
        self.trims: dict[tuple[str, str], list[int]] = {}

    def _record(self, what: str, label: str, original: int, kept: int) -> None:
        entry = self.trims.setdefault((what, label), [0, 0, kept])
        entry[0] += 1
        entry[1] = max(entry[1], original)
        entry[2] = kept

    def walk(self, value: Any, key: str) -> Any:
        level = self.level
        if isinstance(value, dict):
            return {k: self.walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            if _is_points(value):
                if level.points is not None and len(value) > level.points:
                    self._record("points", key, len(value), level.points)
                    return _thin(value, level.points)
                return value
            items = value
            if level.list_items is not None and len(items) > level.list_items:
                self._record("items", key, len(items), level.list_items)
                items = items[: level.list_items]
            return [self.walk(v, key) for v in items]
        if (isinstance(value, str) and level.string_chars is not None and key not in _HEADLINE_KEYS
                and key not in _UNSHOWN_KEYS):
            limit = max(level.string_chars, _MIN_STRING_CHARS)
            if len(value) > limit:
                self._record("chars", key, len(value), limit)
                return cut_text(value, limit)
        return value





# The line of a stack trace that says what went wrong: "java.sql.SQLException: message",
# "Caused by: ...", Python's "KeyError: 'x'". Its message is what names the cause.
_EXCEPTION_LINE = re.compile(
    r"^\s*(?:Caused by: )?(?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*(?:Exception|Error|Throwable|Fault|Failure)\b[:\s]")


def cut_text(value: str, limit: int) -> str:
    """``value`` in at most about ``limit`` characters, keeping what matters in a log example.

    A multi-line example keeps its exception lines (class *and* message, the root ``Caused by:``
    included) before anything else, then its first line, then the lines that follow in order; a
    single line is cut at the end. Lines that are left out are marked with ``…``.

    >>> ex = ("2026-03-02T10:00:00Z ERROR [exec-7] o.h.e.j.s.SqlExceptionHelper - " + "x" * 120,
    ...       "org.postgresql.util.PSQLException: FATAL: remaining connection slots are reserved",
    ...       "    at org.postgresql.Driver.connect(Driver.java:297)")
    >>> "PSQLException: FATAL: remaining connection slots are reserved" in cut_text(chr(10).join(ex), 160)
    True
    """
    if len(value) <= limit:
        return value
    lines = value.split("\n")
    if len(lines) == 1:
        return value[: limit - 1].rstrip() + "…"
    wanted = [i for i, line in enumerate(lines) if _EXCEPTION_LINE.match(line)]
    order = wanted[:1] + wanted[-1:] + [0] + wanted[1:-1] + list(range(1, len(lines)))
    keep: dict[int, str] = {}
    room = limit
    for i in dict.fromkeys(order):
        line = lines[i]
        if room <= 0:
            break
        if len(line) + 1 > room:
            if i in wanted or i == 0:  # the message and the header are kept, shortened
                keep[i] = line[: max(room - 1, 20)].rstrip() + "…"
                room = 0
            continue
        keep[i] = line
        room -= len(line) + 1
    out, last = [], -1
    for i in sorted(keep):
        if i != last + 1:
            out.append("…")
        out.append(keep[i])
        last = i
    if last != len(lines) - 1:
        out.append("…")
    return "\n".join(out)


def _names(titles: list[str]) -> str:
    shown = ", ".join(titles[:3])
    return shown if len(titles) <= 3 else f"{shown} and {len(titles) - 3} more"


def _trim(evidence: list[Evidence], level: Level) -> tuple[list[Evidence], list[str]]:
    """Trimmed copies of ``evidence`` at ``level``, and short notes that say what went.

    One note for thinned series across all evidence, then one per evidence that lost
    list items or text, so the notes stay a few lines even when much is trimmed.
    """
    trimmed: list[Evidence] = []
    points: dict[int, list[Any]] = {}  # kept -> [titles, largest original]
    per_evidence: list[str] = []
    for ev in evidence:
        if ev.kind in _KEEP_WHOLE_KINDS:
            trimmed.append(ev)
            continue
        t = _Trimmer(level)
        data = t.walk(ev.data, ev.kind)
        if not t.trims:
            trimmed.append(ev)
            continue
        trimmed.append(ev.model_copy(update={"data": data}))
        lists, texts, chars = [], [], 0
        for (what, label), (_count, original, kept) in sorted(t.trims.items(), key=lambda kv: kv[0][1]):
            name = label.replace("_", " ")
            if what == "points":
                entry = points.setdefault(kept, [[], 0])
                entry[0].append(ev.title)
                entry[1] = max(entry[1], original)
            elif what == "items":
                lists.append((name, original, kept))
            else:
                texts.append(name)
                chars = kept
        parts = []
        if lists:
            kept = lists[0][2]
            parts.append(f"first {kept} of " + ", ".join(f"{n} ({o})" for n, o, _k in lists))
        if texts:
            parts.append(f"{', '.join(texts)} cut to {chars} characters")
        if parts:
            per_evidence.append(f"{ev.title}: " + "; ".join(parts))
    notes = [f"series thinned to {kept} points each, evenly spaced (from up to {original}): {_names(titles)}"
             for kept, (titles, original) in sorted(points.items())]
    return trimmed, notes + per_evidence


#: Template detail levels tried, in order, when trimming the evidence is not enough:
#: "brief" shows one line per source, "headline" only the signals, the current
#: state, the settings and the ask.
DETAILS: tuple[str, ...] = ("brief", "headline")


def fit_to_budget(
    evidence: list[Evidence],
    render: Callable[..., str],
    budget_tokens: int,
    *,
    details: tuple[str, ...] = (),
    measure: Callable[[str], int] = count_tokens,
    unit: str = "tokens",
) -> tuple[str, list[str]]:
    """Render within ``budget_tokens`` by trimming low-priority detail; return the text and the trim notes.

    ``render(evidence, notes)`` must produce the prompt and show ``notes``. The
    lightest trim level that fits is found by bisection (the token count falls
    as the level rises), so a prompt is rendered about five times at most.

    When the heaviest trim still does not fit and ``details`` names template
    detail levels (see :data:`DETAILS`), ``render(evidence, notes, detail=D)`` is
    tried with each in turn: the template then shows less per source, never the
    headline facts. If nothing fits, the smallest rendering is returned with a
    last note saying by how much it is over.

    ``measure`` sizes a rendering (tokens by default; ``len`` with ``unit="characters"``
    fits a PagerDuty note, whose cap is in characters, through the same trimming).

    Example::

        markdown, notes = fit_to_budget(evidence, lambda evs, notes: render(evs, notes), 4000)
    """
    text = render(evidence, [])
    if measure(text) <= budget_tokens:
        return text, []

    def search(detail: str | None) -> tuple[str, list[str], int]:
        """The lightest trim level that fits at this template detail, or the heaviest."""
        cache: dict[int, tuple[str, list[str], int]] = {}
        extra = [_DETAIL_NOTES[detail]] if detail else []

        def attempt(i: int) -> tuple[str, list[str], int]:
            if i not in cache:
                evs, notes = _trim(evidence, LEVELS[i])
                # Below full detail the sections these notes describe are not shown.
                notes = extra if detail else notes
                out = render(evs, notes, detail=detail) if detail else render(evs, notes)
                cache[i] = (out, notes, measure(out))
            return cache[i]

        lo, hi = (1 if detail is None else 0), len(LEVELS) - 1
        if attempt(hi)[2] > budget_tokens:
            return attempt(hi)
        while lo < hi:
            mid = (lo + hi) // 2
            if attempt(mid)[2] <= budget_tokens:
                hi = mid
            else:
                lo = mid + 1
        return attempt(lo)

    for detail in (None, *details):
        text, notes, used = search(detail)
        if used <= budget_tokens:
            return text, notes
    # Nothing fits: the smallest rendering, saying by how much it is over.
    evs, notes = _trim(evidence, LEVELS[-1])
    detail = details[-1] if details else None
    over = ([_DETAIL_NOTES[detail]] if detail else notes) + [
        f"the prompt is still about {used} {unit}, over the {budget_tokens}-{unit.rstrip('s')} budget; "
        "headline facts are never dropped"]
    return (render(evs, over, detail=detail) if detail else render(evs, over)), over


_DETAIL_NOTES = {
    "brief": "one line per source instead of the full observations",
    "headline": "observations left out; only the signals, the current state, the settings and the ask remain",
}
