"""Log pattern mining: thousands of lines in, the few patterns that matter out.

Pure functions over messages and records; no I/O. Three steps:

1. **Mask** (per line, cheap): variable parts are replaced by a typed
   placeholder — ``<time>``, ``<url>``, ``<uuid>``, ``<path>``, ``<ip>``,
   ``<hex>``, ``<size>``, ``<duration>``, ``<num>``, ``<bool>`` — and any
   other token holding a digit, or the value of a ``key=value`` pair, becomes
   ``<*>``. Masked lines that are identical share a *signature*; per line the
   cost is the masking plus one dict lookup, which is what makes the miner fast.
2. **Cluster** (per unique signature, not per line): signatures of the same
   token count are grouped by their longest set of equally frequent constant
   tokens (the idea of Brain, Yu et al. 2023: the words of one template occur
   together, so they occur equally often), then each group is split on columns
   with few distinct words and generalised on columns with many (or whose every
   value is already a placeholder). One configuration for every log type.
3. **Summarise**: each pattern carries count, first/last seen, level, one
   example, whether it is new against a baseline and, for records with a Java
   or Python stack trace, the exception type and the top frames; the trace is
   part of the pattern's identity, so ``NullPointerException at
   PaymentService.process(PaymentService.java:42)`` is its own pattern.

Example::

    >>> recs = [LogRecord("Timeout calling ledger after 3000 ms", level="ERROR"),
    ...         LogRecord("Timeout calling ledger after 2950 ms", level="ERROR"),
    ...         LogRecord("GET /health 200", level="INFO")]
    >>> res = mine(recs)
    >>> [(p.template, p.count) for p in res.patterns]
    [('Timeout calling ledger after <duration>', 2), ('GET /health <num>', 1)]
    >>> group_messages(["user 7 logged in", "user 9 logged in", "disk full"])
    [0, 0, 1]
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Sequence

__all__ = [
    "LogRecord",
    "Pattern",
    "MiningResult",
    "TraceInfo",
    "PatternMiner",
    "mask",
    "parse_trace",
    "group_messages",
    "mine",
    "StreamingMiner",
    "normalize_level",
    "LEVEL_RANK",
    "rank_score",
    "is_lifecycle",
]

# ---------------------------------------------------------------- masking

_DELIM = r"\s=,;:()\[\]{}\"'|<>"
_NB = "[^" + _DELIM + "]"  # a character inside a token chunk
_NB_NODOT = "[^" + _DELIM + ".]"
_LB = "(?<!" + _NB + ")"  # chunk start
_RB = "(?!" + _NB + ")"  # chunk end
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_SIZE_UNIT = r"(?:bytes|B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)"

# Order matters: the most specific shapes first, the digit catch-all last.
# Each mask has a cheap guard: a substring test that skips the regex pass when
# the line cannot match (most lines skip most passes).
_TIME = (
    r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?\b"  # ISO 8601
    r"|\b(?:" + _DAY + r"\s+)?" + _MON + r"\s+\d{1,2}\s+\d\d:\d\d:\d\d(?:\s+\d{4})?\b"  # ctime, syslog
    r"|\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"  # a bare clock
)
_BOOLS = ("true", "false", "null", "None", "True", "False")
_Guard = str | tuple[str, ...] | re.Pattern[str]
# Masks that can span whitespace or need the whole line, each with a cheap
# guard (a substring, any of several, or a fast regex) that skips the pass when
# the line cannot match; most lines skip most passes.
_LINE_MASKS: list[tuple[_Guard, re.Pattern[str], str]] = [
    (re.compile(r"\d:\d\d"), re.compile(_TIME), "<time>"),
    ("://", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+"), "<url>"),
    ("=", re.compile(r"(?<==)(?:\"[^\"]*\"|'[^']*'|[^\s,;)\]}\"]+)"), "<*>"),  # key=value -> key=<*>
    (_BOOLS, re.compile(r"(?<=[a-zA-Z]:)(?:true|false|null)\b"), "<*>"),
    (_BOOLS, re.compile(r"\b(?:true|false|null|None|True|False)\b"), "<bool>"),
    (("B", "bytes"), re.compile(r"\b\d+(?:\.\d+)?\s*" + _SIZE_UNIT + r"(?:\s*\(\d+(?:\.\d+)?\s*" + _SIZE_UNIT
                                + r"\))?(?!\w)"), "<size>"),
    (re.compile(r"\d ?(?:ns|us|µs|ms|s|sec|min|h)"),
     re.compile(r"(?<![\w.])[<>~]?\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|mins?|minutes?|h|hrs?|hours?)"
                r"(?![\w.])"), "<duration>"),
    ("-", re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
]
# Masks that never cross whitespace: applied per token and cached per token
# shape, because the same shapes recur across lines (ids, counters, addresses).
_TOKEN_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/(?<!" + _NB + r"/)[\w.\-@~+%]+(?:/[\w.\-@~+%]+)+/?"), "<path>"),
    (re.compile(_LB + r"/?\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?" + _RB), "<ip>"),
    (re.compile(_LB + r"v?\d+\.\d+\.\d+(?:[-+][\w.-]+)?" + _RB), "<version>"),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(_LB + r"[-+]?\d+(?:\.\d+)?" + _RB), "<num>"),
    # any other chunk holding a digit (anchored at chunk starts: much cheaper than a bare scan)
    (re.compile("(?<!" + _NB_NODOT + ")(?=" + _NB_NODOT + r"*\d)" + _NB_NODOT + "+"), "<*>"),
]
# The masks treat every digit alike except 0 (``0x`` starts a hex number), so
# texts that differ only in their non-zero digits mask identically: the caches
# are keyed on the text with 2-9 turned into 1.
_DIGIT_KEY = str.maketrans("23456789", "11111111")
_DIGIT_KEY_BYTES = bytes.maketrans(b"23456789", b"11111111")  # the same key for a UTF-8 batch at once
_TOKEN_CACHE: dict[str, str] = {}
_TOKEN_CACHE_MAX = 100_000


def _mask_token(tok: str) -> str:
    key = tok.translate(_DIGIT_KEY)
    out = _TOKEN_CACHE.get(key)
    if out is None:
        out = tok
        for rx, repl in _TOKEN_MASKS:
            out = rx.sub(repl, out)
        if len(_TOKEN_CACHE) < _TOKEN_CACHE_MAX:
            _TOKEN_CACHE[key] = out
    return out


_PLACEHOLDER = re.compile(r"<[a-z*]+>")
_WILD = "<*>"

# Ranking columns: a column with this many distinct words or more is a variable
# (user names, host names); fewer distinct words split the pattern (Started /
# Stopped). Chosen once on the Loghub benchmark, see docs/benchmarks.md.
_VARIABLE_MIN_DISTINCT = 4


def mask(message: str, *, cache: bool = True) -> str:
    """The message with its variable parts replaced by typed placeholders.

    >>> mask("Connection from 10.0.0.7:5432 closed after 3.5s, user=alice")
    'Connection from <ip> closed after <duration>, user=<*>'
    """
    for guard, rx, repl in _LINE_MASKS:
        if type(guard) is str:
            if guard not in message:
                continue
        elif type(guard) is tuple:
            for g in guard:
                if g in message:
                    break
            else:
                continue
        elif guard.search(message) is None:  # type: ignore[union-attr]
            continue
        message = rx.sub(repl, message)
    if cache:
        return " ".join([tok if tok.isalpha() else _mask_token(tok) for tok in message.split()])
    out = []
    for tok in message.split():
        if not tok.isalpha():
            for rx, repl in _TOKEN_MASKS:
                tok = rx.sub(repl, tok)
        out.append(tok)
    return " ".join(out)


_SCANNER_STATE: list = []  # [module or None, time of the answer]
_SCANNER_RECHECK_S = 60.0


def _scanner():
    """The compiled masking scanner, or ``None`` (the regex path stays).

    ``None`` without numba, and while numba's cache does not hold the compiled scanner: compiling
    takes about a minute, longer than a collector's deadline, so it is done by a background process
    for later runs (looked for again every minute, for long-running processes such as ``serve``).
    """
    import time

    if _SCANNER_STATE and (_SCANNER_STATE[0] is not None or time.monotonic() - _SCANNER_STATE[1] < _SCANNER_RECHECK_S):
        return _SCANNER_STATE[0]
    from . import _maskscan

    found = None
    if _maskscan.loaded() or (_maskscan.available() and _maskscan.warm()):
        found = _maskscan if _maskscan.load() is not None else None
    elif _maskscan.available():
        _maskscan.warm_up_in_background()
    _SCANNER_STATE[:] = [found, time.monotonic()]
    return found


def _generic(token: str) -> str:
    return _PLACEHOLDER.sub(_WILD, token) if "<" in token else token


def _grouping_key(signature: tuple[str, ...]) -> tuple[str, ...]:
    # Typed placeholders compare equal when clustering (a field holding a
    # number in one line and a hex id in another is still one field), and a
    # run of variable tokens counts as one (lists of ids of any length).
    out: list[str] = []
    for tok in signature:
        tok = _generic(tok)
        if tok == _WILD and out and out[-1] == _WILD:
            continue
        out.append(tok)
    return tuple(out)


def _cluster(keys: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Map each grouping key (with its line count) to its template tokens."""
    by_len: dict[int, list[tuple[str, ...]]] = defaultdict(list)
    for k in keys:
        by_len[len(k)].append(k)
    out: dict[tuple[str, ...], tuple[str, ...]] = {}
    for length, group in by_len.items():
        if len(group) == 1:
            out[group[0]] = group[0]
            continue
        freq: Counter[tuple[int, str]] = Counter()
        for k in group:
            n = keys[k]
            for i, tok in enumerate(k):
                freq[(i, tok)] += n
        initial: dict[tuple[tuple[int, str], ...], list[tuple[str, ...]]] = defaultdict(list)
        for k in group:
            fs = [freq[(i, tok)] if tok != _WILD else -1 for i, tok in enumerate(k)]
            counts = Counter(f for f in fs if f >= 0)
            if counts:
                best = max(counts, key=lambda f: (counts[f], f))
                anchor = tuple((i, tok) for i, tok in enumerate(k) if fs[i] == best)
            else:
                anchor = ()
            initial[anchor].append(k)
        for members in initial.values():
            _split(members, length, out)
    return out


