"""Log line layout, inferred once per file from a sample of its lines, then compiled.

Production files carry a header before each message: a timestamp (not always
at the line start), a level, a pid, a thread, a logger or program name, a
host. Mining the whole line splits one template by host or pid, so the header
is separated from the message here, and only the message is mined.

:func:`infer_format` looks at up to a few hundred lines and decides:

* **where the timestamp is and its layout** — ISO 8601 and its variants
  (``2026-03-02 10:15:00,123``, ``2026/03/02``, ``2005-06-03-15.42.50.675872``),
  syslog/ctime (``Mar  2 10:15:00``, ``Sun Dec 04 04:47:44 2005``), access logs
  (``[02/Mar/2026:10:15:00 +0000]``), ``02 Mar 2026 10:15:00`` (Redis),
  ``02-Mar-2026`` (Tomcat), klog/glog (``E0517 15:04:22.619632``), compact forms
  (``081109 203615``, ``20171223-22:15:29:606``, ``17/06/09 20:10:40``,
  ``[10.30 16:49:06]``, ``03-17 16:13:38.811``), time-only rows under a W3C
  ``#Date:`` directive, and epoch seconds/ms/µs/ns; the layout found on the most
  sample lines wins, at the token position where most lines have it;
* **the header fields after it** — separators, the level (words in any case,
  ``[error]``, ``ERROR:``, syslog ``<PRI>``, klog/MongoDB letters when the file
  has a column of them), pids, ``[thread]`` groups, a dotted logger, ``prog[pid]:``
  and ``component:`` fields, padded columns — each kind voted on over the sample,
  so a file whose messages merely start with a number keeps its number;
* **logfmt** lines (``time=… level=… msg=…``) and **pipe-delimited** headers.

The result, a :class:`LineFormat`, parses one line into ``(time, level,
logger, message)`` or says the line has no timestamp (a continuation line).
Times without a zone are read in the file's zone (``tz``, default UTC); zone
abbreviations in the line (``PDT``) are honoured; year-less layouts take their
year from ``ref`` (the file's modification time) and roll back a year for
dates that would be after it (a file that crosses New Year).

Example::

    >>> fmt = infer_format(["081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating"])
    >>> t, level, logger, msg = fmt.parse("081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 terminating")
    >>> t.isoformat(), level, msg
    ('2008-11-09T20:38:07+00:00', 'INFO', 'PacketResponder 0 terminating')
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Iterable, Sequence

__all__ = ["LineFormat", "infer_format", "level_word", "syslog_severity", "zone", "ZONE_ABBREVIATIONS"]

UTC = timezone.utc
_MON = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                    "dec"), 1)}
_MONRX = r"(?P<b>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DAYRX = r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?\s+)"
# Zone abbreviations as written by strftime %Z / syslog; ambiguous ones take their most common reading
# (CST = US Central, IST = India). Hours east of UTC.
ZONE_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "MET": 1, "MEST": 2,
    "EET": 2, "EEST": 3, "MSK": 3, "IST": 5.5, "PKT": 5, "ICT": 7, "WIB": 7, "SGT": 8, "HKT": 8, "AWST": 8,
    "JST": 9, "KST": 9, "ACST": 9.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13, "HST": -10, "AKST": -9,
    "AKDT": -8, "PST": -8, "PDT": -7, "MST": -7, "MDT": -6, "CST": -6, "CDT": -5, "EST": -5, "EDT": -4,
    "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5, "BRT": -3, "ART": -3,
}
_ZONE = (r"(?:\s?(?P<z>Z|[+-]\d\d:?\d\d|[+-]\d\d(?![\d:])|(?:" + "|".join(sorted(ZONE_ABBREVIATIONS, key=len,
                                                                                    reverse=True))
         + r")(?![A-Za-z])))?")
# fraction, then a 12-hour clock's AM/PM (Java's `hh:mm:ss:SSS a`): `02:49:59:447 PM` is 14:49:59.447
_FRAC = r"(?:[.,:](?P<f>\d{1,9}))?(?:\s?(?P<ampm>[AaPp][Mm])(?!\w))?"
_HMS = r"(?P<H>[012]?\d):(?P<M>[0-5]\d):(?P<S>[0-6]\d)"

# (name, regex, year-less). Order is the tie-break: the more specific first.
_LAYOUTS: list[tuple[str, str, bool]] = [
    # glog since 0.7 writes the year (I20200308 23:47:32.089828); klog and older glog do not
    ("glog", r"(?P<L>[IWEFD])(?P<Y>(?:19|20)\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d) " + _HMS + _FRAC, False),
    ("glog-yy", r"(?P<L>[IWEFD])(?P<y>\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d) " + _HMS + _FRAC, False),  # CockroachDB
    ("klog", r"(?P<L>[IWEFD])(?P<m>[01]\d)(?P<d>[0-3]\d) " + _HMS + _FRAC, True),
    ("iso", r"(?P<Y>(?:19|20)\d\d)(?P<s1>[-/.])(?P<m>[01]?\d)(?P=s1)(?P<d>[0-3]?\d)(?:[T ]+|T?-|_)" + _HMS + _FRAC
     + _ZONE, False),
    ("iso-dots", r"(?P<Y>(?:19|20)\d\d)-(?P<m>[01]\d)-(?P<d>[0-3]\d)-(?P<H>[012]\d)\.(?P<M>[0-5]\d)\.(?P<S>[0-6]\d)"
     r"(?:\.(?P<f>\d{1,9}))?", False),
    ("compact", r"(?P<Y>(?:19|20)\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)[-T ]?(?:(?P<H>[012]\d)(?P<M>[0-5]\d)(?P<S>[0-6]\d)|"
     r"(?P<H2>[012]?\d):(?P<M2>[0-5]?\d):(?P<S2>[0-6]?\d))"
     + _FRAC + _ZONE, False),
    # `[29/Aug/2023 22:02:58]` (Python's http.server) as well as the Common Log Format's `:`
    ("clf", r"(?P<d>[0-3]?\d)/" + _MONRX + r"/(?P<Y>\d{4})[: ]" + _HMS + _FRAC + _ZONE, False),
    ("dmy-name", r"(?P<d>[0-3]?\d)[- ]" + _MONRX + r"[- ](?P<Y>\d{4})[ :]+" + _HMS + _FRAC + _ZONE, False),
    # java.util.logging's SimpleFormatter (Tomcat <= 7): `Jul 30, 2020 3:00:21 PM`, the year before the time
    ("mdy-name", _MONRX + r"\s+(?P<d>[0-3]?\d),?\s+(?P<Y>\d{4}),?\s+" + _HMS + _FRAC + _ZONE, False),
    ("dm-name", r"(?P<d>[0-3]?\d) " + _MONRX + r"\s+" + _HMS + _FRAC + _ZONE, True),  # Redis 2.x `13 Apr 12:52:30.731`
    ("ctime", _DAYRX + "?" + _MONRX + r"(?:\s+|-)(?P<d>[0-3]?\d),?\s+" + _HMS + _FRAC + _ZONE + r"(?:\s+(?P<Y>\d{4})\b)?"
     + _ZONE.replace("?P<z>", "?P<z2>"), True),
    ("mdy", r"(?P<m>[0-3]?\d)(?P<s2>[-/.])(?P<d>[0-3]?\d)(?P=s2)(?P<Y>\d{4})[ ,:]+" + _HMS + _FRAC + _ZONE, False),
    ("ymd-short", r"(?P<y>\d\d)/(?P<m>[01]\d)/(?P<d>[0-3]\d)[ ,]+" + _HMS + _FRAC + _ZONE, False),
    ("yymmdd", r"(?P<y>\d\d)(?P<m>[01]\d)(?P<d>[0-3]\d)\s+(?P<H>[012]?\d):?(?P<M>[0-5]\d):?(?P<S>[0-6]\d)(?!\d)"
     + _FRAC, False),
    ("md", r"(?P<m>[01]\d)[-.](?P<d>[0-3]\d)\s+" + _HMS + _FRAC, True),
    ("epoch", r"(?P<E>1[0-9]\d{8}|20\d{8})(?:\.(?P<Ef>\d{1,9})|(?P<Ex>\d{3}|\d{6}|\d{9}))?(?![\d.])", False),
    ("time", _HMS + _FRAC + _ZONE, True),
]
_SAMPLE_MAX = 400
_SEARCH_CHARS = 200  # the timestamp must start within this many characters


def zone(name: str | None) -> tzinfo:
    """A tzinfo for an IANA name (``Europe/Berlin``); ``None``/``UTC`` give UTC. ValueError when unknown."""
    if not name or name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin or America/New_York)")


# ---------------------------------------------------------------- levels

_LEVEL_WORDS = {
    "FATAL": "FATAL", "CRITICAL": "CRITICAL", "CRIT": "CRITICAL", "EMERG": "FATAL", "EMERGENCY": "FATAL",
    "ALERT": "FATAL", "PANIC": "FATAL", "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR", "WARNING": "WARN",
    "WARN": "WARN", "NOTICE": "INFO", "INFO": "INFO", "INFORMATION": "INFO", "DEBUG": "DEBUG", "TRACE": "TRACE",
    "FINE": "DEBUG", "FINER": "TRACE", "FINEST": "TRACE", "VERBOSE": "TRACE", "DBG": "DEBUG", "EROR": "ERROR",
    "WRN": "WARN", "INF": "INFO", "FTL": "FATAL", "TRC": "TRACE", "CONFIG": "DEBUG",
    "NOTE": "INFO",  # MySQL's error log: System, Error, Warning, Note
}
# Levels only as upper-case header tokens: as words in any case they are message text (`ApplicationContext log`)
_UPPER_LEVELS = {
    "LOG": "INFO",  # PostgreSQL's and pgbouncer's informational level (`12 LOG Stats: …`, Vertica `<LOG>`)
    # supervisord's four-letter codes: CRIT ERRO WARN INFO DEBG TRAC BLAT
    "ERRO": "ERROR", "DEBG": "DEBUG", "TRAC": "TRACE", "BLAT": "TRACE",
}
# PostgreSQL's own words (only with their colon, "LOG:  statement: ..."), DEBUG1..5 included.
_PG_LEVELS = {"LOG": "INFO", "STATEMENT": "INFO", "DETAIL": "INFO", "HINT": "INFO", "CONTEXT": "INFO",
              "DEBUG1": "DEBUG", "DEBUG2": "DEBUG", "DEBUG3": "DEBUG", "DEBUG4": "DEBUG", "DEBUG5": "DEBUG"}
_LETTERS = {"F": "FATAL", "E": "ERROR", "W": "WARN", "I": "INFO", "D": "DEBUG", "V": "TRACE", "T": "TRACE",
            "C": "CRITICAL", "A": "FATAL"}
_SYSLOG = ("FATAL", "FATAL", "CRITICAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")
_BUNYAN = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}


def syslog_severity(n: int) -> str | None:
    """Syslog severity 0–7 (PRI & 7, journald PRIORITY) as a level: 3 -> ERROR, 4 -> WARN."""
    return _SYSLOG[n] if 0 <= n <= 7 else None


def level_word(text: str | int | None, *, numeric: str = "auto") -> str | None:
    """A level from a word in any case (``error``, ``[WARN ]``, ``ERROR:``) or a number (bunyan 10–60, syslog 0–7)."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        n = int(text)
        if numeric != "syslog" and n in _BUNYAN:
            return _BUNYAN[n]
        return syslog_severity(n) if numeric != "bunyan" else None
    w = text.strip().strip("[]<>():").strip().upper()
    if w.isdigit():
        return level_word(int(w), numeric=numeric)
    return _LEVEL_WORDS.get(w)