def _split(members: list[tuple[str, ...]], length: int, out: dict) -> None:
    stack = [members]
    while stack:
        group = stack.pop()
        template = list(group[0])
        columns = []
        for i in range(length):
            values = {k[i] for k in group}
            if len(values) > 1:
                columns.append((len(values), i))
        columns.sort()
        split_on = None
        for n, i in columns:
            if n >= _VARIABLE_MIN_DISTINCT or all(_WILD in k[i] for k in group):
                template[i] = _WILD
            else:
                split_on = i
                break
        if split_on is None:
            t = tuple(template)
            for k in group:
                out[k] = t
            continue
        parts: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for k in group:
            parts[k[split_on]].append(k)
        stack.extend(parts.values())


def group_messages(messages: Iterable[str]) -> list[int]:
    """For each message, the number of the pattern it belongs to (first seen = 0).

    This is what grouping accuracy is scored on (``benchmarks/bench_logs_ga.py``).
    """
    miner = PatternMiner()
    ids = miner.add_many(messages)
    sig_to_pattern = miner.assign()
    numbering: dict[str, int] = {}
    return [numbering.setdefault(sig_to_pattern[i], len(numbering)) for i in ids]


# add_many: the compiled scanner (``_maskscan``, numba) takes over once a miner has been handed this
# many lines; below it the regex path finishes before numba would have been imported and its compiled
# code read from the cache (about 1 s; see docs/benchmarks.md for the first compile).
_SCAN_AFTER_LINES = 100_000
_SCAN_CHUNK = 65_536  # lines per scanner call: bounds the joined copy of the batch
_SHAPE_SAMPLE = 256  # lines of a chunk that tell whether the line-shape cache is worth computing