# ---------------------------------------------------------------- header tokens

_TOKEN = re.compile(r"\s*(\[(?:[^\[\]]|\[[^\[\]]*\])*\]:?|[^\s\[]+(?:\[[^\]]*\][^\s\[]*)*|\[)")
_SEPS = frozenset(("-", "|", ",", ":", "---", "--", "*", "#", ">", "•", "::", "-->", "=>", "~"))
_NUM = re.compile(r"\(?\d+(?:[#:/.]\d+)?\)?:?$")
_LOGGER = re.compile(r"[A-Za-z_$][\w$-]*(?:[.:/][\w$-]+)+:?$|[A-Za-z_$][\w$]*$")
_DOTTED = re.compile(r"[A-Za-z_$][\w$-]*(?:\.[\w$-]+)+$")
# `file.go:12`, also with the function after it (`cmd/web.go:223:runWeb()`, Gitea)
_CALLER = re.compile(r"[\w./@-]+\.(?:go|py|java|js|ts|rb|c|cc|cpp|h|rs|cs|kt|scala|php|ex|erl):\d+"
                     r"(?::[\w.$<>*]+\(\))?\]?:?$")
_FACILITIES = frozenset("kern user mail daemon auth syslog lpr news uucp cron authpriv ftp ntp security console "
                        "local0 local1 local2 local3 local4 local5 local6 local7".split())