def _shape_keys(lines: list[str]) -> list[bytes] | None:
    """add()'s line-shape keys (digits 2-9 -> 1), as UTF-8, for many lines at once; None if a line holds a newline."""
    keys = "\n".join(lines).encode("utf-8", "surrogatepass").translate(_DIGIT_KEY_BYTES).split(b"\n")
    return keys if len(keys) == len(lines) else None


class PatternMiner:
    """Streaming front end: ``add`` lines one at a time, ``assign`` once at the end.

    ``add`` costs one masking pass and a dict lookup and returns a signature
    number; clustering runs once over the unique signatures. Lines that differ
    only in their non-zero digits are masked once (``cache_size`` such shapes are kept;
    0 turns this cache and the per-token mask cache off).

    ``add_many`` gives the same numbers for a batch of lines; once ``scan_after`` lines have been
    handed to it, and numba is installed with the scanner in its cache, a compiled scanner masks
    whole batches at once (exactly as :func:`mask` does; lines it does not handle, such as
    non-ASCII ones, still go through :func:`mask`).

    >>> m = PatternMiner()
    >>> m.add_many(["user 7 logged in", "user 9 logged in", "disk full"])
    [0, 0, 1]
    """

    __slots__ = ("_sig_ids", "_cache", "_cache_max", "signatures", "counts", "_hash_sid", "_handed",
                 "_scan_after", "_shapes", "_shape_rest")

    def __init__(self, cache_size: int = 200_000, *, scan_after: int | None = None) -> None:
        self._sig_ids: dict[str, int] = {}
        self._cache: dict[str, int] = {}
        self._cache_max = cache_size
        self.signatures: list[str] = []
        self.counts: list[int] = []
        self._hash_sid: dict[int, tuple[int, int]] = {}  # scanner hash -> (signature, second hash)
        self._handed = 0
        self._scan_after = _SCAN_AFTER_LINES if scan_after is None else scan_after
        self._shapes: dict[bytes, int] = {}  # add_many's line-shape cache (UTF-8, 2-9 -> 1)
        self._shape_rest = 0  # chunks to go without it after one where it rarely hit

    def add(self, message: str, n: int = 1) -> int:
        key = message.translate(_DIGIT_KEY)
        sid = self._cache.get(key)
        if sid is None:
            masked = mask(message, cache=self._cache_max > 0)
            sid = self._signature(masked)
            if len(self._cache) < self._cache_max:
                self._cache[key] = sid
        self.counts[sid] += n
        return sid

    def _signature(self, masked: str) -> int:
        sid = self._sig_ids.get(masked)
        if sid is None:
            sid = self._sig_ids[masked] = len(self.signatures)
            self.signatures.append(masked)
            self.counts.append(0)
        return sid

    def add_many(self, messages: Iterable[str]) -> list[int]:
        """``[add(m) for m in messages]``, the same numbers; compiled for large inputs (see the class)."""
        lines = messages if isinstance(messages, list) else list(messages)
        self._handed += len(lines)
        scanner = _scanner() if self._handed > self._scan_after else None
        if scanner is None:
            add = self.add
            return [add(m) for m in lines]
        out: list[int] = []
        for k in range(0, len(lines), _SCAN_CHUNK):
            out += self._add_shaped(scanner, lines[k:k + _SCAN_CHUNK])
        return out

    def _add_shaped(self, scanner, lines: list[str]) -> list[int]:
        # The line-shape cache of add(), computed for a whole chunk in three C calls (join, encode,
        # translate). It pays where shapes repeat; where a sample of the chunk's first lines shows
        # that they do not (under one hit in eight), the chunk and the next eight skip it.
        if self._cache_max <= 0 or self._shape_rest > 0:
            self._shape_rest -= 1
            return self._add_scanned(scanner, lines)
        shapes = self._shapes
        sample = _shape_keys(lines[:_SHAPE_SAMPLE])
        if sample is None or sum(k in shapes for k in sample) * 8 < len(sample):
            self._shape_rest = 8
            sids = self._add_scanned(scanner, lines)
            if sample is not None:
                self._remember(sample, sids)
            return sids
        keys = _shape_keys(lines)
        if keys is None:
            return self._add_scanned(scanner, lines)
        sids = [shapes.get(k) for k in keys]
        miss = [i for i, sid in enumerate(sids) if sid is None]
        counts = self.counts
        for sid in sids:
            if sid is not None:
                counts[sid] += 1
        if miss:
            got = self._add_scanned(scanner, [lines[i] for i in miss])
            for i, sid in zip(miss, got):
                sids[i] = sid
            self._remember([keys[i] for i in miss], got)
        return sids  # type: ignore[return-value]

    def _remember(self, keys: list[bytes], sids: list[int]) -> None:
        shapes = self._shapes
        room = self._cache_max - len(shapes)
        for key, sid in zip(keys, sids):
            if room <= 0:
                return
            if key not in shapes:
                shapes[key] = sid
                room -= 1

    def _add_scanned(self, scanner, lines: list[str]) -> list[int]:
        import numpy as np

        h1, h2 = scanner.hashes(lines)
        uniq, first, inv = np.unique(h1, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        h2_first = h2[first]
        # A collision of the first hash shows as a second hash that differs: then this batch takes
        # the regex path (nothing has been counted yet).
        if (h2 != h2_first[inv]).any():
            return [self.add(m) for m in lines]
        ul, fl, yl = uniq.tolist(), first.tolist(), h2_first.tolist()
        known = self._hash_sid
        sid_u = [-1] * len(ul)
        new: list[int] = []
        for k, h in enumerate(ul):
            if h == 0:  # lines the scanner left to mask()
                continue
            got = known.get(h)
            if got is None:
                new.append(k)
            elif got[1] != yl[k]:
                return [self.add(m) for m in lines]
            else:
                sid_u[k] = got[0]
        # New signatures and mask() lines are numbered in order of first occurrence, as add() would.
        fallback = np.flatnonzero(h1 == 0).tolist() if ul and ul[0] == 0 else []
        texts = scanner.texts([lines[fl[k]] for k in new]) if new else []
        events = sorted([(fl[k], k) for k in new] + [(i, -1) for i in fallback])
        text_of = dict(zip(new, texts))
        fallback_sid: dict[int, int] = {}
        for i, k in events:
            if k < 0:
                fallback_sid[i] = self.add(lines[i])
                continue
            text = text_of[k]
            sid = self._signature(text if text is not None else mask(lines[i]))
            known[ul[k]] = (sid, yl[k])
            sid_u[k] = sid
        counts = self.counts
        for k, c in enumerate(np.bincount(inv, minlength=len(ul)).tolist()):
            if sid_u[k] >= 0:
                counts[sid_u[k]] += c
        out = np.asarray(sid_u, dtype=np.int64)[inv].tolist()
        for i, sid in fallback_sid.items():
            out[i] = sid
        return out

    def assign(self) -> list[str]:
        """For each signature number, its template text (typed where all members agree)."""
        keys: dict[tuple[str, ...], int] = Counter()
        key_of: list[tuple[str, ...]] = []
        tokens_of: list[tuple[str, ...]] = []
        for sig, n in zip(self.signatures, self.counts):
            toks = tuple(sig.split())
            k = _grouping_key(toks)
            keys[k] += n
            key_of.append(k)
            tokens_of.append(toks)
        clustered = _cluster(keys)
        # Display: keep a member's own token where the template is constant or
        # where every member agrees on the placeholder type.
        members: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for sid, k in enumerate(key_of):
            members[clustered[k]].append(sid)
        text_of = [""] * len(self.signatures)
        for template, sids in members.items():
            shown = list(template)
            for i, tok in enumerate(template):
                if _WILD not in tok:
                    continue
                seen = {_typed_at(key_of[s], tokens_of[s], i) for s in sids}
                shown[i] = seen.pop() if len(seen) == 1 else _WILD
            text = " ".join(shown)
            for s in sids:
                text_of[s] = text
        return text_of


def _typed_at(key: tuple[str, ...], tokens: tuple[str, ...], i: int) -> str:
    if len(key) != len(tokens):  # runs were collapsed: types are ambiguous
        return _WILD
    tok = tokens[i]
    return tok if _generic(tok) == key[i] or _PLACEHOLDER.fullmatch(tok) else _WILD


# ---------------------------------------------------------------- stack traces

_JAVA_FRAME = re.compile(r"^\s*at\s+([\w$.<>/]+)\(([^)]*)\)")
_JAVA_EXC = re.compile(r"^(?:Caused by:\s*|Exception in thread \"[^\"]*\"\s+)?([a-zA-Z_$][\w$]*(?:\.[\w$]+)+"
                       r"(?:Exception|Error|Throwable|Failure|Fault)\w*|[A-Z]\w*(?:Exception|Error))(?::\s*(.*))?$")
_JAVA_EXC_ANYWHERE = re.compile(r"\b((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)|[A-Z]\w*(?:Exception|Error))\b")
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
_PY_EXC = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning|Timeout)\w*)(?::\s*(.*))?$")


@dataclass(frozen=True)
class TraceInfo:
    """What identifies a stack trace: the (root-cause) exception type and the top frames."""

    language: str  # java | python
    exception: str  # e.g. java.lang.NullPointerException
    message: str
    frames: tuple[str, ...]  # innermost first, e.g. PaymentService.process(PaymentService.java:42)
    caused_by: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        """``NullPointerException at PaymentService.process(PaymentService.java:42)``."""
        name = self.exception.rsplit(".", 1)[-1]
        text = f"{name} at {self.frames[0]}" if self.frames else name
        if self.caused_by:
            text += ", caused by " + self.caused_by[-1].rsplit(".", 1)[-1]
        return text


def parse_trace(text: str, top_frames: int = 3) -> TraceInfo | None:
    """Find a Java or Python stack trace in ``text`` (the record's continuation lines).

    Java: the exception line, ``at ...`` frames, ``Caused by:`` chains (the
    innermost cause names the group, its first frames are the top frames).
    Python: ``Traceback (most recent call last):`` ... the last line names the
    exception, the last frames are the innermost.

    >>> t = parse_trace("java.lang.IllegalStateException: boom\\n\\tat a.b.C.run(C.java:7)")
    >>> t.exception, t.frames
    ('java.lang.IllegalStateException', ('C.run(C.java:7)',))
    """
    lines = text.splitlines()
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        return _parse_python(lines, top_frames)
    return _parse_java(lines, top_frames)