# A level glued to the field before or after it: `local.INFO:` (Monolog channel.LEVEL), `INFO:module:` after a
# `[pid]`, `WARN574240[Thread-35]`, `NOTICE[2217]` (Asterisk), `user.warn` (syslog facility.severity), `5LOG:`
# (PostgreSQL's %l line number right before the level).
_GLUED = re.compile(r"(?:\d+|(?P<chan>[A-Za-z][\w-]*)\.)?(?P<lv>[A-Za-z]+)(?P<after>[\[(:]|\d|$)")


def _glued_level(tok: str) -> tuple[str, int] | None:
    """(level, where the message may start in ``tok``) of a level glued to another field, or None."""
    m = _GLUED.match(tok)
    if m is None:
        return None
    lv, chan = m.group("lv"), m.group("chan")
    if chan is not None and chan.lower() in _FACILITIES:
        got = _LEVEL_WORDS.get(lv.upper())
    elif not lv.isupper() or len(lv) < 3:
        return None  # only upper-case words count glued: `Error404` or `info.txt` are not levels
    elif m.group("after") == ":" and lv in _PG_LEVELS:
        got = _PG_LEVELS[lv]
    else:
        got = _LEVEL_WORDS.get(lv)
    if got is None:
        return None
    return got, (m.end() if m.group("after") == ":" else len(tok))


def _bracket_level(tok: str) -> str | None:
    inner = tok.strip("[]:").strip()
    if not inner or inner.isdigit():
        return None
    if " " in inner:
        # `[syncaas-grpc-5  INFO  com.vmware.Lookup  opId=]`: one upper-case level word among the group's words
        words = [w for w in inner.split() if w.isupper() and w in _LEVEL_WORDS]
        return _LEVEL_WORDS[words[0]] if len(words) == 1 else None
    if ":" in inner:  # Apache 2.4 `[core:error]`
        inner = inner.rsplit(":", 1)[1]
    if inner[-1:].isdigit() and inner[:-1].isalpha() and inner[:-1].upper() in ("TRACE", "DEBUG"):
        inner = inner[:-1]  # a verbosity step: Apache's trace1..8, PostgreSQL's debug1..5
    return level_word(inner) if inner.isalpha() else None


_SYMBOLS = {"#": "WARN", "*": "INFO", "-": "DEBUG", ".": "DEBUG"}  # Redis: warning, notice, verbose, debug


_KIND_CACHE: dict[tuple[str, bool, bool], tuple[str, str | None]] = {}
_KIND_CACHE_MAX = 50_000


def _kind(tok: str, letters: bool, symbols: bool = False) -> tuple[str, str | None]:
    """(kind, level) of one header token (cached: header tokens repeat)."""
    key = (tok, letters, symbols)
    got = _KIND_CACHE.get(key)
    if got is None:
        got = _kind_uncached(tok, letters, symbols)
        if len(_KIND_CACHE) < _KIND_CACHE_MAX:
            _KIND_CACHE[key] = got
    return got


def _kind_uncached(tok: str, letters: bool, symbols: bool) -> tuple[str, str | None]:
    if symbols and tok in _SYMBOLS:
        return "level", _SYMBOLS[tok]
    if tok in _SEPS:
        return "sep", None
    if tok[0] == "[":
        lv = _bracket_level(tok)
        if lv is None and letters and len(tok) == 3 and tok[2] == "]" and tok[1] in _LETTERS:
            lv = _LETTERS[tok[1]]  # `[I]`, `[W]` (Gitea) in a file with a column of letters
        return ("level" if lv else "bracket"), lv
    lv = level_word(tok) if tok.isalpha() or tok[-1] in ":>)]" or tok[0] in "<(" else None
    if lv is None and (word := tok.strip("<>()").rstrip(":")) in _UPPER_LEVELS:
        lv = _UPPER_LEVELS[word]
    if lv and tok.strip("[]<>():").strip().isdigit() and not (tok.rstrip(":")[-1:] in ">)]" and tok[0] in "<(["):
        lv = None  # `(0 slaves)`: a number opening a message, not a severity
    if lv:
        return "level", lv
    if tok.endswith(":") and tok[:-1].upper() in _PG_LEVELS:
        return "level", _PG_LEVELS[tok[:-1].upper()]
    if letters and tok[0] in _LETTERS and (len(tok) == 1 or tok[1] == "/" and len(tok) > 2):
        return "level", _LETTERS[tok[0]]  # `E`, or logcat's brief `V/Tag(pid):`
    key, eq, value = tok.partition("=")
    if eq and value and key.lower() in ("level", "lvl", "severity", "loglevel") and (lv := level_word(value.strip('"'))):
        return "level", lv  # logfmt's `level=info` after a timestamp that is not logfmt's own (svlogd, runit)
    head, slash, tail = tok.partition("/")
    if slash and len(tail) > 1 and tok.endswith(":") and head.isalpha() and len(head) > 2 and (lv := level_word(head)):
        return "level", lv  # `warning/PluginNotificationTask:` (Icinga 2): the level, then the component
    glued = _glued_level(tok) if tok[0].isalnum() else None
    if glued is not None:
        return "level", glued[0]
    if _NUM.match(tok):
        return ("cend" if tok.endswith(":") else "num"), None
    if _CALLER.match(tok):
        return "caller", None
    if len(tok) > 1 and (tok.endswith(":") or tok.endswith("]:")):
        return "cend", None
    if _DOTTED.match(tok):
        return "dotted", None
    return "word", None


@dataclass
class _Flags:
    letters: bool = False  # single-letter levels (Android, MongoDB)
    cend_reach: int = -1  # header ends at a `prog[pid]:` / `Component:` token this many words ahead (-1: never)
    logger: bool = False  # a dotted logger / a name followed by a separator is a header field
    level_col: int = -1  # the level sits at this token index after the timestamp (host, type… before it)
    padded: bool = False  # a token followed by 2+ spaces is a padded header column
    pipes: int = 0  # `|`-delimited header fields right after the timestamp
    symbols: bool = False  # a column of level symbols right after the timestamp (Redis `#`, `*`, `-`, `.`)
    level_scan: bool = False  # an upper-case level word a few fields in, not always at the same one (thread names)
    prefix_letters: bool = False  # a single-letter level before the timestamp (`E [08/Jun/2013:…]`, CUPS)
    csv_col: int = -1  # a CSV row after the timestamp with the level in this column (PostgreSQL's csvlog)


_MAX_HEADER_TOKENS = 12


_HEADER_CHARS = 300  # a header is never longer than this