def _parse_java(lines: list[str], top_frames: int) -> TraceInfo | None:
    chain: list[tuple[str, str, list[str]]] = []
    previous = ""
    for ln in lines:
        fm = _JAVA_FRAME.match(ln)
        if fm:
            if not chain:
                # the exception was named inside the log line itself
                em = _JAVA_EXC_ANYWHERE.search(previous)
                chain.append((em.group(1) if em else "Exception", "", []))
            if chain:
                method, loc = fm.group(1), fm.group(2)
                cls, _, meth = method.rpartition(".")
                chain[-1][2].append(f"{cls.rsplit('.', 1)[-1]}.{meth}({loc})")
            continue
        s = ln.strip()
        if not s or s.startswith("..."):
            continue
        previous = s
        em = _JAVA_EXC.match(s)
        if em and (s.startswith("Caused by:") or not chain or not chain[-1][2] or s.startswith("Exception in")):
            chain.append((em.group(1), (em.group(2) or "").strip(), []))
    if not chain:
        return None
    # The outermost exception names the group (as the last exception does in
    # Python); its causes are part of the identity and shown after it.
    exc, msg, frames = chain[0]
    return TraceInfo("java", exc, msg, tuple(frames[:top_frames]), tuple(c[0] for c in chain[1:]))


def _parse_python(lines: list[str], top_frames: int) -> TraceInfo | None:
    frames: list[str] = []
    exc = msg = None
    causes: list[str] = []
    for ln in lines:
        fm = _PY_FRAME.match(ln)
        if fm:
            path, line_no, func = fm.groups()
            frames.append(f"{func}({path.rsplit('/', 1)[-1]}:{line_no})")
            continue
        if ln.startswith("Traceback (most recent call last)"):
            if exc:
                causes.append(exc)
            frames, exc, msg = [], None, None
            continue
        em = _PY_EXC.match(ln.strip()) if ln and not ln.startswith(" ") else None
        if em:
            exc, msg = em.group(1), (em.group(2) or "").strip()
    if exc is None:
        return None
    return TraceInfo("python", exc, msg or "", tuple(reversed(frames))[:top_frames], tuple(causes))