class _LazyTokens:
    """The header tokens of a line with their positions, found as the header parser asks for them.

    One C-level match per token, from the end of the one before (whitespace between tokens
    is skipped by the pattern): a header is a few tokens, so tokenizing the line's whole
    head first (up to :data:`_HEADER_CHARS` characters) was most of the parse's cost.
    """

    __slots__ = ("_rest", "_toks", "_pos", "_done")

    def __init__(self, rest: str) -> None:
        self._rest = rest
        self._toks: list[tuple[int, int, str]] = []
        self._pos = 0
        self._done = False

    def _fill(self, i: int) -> bool:
        toks = self._toks
        match = _TOKEN.match
        while not self._done and len(toks) <= i:
            m = match(self._rest, self._pos, _HEADER_CHARS) if len(toks) < _MAX_HEADER_TOKENS else None
            if m is None:
                self._done = True
                break
            s, e = m.span(1)
            toks.append((s, e, m.group(1)))
            self._pos = e
        return i < len(toks)

    def has(self, i: int) -> bool:
        return i < len(self._toks) or self._fill(i)

    def __getitem__(self, i: int) -> tuple[int, int, str]:
        if i >= len(self._toks):
            self._fill(i)
        return self._toks[i]


def _header(rest: str, fl: _Flags) -> tuple[int, str | None, str | None, list[str]]:
    """(end of header in ``rest``, level, logger, kinds consumed)."""
    pos = 0
    level = logger = None
    kinds: list[str] = []
    if fl.pipes:
        for _ in range(fl.pipes):
            i = rest.find("|", pos)
            if i < 0:
                break
            if pos and logger is None:
                logger = rest[pos:i].strip() or None
            pos = i + 1
        return pos, None, logger, ["pipe"] * fl.pipes
    toks = _LazyTokens(rest)
    i = 0
    after_logger = False
    n = _MAX_HEADER_TOKENS
    if fl.level_scan and fl.level_col < 0 and toks.has(1) and _kind(toks[0][2], fl.letters)[0] != "level":
        j = next((j for j in range(1, 6) if toks.has(j) and toks[j][2].isupper()
                  and _kind(toks[j][2], fl.letters)[0] == "level"), None)
        if j is not None:  # the fields before the level (a thread name, an operation id) are header
            kinds.extend(["col"] * j)
            i, pos = j, toks[j - 1][1]
    while i < n and toks.has(i):
        s, e, tok = toks[i]
        k, lv = _kind(tok, fl.letters, fl.symbols and i == 0)
        if k == "level" and level is not None and tok[0] == "[":
            k = "bracket"  # a second level-like word in brackets is a field (`[info][config]`)
        if i < fl.level_col and toks.has(fl.level_col):
            # the level column, or an upper-case level a field or two after it (PostgreSQL's optional
            # `user@db` before `FATAL:` on some lines)
            col = next((c for c in range(fl.level_col, fl.level_col + 3) if toks.has(c) and (
                c == fl.level_col or toks[c][2].isupper()) and _kind(toks[c][2], fl.letters)[0] == "level"), -1)
            if col >= 0:
                kinds.extend(["col"] * (col - i))
                i = col
                pos = toks[i - 1][1]
                continue
        if k == "sep":
            pass
        elif k == "level" and level is None:
            level = lv
            glued = _glued_level(tok) if tok[0].isalnum() and not tok.isalpha() else None
            if glued is not None and glued[1] < len(tok):  # `INFO:module:message`: the message starts inside
                kinds.append(k)
                pos = s + glued[1]
                break
            if tok.endswith(":") and not tok.startswith("["):
                kinds.append(k)
                pos = e
                break
        elif k == "num" and not after_logger and toks.has(i + 1) and _kind(toks[i + 1][2], fl.letters)[0] in (
                "sep", "level", "num", "bracket", "cend", "caller") + (("dotted",) if fl.logger else ()):
            pass  # a pid or thread id: another header field follows it (a message may start with a number)
        elif k == "bracket":
            pass
        elif k == "caller":
            pos = e
            kinds.append(k)
            if tok.endswith(("]", ":")) and not (tok[-1] == ":" and level is None and toks.has(i + 1) and
                                                 toks[i + 1][2].isupper() and
                                                 _kind(toks[i + 1][2], fl.letters)[0] == "level"):
                break  # the message starts here, unless the level comes after the caller (`local.go:203: DEBUG:`)
            i += 1
            continue
        elif k == "cend" and fl.cend_reach >= 0:
            pos = e
            kinds.append(k)
            if logger is None:
                logger = tok.rstrip(":").split("[", 1)[0] or None
            break
        elif fl.cend_reach > 0 and k in ("word", "dotted", "num") and not after_logger:
            # `host prog[pid]:` — consume words up to a colon-ended token within reach
            j = next((j for j in range(i + 1, i + 1 + fl.cend_reach)
                      if toks.has(j) and _kind(toks[j][2], False)[0] == "cend"), None)
            if j is None:
                if fl.logger and k == "dotted" and logger is None:
                    logger, after_logger = tok, True
                elif not (fl.padded and rest[e:e + 2] == "  "):
                    break
            else:
                pos = toks[j][1]
                kinds.append("cend")
                logger = toks[j][2].rstrip(":").split("[", 1)[0] or None
                break
        elif fl.logger and logger is None and (k == "dotted" or (k == "word" and toks.has(i + 1) and toks[i + 1][2] in
                                                                  _SEPS)):
            logger, after_logger = tok, True
            if toks.has(i + 2) and toks[i + 1][2] not in _SEPS and toks[i + 2][2] == "-":
                # a name with a qualifier before its separator: `chrome.exe *64 - message`
                logger = rest[s:toks[i + 1][1]]
                kinds.append(k)
                i += 1
                pos = toks[i][1]
        elif fl.padded and k in ("word", "dotted") and rest[e:e + 2] == "  ":
            pass
        else:
            break
        kinds.append(k)
        pos = e
        i += 1
    return pos, level, logger, kinds


def _csv_row(m: re.Match[str], line: str) -> str | None:
    """The text after a timestamp that a comma ends (a CSV row's first field), or None."""
    if m.group(0).endswith(","):
        return line[m.end():]
    return line[m.end() + 1:] if line.startswith(",", m.end()) else None


def _csv_fields(row: str) -> list[str]:
    try:
        return next(csv.reader([row]), [])
    except csv.Error:
        return []