# ---------------------------------------------------------------- records and mining

LEVEL_RANK = {"FATAL": 0, "CRITICAL": 0, "ERROR": 1, "WARN": 2, "INFO": 3, "DEBUG": 4, "TRACE": 5}
_LEVEL_ALIASES = {
    "WARNING": "WARN", "ERR": "ERROR", "SEVERE": "ERROR", "CRIT": "CRITICAL", "EMERG": "FATAL",
    "ALERT": "FATAL", "PANIC": "FATAL", "NOTICE": "INFO", "INFORMATION": "INFO", "FINE": "DEBUG",
    "FINER": "TRACE", "FINEST": "TRACE", "E": "ERROR", "W": "WARN", "I": "INFO", "D": "DEBUG", "V": "TRACE",
    "F": "FATAL",
}


def normalize_level(level: str | None) -> str | None:
    """``warning`` -> ``WARN``, ``SEVERE`` -> ``ERROR``; unknown levels pass through upper-cased."""
    if not level:
        return None
    up = str(level).strip().upper()
    return _LEVEL_ALIASES.get(up, up) or None


@dataclass(slots=True)
class LogRecord:
    """One log record: a line, or a line with its stack trace / continuation lines."""

    message: str
    time: datetime | None = None
    level: str | None = None
    logger: str | None = None
    trace: str | None = None  # continuation lines (stack trace), without the first line
    source: str | None = None  # file:line or stream labels, for the example
    line_count: int = 1  # input lines this record spans (its trace included)
    offset: int | None = None  # byte offset of its first line in the file, when read from a file


@dataclass
class Pattern:
    """One mined pattern with what a person quotes about it."""

    id: str
    template: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    level: str | None
    example: str
    new: bool = False
    baseline_count: int | None = None
    exception: str | None = None
    frames: list[str] = field(default_factory=list)
    trace_summary: str | None = None
    logger: str | None = None
    lines: list[int] = field(default_factory=list, repr=False)  # record indexes, kept when asked

    @property
    def is_error(self) -> bool:
        return self.exception is not None or LEVEL_RANK.get(self.level or "", 9) <= LEVEL_RANK["ERROR"]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "template": self.template,
            "count": self.count,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "level": self.level,
            "example": self.example,
            "new": self.new,
            "baseline_count": self.baseline_count,
            "exception": self.exception,
            "frames": list(self.frames),
            "trace_summary": self.trace_summary,
            "logger": self.logger,
        }


@dataclass
class MiningResult:
    """Patterns in display order (by :func:`rank_score`: severity × volume × change), capped."""

    patterns: list[Pattern]
    patterns_total: int
    records: int
    error_records: int
    new_patterns: int
    baseline_records: int | None = None
    assignments: list[str] | None = None  # pattern id per input record, when asked
    baseline_error_records: int | None = None  # error-level or stack-trace records in the baseline
    baseline_empty: bool = False  # a baseline window was read and held no records: nothing is called new

    @property
    def patterns_omitted(self) -> int:
        return self.patterns_total - len(self.patterns)


_EXAMPLE_MAX_CHARS = 1000

# Ranking. Severity, volume and change against the baseline multiply, so a WARN that grew ninety-fold
# outranks a one-off ERROR, and start-up, shutdown and health-check chatter sinks.
_SEVERITY_WEIGHT = {"FATAL": 8.0, "CRITICAL": 8.0, "ERROR": 6.0, "WARN": 4.0, "INFO": 1.0, "DEBUG": 0.5,
                    "TRACE": 0.5}
_LIFECYCLE = re.compile(
    r"\b(?:start(?:ing|ed)?|stop(?:ping|ped)?|shut(?:ting)?\s?down|shutdown|initiali[sz](?:ing|ed|ation)|"
    r"bootstrap\w*|boot(?:ed|ing)|listening|ready|readiness|liveness|health(?:check|z|y)?|heartbeat|"
    r"registered|deregister\w*|graceful\w*|terminat(?:ing|ed)|closing|closed|warm(?:ing)?\s?up|"
    r"kube-probe|ELB-HealthChecker|/ready|/live|/ping)\b", re.IGNORECASE)
_LIFECYCLE_FACTOR = 0.2


def is_lifecycle(template: str) -> bool:
    """Whether a pattern reads like start-up, shutdown or health-check chatter."""
    return _LIFECYCLE.search(template) is not None


def rank_score(p: Pattern, comparable: bool = True) -> float:
    """How much a pattern matters: severity × volume × change against the baseline.

    Severity weighs FATAL 8, ERROR (or a stack trace) 6, WARN 4, INFO 1, DEBUG 0.5; volume is
    ``1 + log2(1 + count)``; change is ``1 + log2(growth)`` for growth over the baseline (a new
    pattern grows from zero: ``count + 1``), at least 0.5 for a shrinking one, and 1 when there is
    no comparable baseline. Lifecycle chatter below WARN counts a fifth.
    """
    import math

    level = p.level or ""
    sev = 6.0 if p.exception is not None and _SEVERITY_WEIGHT.get(level, 1.0) < 6.0 else \
        _SEVERITY_WEIGHT.get(level, 1.0)
    volume = 1.0 + math.log2(1 + p.count)
    change = 1.0
    if comparable and p.baseline_count is not None:
        growth = (p.count + 1) / (p.baseline_count + 1)
        change = 1.0 + math.log2(growth) if growth >= 1 else max(0.5, growth)
    noise = _LIFECYCLE_FACTOR if sev < 4.0 and is_lifecycle(p.template) else 1.0
    return sev * volume * change * noise


def _example(rec: LogRecord) -> str:
    text = rec.message if not rec.trace else rec.message + "\n" + "\n".join(rec.trace.splitlines()[:8])
    return text if len(text) <= _EXAMPLE_MAX_CHARS else text[: _EXAMPLE_MAX_CHARS - 1] + "…"


def _pattern_id(template: str, trace_key: tuple[str, ...] | None) -> str:
    h = hashlib.sha1(template.encode("utf-8", "replace"))
    if trace_key:
        h.update("\x00".join(trace_key).encode("utf-8", "replace"))
    return "p" + h.hexdigest()[:8]


_TRACE_CACHE_MAX = 10_000
_RECORD_BATCH = 4096  # records masked per PatternMiner.add_many call


@dataclass(slots=True)
class _Acc:
    """What one (signature, trace) group keeps while streaming: counters and one example."""

    seq: int  # order of its first record (the example of a merged pattern is the earliest)
    count: int
    first: datetime | None
    last: datetime | None
    level: str | None
    example: str
    logger: str | None
    info: TraceInfo | None