def _csv_vote(rows: list[str | None]) -> int:
    """The level column of CSV rows after the timestamp (PostgreSQL's csvlog), or -1."""
    n = len(rows)
    if not n or sum(1 for r in rows if r is not None) < 0.8 * n:
        return -1
    cols = Counter(j for r in rows if r is not None and (j := _csv_level_col(_csv_fields(r))) >= 0)
    if cols and (got := cols.most_common(1)[0])[1] >= 0.6 * n:
        return got[0]
    return -1


def _upper_level(word: str) -> str | None:
    """The level an upper-case word names, PostgreSQL's own words (LOG, DETAIL, DEBUG1…) included."""
    return (_LEVEL_WORDS.get(word) or _PG_LEVELS.get(word)) if word.isupper() else None


def _csv_level_col(fields: list[str]) -> int:
    """The first of the first 16 fields that is an upper-case level word (PostgreSQL's included), or -1."""
    return next((j for j, f in enumerate(fields[:16]) if _upper_level(f)), -1)


_SQLSTATE = re.compile(r"[0-9A-Z]{5}$")
_PG_SEVERITY = re.compile(r"(?<![\w-])(LOG|ERROR|FATAL|PANIC|WARNING|NOTICE|INFO|DEBUG[1-5]?|STATEMENT|DETAIL|HINT|CONTEXT)"
                          r":  (?=\S)")


def _csv_record(row: str, col: int) -> tuple[str | None, str]:
    """(level, message) of a CSV row: the level column, then the first text after it (an error code skipped)."""
    fields = _csv_fields(row)
    if len(fields) <= col:
        return None, row.strip()
    level = _upper_level(fields[col])
    msg = next((f for f in fields[col + 1:] if f.strip() and not _SQLSTATE.match(f)), "")
    return level, " ".join(msg.split()) or row.strip()


def _letter_token(t: str) -> bool:
    """A single-letter level as a token: `E`, `[E]` or logcat's brief `E/Tag(pid):`."""
    if len(t) == 3 and t[0] == "[" and t[2] == "]":
        return t[1] in _LETTERS
    return (len(t) == 1 or len(t) > 2 and t[1] == "/") and t[0] in _LETTERS


def _vote(rests: Sequence[str], fl: _Flags) -> _Flags:
    """Decide the header flags for a file from the text after its timestamps."""
    n = len(rests)
    if not n:
        return fl
    need = max(1, int(0.5 * n))
    # pipe-delimited fields: `ts|comp|pid|message`
    if sum(1 for r in rests if r.startswith("|")) >= 0.8 * n:
        counts = [r.count("|", 0, 120) for r in rests if r.startswith("|")]
        fl.pipes = max(1, min(counts))
        return fl
    toks_of = [[m.group(1) for m in _TOKEN.finditer(r)][:8] for r in rests]
    # a column of level symbols
    seen_symbols = {ts[0] for ts in toks_of if ts and ts[0] in _SYMBOLS}
    if sum(1 for ts in toks_of if ts and ts[0] in _SYMBOLS) >= 0.8 * n and (
            len(seen_symbols) >= 2 or seen_symbols <= {"*", "#"}):  # `-` or `.` alone is a separator
        fl.symbols = True
    # single-letter level column: `E`, `[E]`, logcat's `E/Tag`
    letter_col = Counter(next((j for j, t in enumerate(ts[:4]) if _letter_token(t)), -1) for ts in toks_of)
    j, c = letter_col.most_common(1)[0]
    if j >= 0 and c >= 0.6 * n:
        fl.letters = True
    # a level column after host/type fields (BGL, PostgreSQL with user@db)
    col = Counter()
    for ts in toks_of:
        for j, t in enumerate(ts[:8]):  # PostgreSQL's '%m %c %x %d %u %r %p %l' puts it 7th
            if _kind(t, fl.letters)[0] == "level":
                col[j] += 1
                break
    if col:
        j, c = col.most_common(1)[0]
        if j >= 1 and c >= 0.6 * n:
            fl.level_col = j
    if fl.level_col < 0:
        # an upper-case level a few fields in, at a position that varies (thread names with and without an id)
        scan = sum(1 for ts in toks_of if ts and _kind(ts[0], fl.letters)[0] != "level" and any(
            t.isupper() and _kind(t, fl.letters)[0] == "level" for t in ts[1:6]))
        if scan >= 0.6 * n:
            fl.level_scan = True
    base = [_header(r, fl) for r in rests]
    # colon-ended program/component field within reach
    reach = Counter()
    for r, (pos, _, _, kinds) in zip(rests, base):
        if kinds and kinds[-1] in ("cend", "caller"):
            reach[0] += 1
            continue
        ts = [m.group(1) for m in _TOKEN.finditer(r, pos)][:4]
        d = next((d for d, t in enumerate(ts[:3]) if _kind(t, False)[0] == "cend"), None)
        if d is not None:
            reach[d] += 1
    if sum(reach.values()) >= need:
        fl.cend_reach = max(d for d, c in reach.items() if c >= 0.1 * n) if any(c >= 0.1 * n for c in reach.values()) \
            else 0
        base = [_header(r, fl) for r in rests]
    # logger: a dotted name, or a name followed by a separator, where the header stops
    lg = 0
    for r, (pos, _, _, kinds) in zip(rests, base):
        ts = [m.group(1) for m in _TOKEN.finditer(r, pos)][:2]
        if ts and (_DOTTED.match(ts[0]) or (len(ts) > 1 and ts[1] in _SEPS and _LOGGER.match(ts[0]))):
            lg += 1
    if lg >= 0.6 * n:
        fl.logger = True
        base = [_header(r, fl) for r in rests]
    pad = 0
    for r, (pos, _, _, _) in zip(rests, base):
        m = _TOKEN.match(r, pos)
        if m and r[m.end(1):m.end(1) + 2] == "  " and m.group(1) not in _SEPS:
            pad += 1
    if pad >= 0.6 * n:
        fl.padded = True
    return fl


# ---------------------------------------------------------------- logfmt

_LOGFMT_PAIR = re.compile(r'([\w.@-]+)=("(?:[^"\\]|\\.)*"|\S*)')
_LOGFMT_LINE = re.compile(r'\s*[\w.@-]+=("(?:[^"\\]|\\.)*"|\S*)(?:\s+[\w.@-]+=("(?:[^"\\]|\\.)*"|\S*))+\s*$')
_LF_TIME = ("time", "ts", "t", "timestamp", "@timestamp", "date", "datetime")
_LF_LEVEL = ("level", "lvl", "severity", "loglevel", "log.level")
_LF_MSG = ("msg", "message", "log")
_LF_LOGGER = ("logger", "component", "module", "caller", "source", "name")


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return v