class StreamingMiner:
    """Mine records one at a time in memory that does not grow with the input's size.

    Per record it keeps nothing but counters: the masking signature, a count,
    first/last time, the most severe level and the first example of each
    (signature, stack trace) group; templates are assigned once at the end.
    Records wait in batches of 4096 to be masked together (:meth:`PatternMiner.add_many`).

    >>> m = StreamingMiner()
    >>> for i in range(3):
    ...     m.add(LogRecord(f"Timeout after {i} ms", level="ERROR"))
    >>> [(p.template, p.count) for p in m.result().patterns]
    [('Timeout after <duration>', 3)]
    """

    def __init__(self, *, top_frames: int = 3, with_assignments: bool = False) -> None:
        self._miner = PatternMiner()
        self._top = top_frames
        self._traces: dict[str, TraceInfo | None] = {}
        self._acc: dict[tuple, _Acc] = {}
        self._acc_keys: list[tuple] = []
        self._base: Counter[tuple] = Counter()
        self._base_errors = 0
        self._records = 0
        self._baseline_records = 0
        self._assign: list[int] | None = [] if with_assignments else None
        self._acc_index: dict[tuple, int] = {}
        # Records wait here to be masked as one batch (PatternMiner.add_many); every count is
        # read through a property that empties it first, so nothing is seen half-counted.
        self._pending: list[tuple[LogRecord, bool]] = []

    @property
    def records(self) -> int:
        """Records of the window counted so far."""
        self._flush()
        return self._records

    @property
    def baseline_records(self) -> int:
        """Records of the baseline window counted so far."""
        self._flush()
        return self._baseline_records

    @property
    def base_errors(self) -> int:
        """Error-level or stack-trace records of the baseline counted so far."""
        self._flush()
        return self._base_errors

    def _flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        sids = self._miner.add_many([rec.message for rec, _ in pending])
        count = self._count
        for (rec, baseline), sid in zip(pending, sids):
            count(rec, baseline, sid)

    def _trace(self, rec: LogRecord) -> TraceInfo | None:
        if not rec.trace:
            return None
        if rec.trace in self._traces:
            return self._traces[rec.trace]
        info = parse_trace(rec.message + "\n" + rec.trace, self._top)
        if len(self._traces) < _TRACE_CACHE_MAX:
            self._traces[rec.trace] = info
        return info

    def add(self, rec: LogRecord, baseline: bool = False) -> None:
        """Count one record of the window (or of the baseline window)."""
        self._pending.append((rec, baseline))
        if len(self._pending) >= _RECORD_BATCH:
            self._flush()

    def _count(self, rec: LogRecord, baseline: bool, sid: int) -> None:
        info = self._trace(rec)
        tkey = (info.exception, *info.frames, *info.caused_by) if info else None
        key = (sid, tkey)
        if baseline:
            self._baseline_records += 1
            self._base[key] += 1
            if tkey or LEVEL_RANK.get(normalize_level(rec.level) or "", 9) <= LEVEL_RANK["ERROR"]:
                self._base_errors += 1
            return
        level = normalize_level(rec.level)
        a = self._acc.get(key)
        if a is None:
            a = self._acc[key] = _Acc(self._records, 0, rec.time, rec.time, level, _example(rec), rec.logger, info)
            self._acc_index[key] = len(self._acc_keys)
            self._acc_keys.append(key)
        self._records += 1
        a.count += 1
        t = rec.time
        if t is not None:
            if a.first is None or t < a.first:
                a.first = t
            if a.last is None or t > a.last:
                a.last = t
        if level and LEVEL_RANK.get(level, 9) < LEVEL_RANK.get(a.level or "", 9):
            a.level = level
        if self._assign is not None:
            self._assign.append(self._acc_index[key])

    def result(self, *, max_patterns: int | None = 20, has_baseline: bool = False) -> MiningResult:
        """The patterns, ranked (:func:`rank_score`) and capped at ``max_patterns`` (``None`` keeps all)."""
        self._flush()
        texts = self._miner.assign()
        groups: dict[tuple, Pattern] = {}
        seq_of: dict[tuple, int] = {}
        pkey_of_acc: list[tuple] = []
        for key in self._acc_keys:
            a = self._acc[key]
            sid, tkey = key
            pkey = (texts[sid], tkey)
            pkey_of_acc.append(pkey)
            p = groups.get(pkey)
            if p is None:
                p = groups[pkey] = Pattern(id=_pattern_id(texts[sid], tkey), template=texts[sid], count=0,
                                           first_seen=a.first, last_seen=a.last, level=a.level, example=a.example,
                                           logger=a.logger)
                seq_of[pkey] = a.seq
                if a.info:
                    p.exception, p.frames, p.trace_summary = a.info.exception, list(a.info.frames), a.info.short
            elif a.seq < seq_of[pkey]:
                seq_of[pkey] = a.seq
                p.example, p.logger = a.example, a.logger
            p.count += a.count
            if a.first is not None and (p.first_seen is None or a.first < p.first_seen):
                p.first_seen = a.first
            if a.last is not None and (p.last_seen is None or a.last > p.last_seen):
                p.last_seen = a.last
            if a.level and LEVEL_RANK.get(a.level, 9) < LEVEL_RANK.get(p.level or "", 9):
                p.level = a.level
        base_counts: Counter[tuple] = Counter()
        for (sid, tkey), n in self._base.items():
            base_counts[(texts[sid], tkey)] += n
        comparable = has_baseline and self.baseline_records > 0  # an empty baseline says nothing about "new"
        for pkey, p in groups.items():
            if has_baseline:
                p.baseline_count = base_counts.get(pkey, 0)
                p.new = comparable and p.baseline_count == 0
        ordered = sorted(groups.values(), key=lambda p: (-rank_score(p, comparable), p.template))
        kept = ordered if max_patterns is None else ordered[:max_patterns]
        assignments = None
        if self._assign is not None:
            ids = [groups[pk].id for pk in pkey_of_acc]
            assignments = [ids[i] for i in self._assign]
        return MiningResult(
            baseline_empty=has_baseline and not self.baseline_records,
            patterns=kept,
            patterns_total=len(ordered),
            records=self.records,
            error_records=sum(p.count for p in ordered if p.is_error),
            new_patterns=sum(1 for p in ordered if p.new),
            baseline_records=self.baseline_records if has_baseline else None,
            baseline_error_records=self.base_errors if has_baseline else None,
            assignments=assignments,
        )


def mine(
    records: Iterable[LogRecord],
    baseline: Iterable[LogRecord] | None = None,
    *,
    max_patterns: int | None = 20,
    top_frames: int = 3,
    with_assignments: bool = False,
) -> MiningResult:
    """Mine ``records`` into patterns, compared with ``baseline`` records when given.

    Window and baseline are clustered together, so a pattern that also occurs
    in the baseline gets the same template and is not "new"; only records of
    the window are counted. ``max_patterns`` caps the list after ordering
    (:func:`rank_score`: severity × volume × growth over the baseline); ``None`` keeps all.
    Records are consumed one at a time (:class:`StreamingMiner`), so generators work.
    """
    m = StreamingMiner(top_frames=top_frames, with_assignments=with_assignments)
    for r in records:
        m.add(r)
    if baseline is not None:
        for r in baseline:
            m.add(r, baseline=True)
    return m.result(max_patterns=max_patterns, has_baseline=baseline is not None)