# ---------------------------------------------------------------- the compiled format


@dataclass
class LineFormat:
    """A file's inferred layout; :meth:`parse` reads one line with it."""

    layout: str | None  # name of the timestamp layout, None when none was found
    prefix_tokens: int = 0  # whitespace-separated tokens before the timestamp
    prefix_max: int = 0  # when above prefix_tokens: as many as this, the fewest that reach a timestamp
    glued: bool = False  # the last of them runs into the timestamp after a colon, `(` or `=` (`Thread-1950::INFO::2011-12-07 …`)
    flags: _Flags = field(default_factory=_Flags)
    logfmt: bool = False
    tz: tzinfo = UTC
    ref: datetime | None = None  # file modification time: the year of year-less layouts, New Year roll-back
    day_first: bool = False  # for `mdy` layouts: dd/mm/yyyy
    date: tuple[int, int, int] | None = None  # the date of time-only rows (W3C #Date)
    dated: LineFormat | None = None  # a dated stamp after this year-less one, the record's time where present
    _rx: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.layout and self._rx is None:
            body = dict((n, r) for n, r, _ in _LAYOUTS)[self.layout]
            # `[ INFO 2015-…` (a padded level before the timestamp) counts its bracket with the word after it
            k = self.prefix_tokens
            if self.glued and k:
                fields = r"(?:\S+\s+){%d}\S*?[:(=<]" % (k - 1)
            elif self.prefix_max > k:  # a varying count of fields first (a forwarded-for list in an access log)
                fields = r"(?:\S+\s+){%d,%d}?" % (k, self.prefix_max)
            else:
                fields = r"(?:\S+\s+){%d}" % k
            pre = r"^\s*(?:<(?P<pri>\d{1,3})>(?:1 )?)?(?P<pre>(?:[\[(]\s+)?" + fields + r")[\[(\"<]?"
            # not followed by more time digits (`:05`); a colon then a field (`…,018::dispatcher`) is a separator
            # (an epoch's colon is a separator: `audit(1485893834.891:18877201)`)
            after = r"(?!\d)" if self.layout == "epoch" else r"(?!\d|:\d)"
            self._rx = re.compile(pre + "(?:" + body + ")" + after + r"[\])\"]?,?")
        self._yearless = bool(self.layout and dict((n, y) for n, _, y in _LAYOUTS)[self.layout])
        self._last_year: int | None = None

    @property
    def describe(self) -> str:
        if self.logfmt:
            return "logfmt"
        return self.layout or "no timestamp"

    def parse(self, line: str) -> tuple[datetime | None, str | None, str | None, str] | None:
        """``(time, level, logger, message)``; ``None`` when the line has no timestamp of this layout."""
        if self.logfmt:
            return self._parse_logfmt(line)
        if self._rx is None:
            return None
        m = self._rx.match(line)
        if m is None:
            return None
        g = m.groupdict()
        t = self._time(m, g)
        if t is None:
            return None
        if self.dated is not None and (m2 := self.dated._rx.match(line)) is not None:  # type: ignore[union-attr]
            t = self.dated._time(m2, m2.groupdict()) or t
        level = None
        if g.get("pri"):
            level = syslog_severity(int(g["pri"]) & 7)
        if g.get("L"):
            level = _LETTERS.get(g["L"])
        if level is None and g.get("pre"):
            level = _prefix_level(g["pre"], self.flags.prefix_letters)
        rest = line[m.end():]
        if line.startswith("<") and g.get("pri") and line[len(g["pri"]) + 2:len(g["pri"]) + 4] == "1 ":
            return t, level, None, _rfc5424_message(rest)
        if self.flags.csv_col >= 0 and (row := _csv_row(m, line)) is not None:
            lv, msg = _csv_record(row, self.flags.csv_col)
            return t, level or lv, None, msg
        pos, lv, logger, _ = _header(rest, self.flags)
        if level is None and lv is None and (pg := _PG_SEVERITY.search(rest, 0, _HEADER_CHARS)):
            # PostgreSQL's `LEVEL:  message` (two spaces) after a log_line_prefix of any length and shape
            # (`%m %p %u %d %r %c`, colon-joined `%h(%r):%u@%d:[%p]:`, Azure's key="value" pairs)
            return t, _upper_level(pg.group(1)), logger, rest[pg.end():].strip() or rest.strip()
        msg = rest[pos:].strip()
        if not msg:
            msg = rest.strip()
        return t, level or lv, logger, msg

    def _parse_logfmt(self, line: str) -> tuple[datetime | None, str | None, str | None, str] | None:
        pairs = {k: _unquote(v) for k, v in _LOGFMT_PAIR.findall(line)}
        ts = next((pairs[k] for k in _LF_TIME if pairs.get(k)), None)
        if ts is None:
            return None
        t = _time_text(ts, self.tz, self.ref)
        if t is None:
            return None
        lv = next((pairs[k] for k in _LF_LEVEL if pairs.get(k)), None)
        msg = next((pairs[k] for k in _LF_MSG if k in pairs), None)
        if msg is None:
            msg = " ".join(f"{k}={v}" for k, v in _LOGFMT_PAIR.findall(line) if k not in _LF_TIME + _LF_LEVEL)
        else:
            extra = [f"{k}={v}" for k, v in _LOGFMT_PAIR.findall(line)
                     if k not in _LF_TIME + _LF_LEVEL + _LF_MSG + _LF_LOGGER]
            if extra:
                msg = msg + " " + " ".join(extra)
        logger = next((pairs[k] for k in _LF_LOGGER if pairs.get(k)), None)
        return t, level_word(lv) if lv else None, logger, msg

    def _time(self, m: re.Match[str], g: dict[str, str | None]) -> datetime | None:
        try:
            if g.get("E"):
                secs = int(g["E"])
                frac = g.get("Ef") or g.get("Ex") or ""
                t = datetime.fromtimestamp(secs, tz=UTC)
                return t + timedelta(microseconds=int(frac[:6].ljust(6, "0"))) if frac else t
            if g.get("Y"):
                year = int(g["Y"])
            elif g.get("y"):
                year = 2000 + int(g["y"])
            else:
                year = None
            if g.get("b"):
                month = _MON[g["b"][:3].lower()]
                day = int(g["d"])
            elif g.get("m"):
                month, day = int(g["m"]), int(g["d"])
                if self.day_first:
                    month, day = day, month
            elif self.date:
                year, month, day = self.date
            else:
                ref = self.ref or datetime.now(UTC)
                year, month, day = ref.year, ref.month, ref.day
            frac = g.get("f")
            us = int(frac[:6].ljust(6, "0")) if frac else 0
            if self.layout == "compact" and frac and len(frac) == 3 and ":" in m.group(0)[-5:]:
                us = int(frac) * 1000
            z = g.get("z") or g.get("z2")
            roll = False
            if year is None:
                ref = self.ref or datetime.now(UTC)
                year, roll = ref.year, True
            hh, mm, ss = (int(g["H"]), int(g["M"]), int(g["S"])) if g.get("H") else (
                int(g["H2"]), int(g["M2"]), int(g["S2"]))
            if g.get("ampm"):
                if hh > 12:
                    return None
                hh = hh % 12 + (12 if g["ampm"][0] in "Pp" else 0)
            t = _make(year, month, day, hh, mm, ss, us, z, self.tz)
            if t is not None and roll:
                ref = self.ref or datetime.now(UTC)
                if t > ref + timedelta(days=1):  # a date after the file was last written: last year's
                    t = _make(year - 1, month, day, hh, mm, ss, us, z, self.tz)
            return t
        except (ValueError, OverflowError, KeyError):
            return None


_MINUTES: dict[tuple, datetime] = {}  # (y, mo, d, h, mi, z, tz) -> that minute in UTC
_MINUTES_MAX = 4096


def _make(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, z: str | None, tz: tzinfo) -> datetime | None:
    """The instant of a wall-clock time, in UTC: its zone ``z`` from the line, else ``tz``.

    Lines come many to a minute, and an offset never changes inside a minute (zone transitions
    fall on whole minutes), so each minute is converted once and the seconds are added to it.
    """
    key = (y, mo, d, h, mi, z, tz)
    base = _MINUTES.get(key)
    if base is None:
        base = _make_minute(y, mo, d, h, mi, z, tz)
        if base is None:
            return None
        if len(_MINUTES) >= _MINUTES_MAX:
            _MINUTES.clear()
        _MINUTES[key] = base
    if s == 0 and us == 0:
        return base
    return base + timedelta(seconds=min(s, 59), microseconds=us)


def _make_minute(y: int, mo: int, d: int, h: int, mi: int, z: str | None, tz: tzinfo) -> datetime | None:
    try:
        if z:
            if z in ZONE_ABBREVIATIONS:
                off = timezone(timedelta(hours=ZONE_ABBREVIATIONS[z]))
            else:
                sign = -1 if z[0] == "-" else 1
                digits = z[1:].replace(":", "")
                off = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))
            return datetime(y, mo, d, h, mi, tzinfo=off).astimezone(UTC)
        if tz is UTC:
            return datetime(y, mo, d, h, mi, tzinfo=UTC)
        return datetime(y, mo, d, h, mi, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


_STRUCTURED_DATA = re.compile(r'\s*(?:-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)\s?')


def _rfc5424_message(rest: str) -> str:
    # HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
    parts = rest.split(None, 4)
    if len(parts) < 5:
        return rest.strip()
    tail = parts[4]
    m = _STRUCTURED_DATA.match(tail)
    return (tail[m.end():] if m else tail).lstrip("\ufeff").strip() or tail.strip()


_TEXT_FORMATS: dict[str, LineFormat] = {}


def _time_text(text: str, tz: tzinfo, ref: datetime | None) -> datetime | None:
    """A timestamp given alone (a logfmt or JSON value): any layout, whole text."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 30:  # integers exactly (ns as a float lose the µs)
        v = int(text)
        scale = next((s for s in (10**9, 10**6, 10**3) if v > 10**11 * s // 10**3), 1)
        try:
            return datetime.fromtimestamp(v // scale, tz=UTC) + timedelta(microseconds=v % scale * 10**6 // scale)
        except (OverflowError, OSError, ValueError):
            return None
    if text.isascii() and text.replace(".", "", 1).isdigit() and len(text) <= 40:
        x = float(text)
        for scale in (1e9, 1e6, 1e3):
            if x > 1e11 * scale / 1e3:
                x /= scale
                break
        try:
            return datetime.fromtimestamp(x, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    for name, _, _ in _LAYOUTS:
        if name == "epoch":
            continue
        fmt = _TEXT_FORMATS.get(name)
        if fmt is None:
            fmt = _TEXT_FORMATS[name] = LineFormat(name)
        fmt.tz, fmt.ref = tz, ref
        r = fmt.parse(text)
        if r is not None and r[0] is not None:
            return r[0]
    return None


def parse_time_text(text: str, tz: tzinfo = UTC, ref: datetime | None = None) -> datetime | None:
    """A timestamp written alone, in any layout :func:`infer_format` knows (JSON and logfmt values)."""
    return _time_text(text, tz, ref)


__all__.append("parse_time_text")


W3C_DIRECTIVE = re.compile(r"#(?:Software|Version|Date|Fields|Remark|Start-Date|End-Date):")


def w3c_date(line: str) -> tuple[int, int, int] | None:
    """The date of a W3C extended log ``#Date:`` directive (``2026-03-02 …`` or ``12-Jan-1996 …``)."""
    m = re.match(r"#(?:Start-)?Date:\s*(.*)", line)
    if not m:
        return None
    t = _time_text(m.group(1), UTC, None)
    return (t.year, t.month, t.day) if t else None


def _prefix_words(pre: str) -> list[str]:
    return [w for w in (t.strip("[]()<>=|:,") for t in re.split(r"\s+|::", pre)) if w]


def _prefix_level(pre: str, letters: bool) -> str | None:
    """A level written before the timestamp: `[DEBUG 2015-…`, `=ERROR REPORT==== 21-Apr-2016…`, the service
    wrapper's `INFO   | jvm 1    | 2015/04/28 …`, CUPS's `E [08/Jun/2013:…]` (letters: the file has a column)."""
    for raw in pre.split():
        if raw[0] == "[" and raw[-1] == "]" and (lv := _bracket_level(raw)):
            return lv  # `[error] 2018-08-29T00:00:14.470000Z couchdb@…`: a bracketed level in any case
    for w in _prefix_words(pre):
        if len(w) >= 3 and w.isalpha() and w.isupper() and w in _LEVEL_WORDS:
            # upper case only: a lower-case word there is a field's value (HPC's `switch_module error 1073192214`)
            return _LEVEL_WORDS[w]
        if letters and len(w) == 1 and w in _LETTERS:
            return _LETTERS[w]
    return None


def _dated_after(hits: Counter, name: str, k: int, count: int) -> tuple[str, int, bool] | None:
    """A dated stamp later in the line than a year-less one, on most lines: (layout, tokens before, glued).

    `Jul 30 09:03:52 host haproxy[32450]: 1.2.3.4:38862 [30/Jul/2018:09:03:52.726] ...`: the syslog
    header has no year (it would be guessed from the file's date) and whole seconds; the program's
    own stamp after it has both, and says when the event happened rather than when it was relayed.
    """
    yearless = dict((n, y) for n, _, y in _LAYOUTS)
    if not yearless[name]:
        return None
    dated = [(c, -kk, n2, kk, g2) for (n2, kk, g2), c in hits.items()
             if not yearless[n2] and kk > k and c >= 0.8 * count and n2 not in ("epoch", "time", "yymmdd")]
    if not dated:
        return None
    _, _, n2, kk, g2 = max(dated)
    return n2, kk, g2


def _prefix_range(hits: Counter, name: str, k: int, glued: bool) -> tuple[int, int]:
    """(fewest, most) fields before a layout's timestamp: a count that varies from line to line (an
    access log whose first field is a forwarded-for list) gives every count seen and two more."""
    if k > 0 and not glued:
        seen_k = [kk for (n2, kk, g2) in hits if n2 == name and not g2 and kk > 0]
        if len(seen_k) > 1:
            return min(seen_k), max(seen_k) + 2
    return k, k


def _prefix_tokens(line: str, start: int) -> int:
    head = line[:start].strip()
    if head.startswith("<") and ">" in head[:5]:
        head = head.split(">", 1)[1].strip()
        if head.startswith("1 ") or head == "1":
            head = head[1:].strip()
    head = re.sub(r"^[\[(]\s+", "[", head.rstrip("[(\"<").strip())
    return len(head.split()) if head else 0


def infer_format(
    lines: Iterable[str], *, tz: tzinfo = UTC, ref: datetime | None = None
) -> LineFormat:
    """The layout of a file from a sample of its lines (a few hundred are plenty)."""
    sample = [ln for ln in lines if ln.strip()][:_SAMPLE_MAX]
    date = None
    body: list[str] = []
    for ln in sample:
        if ln.startswith("#") and W3C_DIRECTIVE.match(ln):
            date = w3c_date(ln) or date
            continue
        body.append(ln)
    if not body:
        return LineFormat(None, tz=tz, ref=ref, date=date)
    lf = sum(1 for ln in body if _LOGFMT_LINE.match(ln))
    if lf >= 0.6 * len(body):
        fmt = LineFormat(None, logfmt=True, tz=tz, ref=ref)
        if sum(1 for ln in body if fmt.parse(ln) is not None) >= 0.5 * lf:
            return fmt
    hits: Counter[tuple[str, int, bool]] = Counter()
    per_line_best: list[tuple[str, int] | None] = []
    compiled = [(n, re.compile(r)) for n, r, _ in _LAYOUTS]
    for ln in body:
        head = ln[:_SEARCH_CHARS]
        seen: set[str] = set()
        for name, rx in compiled:
            if name in seen:
                continue
            # the match must start at a token boundary, or after a field's colon (`INFO::2011-12-07`), not a time's;
            # one that does not (`nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008`) gives way to the next
            m = rx.search(head)
            for _ in range(8):
                if m is None:
                    break
                s = m.start()
                if s == 0 or head[s - 1] in " \t[(<>|,=\"'" or (
                        head[s - 1] == ":" and s > 1 and not head[s - 2].isdigit()):
                    break
                m = rx.search(head, s + 1)
            else:
                m = None
            if m is None:
                continue
            s = m.start()
            seen.add(name)
            # glued: the stamp runs on from a field, after its colon, `(` or `=` (`msg=audit(1485893834.891:…)`)
            prev = head[s - 1] if s > 0 else ""
            glued = prev == ":" or (prev in "(=<" and s > 1 and not head[s - 2].isspace() and head[s - 2] not in "[(<=")
            hits[(name, _prefix_tokens(head, s), glued)] += 1
        per_line_best.append(None)
    if not hits:
        return LineFormat(None, tz=tz, ref=ref, date=date)
    order = {n: i for i, (n, _, _) in enumerate(_LAYOUTS)}
    best_count = max(hits.values())

    def rank(item: tuple[tuple[str, int, bool], int]) -> tuple:
        (name, k, _), c = item
        weak = name in ("epoch", "time", "md", "yymmdd")
        # a calendar layout wins over epoch/time-only ones found on at least half as many lines
        return (not weak and c >= 0.5 * best_count, c >= 0.8 * best_count, -k if c >= 0.8 * best_count else 0, c,
                -order[name])

    (name, k, glued), count = max(hits.items(), key=rank)
    if count < max(2, 0.05 * len(body)) and len(body) > 2:
        return LineFormat(None, tz=tz, ref=ref, date=date)
    k, kmax = _prefix_range(hits, name, k, glued)
    fmt = LineFormat(name, prefix_tokens=k, prefix_max=kmax, glued=glued, tz=tz, ref=ref, date=date)
    dated = _dated_after(hits, name, k, count)
    if dated is not None:
        # records still start at the year-less stamp (a line without the dated one stays a record, at
        # the header's time); where the dated one is there, it is the record's time
        n2, k2, g2 = dated
        k2, k2max = _prefix_range(hits, n2, k2, g2)
        fmt.dated = LineFormat(n2, prefix_tokens=k2, prefix_max=k2max, glued=g2, tz=tz, ref=ref)
    matched = [(ln, m) for ln in body if (m := fmt._rx.match(ln)) is not None]  # type: ignore[union-attr]
    if name == "mdy":
        # month first (US `11/05/2018`) unless a first field above 12 says otherwise; with dashes or dots
        # (`19-06-2019`, `29.05.2019`) day first, the European order, unless a second field above 12 does
        got = [(int(m.group("m")), int(m.group("d")), m.group("s2")) for _, m in matched]
        if any(a > 12 for a, _, _ in got):
            fmt.day_first = True
        elif got and all(sep in "-." for _, _, sep in got) and not any(b > 12 for _, b, _ in got):
            fmt.day_first = True
    rests = [ln[m.end():] for ln, m in matched]
    prefix_letters = sum(1 for _, m in matched
                         if any(len(w) == 1 and w in _LETTERS for w in _prefix_words(m.group("pre"))))
    fmt.flags = _vote(rests, _Flags())
    fmt.flags.csv_col = _csv_vote([_csv_row(m, ln) for ln, m in matched])
    fmt.flags.prefix_letters = k > 0 and prefix_letters >= 0.6 * len(rests)
    return fmt
