"""A compiled scanner that masks a batch of log lines exactly as :func:`logpatterns.mask` does.

``mask()`` (regular expressions) is the specification; this module re-implements
each of its regex passes as a hand-written matcher with the same leftmost-first,
backtracking result, for lines that are pure ASCII and at most
:data:`MAX_LINE_BYTES` long. Every other line is *flagged* (hash 0) and the caller
masks it with ``mask()``; a line the scanner is unsure about never gets a
different signature, it gets the slow one.

One call handles a whole batch: the lines joined into one UTF-8 buffer, their
lengths in characters. Per line it returns two independent 64-bit hashes of the
masked text (the second one detects a collision of the first), and on request
the masked texts themselves (``scan_texts``), which the miner builds only once
per new signature.

How each pass is emulated (ASCII: ``\\w`` = ``[A-Za-z0-9_]``, ``\\s`` = the ten
characters ``str.isspace`` accepts): every quantifier in the masks is followed by
something its own characters cannot start, so the greedy run is the only length
that can succeed, except where a regex offers ordered alternatives
(optional groups, unit lists); those are tried in the regex's order, each with
its trailing assertion. Lookbehinds read the pass's input, as ``re.sub`` does.

numba is optional (the ``heap`` extra): without it :func:`available` is false and
the miner keeps using ``mask()``. The compiled code is cached on disk
(``cache=True``), so the compile (about a minute; :func:`load` reports what it
cost) is paid once per installation, and never inside a run: the miner uses the
scanner only when :func:`warm` says numba's cache holds it, and otherwise starts
:func:`warm_up_in_background` and goes on with ``mask()``.
"""

from __future__ import annotations

import time

import numpy as np

MAX_LINE_BYTES = 1 << 16  # longer lines go to mask(): the work buffers stay small

# character classes (ASCII only; a line with any other byte is flagged)
_W, _S, _D, _DL, _HX, _AL, _PC = 1, 2, 4, 8, 16, 32, 64


def _table() -> np.ndarray:
    t = np.zeros(256, np.uint8)
    for c in range(128):
        ch = chr(c)
        if ch.isalnum() or ch == "_":
            t[c] |= _W
        if ch.isspace():
            t[c] |= _S | _DL
        if ch.isdigit():
            t[c] |= _D
        if ch in "=,;:()[]{}\"'|<>":
            t[c] |= _DL
        if ch in "0123456789abcdefABCDEF":
            t[c] |= _HX
        if ch.isalpha():
            t[c] |= _AL
        if ch.isalnum() or ch in "_.-@~+%":
            t[c] |= _PC
    return t


_T = _table()


def _guard_table() -> np.ndarray:
    """What the first loop of :func:`_mask_line` must look at: ``_G[128 * after_word + c]``.

    One lookup per byte instead of a chain of tests whose outcome the processor cannot guess
    (most of the loop's time was branch misses). 0: nothing; G_DIGIT; the guard characters
    ``= - B b :``; G_BOOL + k for the first letter of boolean word k (only after a non-word).
    """
    t = np.zeros(256, np.uint8)
    for after_word in (0, 1):
        row = 128 * after_word
        for c in range(128):
            if chr(c).isdigit():
                t[row + c] = G_DIGIT
        for ch, code in (("=", G_EQ), ("-", G_DASH), ("B", G_BIG_B), ("b", G_SMALL_B), (":", G_COLON)):
            t[row + ord(ch)] = code
    for k, word in enumerate(_BOOL_WORDS):
        t[ord(word[0])] = G_BOOL + k
    return t


def _space_table() -> np.ndarray:
    """Each byte as the whitespace pass writes it: the ten ``str.isspace`` characters as a space."""
    t = np.arange(256, dtype=np.uint8)
    t[[c for c in range(128) if chr(c).isspace()]] = 32
    return t


G_DIGIT, G_EQ, G_DASH, G_BIG_B, G_SMALL_B, G_COLON, G_BOOL = 1, 2, 3, 4, 5, 6, 7

# placeholders, concatenated; _PH_OFF[k]..._PH_OFF[k+1] is placeholder k
_PH_NAMES = ["<time>", "<url>", "<*>", "<bool>", "<size>", "<duration>", "<uuid>", "<path>", "<ip>",
             "<version>", "<hex>", "<num>"]
_PH = np.frombuffer("".join(_PH_NAMES).encode("ascii"), np.uint8).copy()
_PH_OFF = np.zeros(len(_PH_NAMES) + 1, np.int64)
for _k, _name in enumerate(_PH_NAMES):
    _PH_OFF[_k + 1] = _PH_OFF[_k] + len(_name)
(P_TIME, P_URL, P_WILD, P_BOOL, P_SIZE, P_DURATION, P_UUID, P_PATH, P_IP, P_VERSION, P_HEX,
 P_NUM) = range(len(_PH_NAMES))

# duration units in the regex's order (``s?`` greedy: the longer form first); µs never occurs in ASCII
_DUR_UNITS = ["ns", "us", "ms", "s", "sec", "secs", "seconds", "second", "mins", "min", "minutes", "minute",
              "h", "hrs", "hr", "hours", "hour"]
_DU = np.frombuffer("".join(_DUR_UNITS).encode("ascii"), np.uint8).copy()
_DU_OFF = np.zeros(len(_DUR_UNITS) + 1, np.int64)
for _k, _name in enumerate(_DUR_UNITS):
    _DU_OFF[_k + 1] = _DU_OFF[_k] + len(_name)
_DAYS = np.frombuffer(b"MonTueWedThuFriSatSun", np.uint8).copy()
_MONTHS = np.frombuffer(b"JanFebMarAprMayJunJulAugSepOctNovDec", np.uint8).copy()
_BOOL_WORDS = ["true", "false", "null", "None", "True", "False"]
_BW = np.frombuffer("".join(_BOOL_WORDS).encode("ascii"), np.uint8).copy()
_BW_OFF = np.zeros(len(_BOOL_WORDS) + 1, np.int64)
for _k, _name in enumerate(_BOOL_WORDS):
    _BW_OFF[_k + 1] = _BW_OFF[_k] + len(_name)
_G = _guard_table()
_SP = _space_table()


# ---------------------------------------------------------------- helpers


def _cls(s, n, p, bit):
    return p >= 0 and p < n and (_T[s[p]] & bit) != 0


def _is(s, n, p, ch):
    return p >= 0 and p < n and s[p] == ch


def _dd(s, n, p):  # two digits at p
    return _cls(s, n, p, _D) and _cls(s, n, p + 1, _D)


def _bnd(s, n, p):  # \b between p-1 and p
    return _cls(s, n, p - 1, _W) != _cls(s, n, p, _W)


def _run(s, n, p, bit):  # end of the run of class ``bit`` from p
    while p < n and (_T[s[p]] & bit) != 0:
        p += 1
    return p


def _lit(s, n, p, arr, a, b):  # arr[a:b] at p
    if p + (b - a) > n:
        return False
    for k in range(b - a):
        if s[p + k] != arr[a + k]:
            return False
    return True


def _word3(s, n, p, arr):  # one of the three-letter words of arr at p
    if p + 3 > n:
        return False
    for k in range(0, arr.shape[0], 3):
        if s[p] == arr[k] and s[p + 1] == arr[k + 1] and s[p + 2] == arr[k + 2]:
            return True
    return False


# ---------------------------------------------------------------- line masks


def _time_iso(s, n, i):
    # \d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?\b
    p = i
    if not (_dd(s, n, p) and _dd(s, n, p + 2) and _is(s, n, p + 4, 45) and _dd(s, n, p + 5)
            and _is(s, n, p + 7, 45) and _dd(s, n, p + 8) and (_is(s, n, p + 10, 84) or _is(s, n, p + 10, 32))
            and _dd(s, n, p + 11) and _is(s, n, p + 13, 58) and _dd(s, n, p + 14)):
        return -1
    p += 16
    g1a = -1
    g1b = -1
    if _is(s, n, p, 58) and _dd(s, n, p + 1):
        g1b = p + 3
        if (_is(s, n, g1b, 46) or _is(s, n, g1b, 44)) and _cls(s, n, g1b + 1, _D):
            g1a = _run(s, n, g1b + 1, _D)
    for k in range(3):
        g = g1a if k == 0 else (g1b if k == 1 else p)
        if g < 0:
            continue
        z = -1
        if _is(s, n, g, 90):
            z = g + 1
        elif (_is(s, n, g, 43) or _is(s, n, g, 45)) and _dd(s, n, g + 1):
            if _is(s, n, g + 3, 58) and _dd(s, n, g + 4):
                z = g + 6
            elif _dd(s, n, g + 3):
                z = g + 5
        if z >= 0 and _bnd(s, n, z):
            return z
        if _bnd(s, n, g):
            return g
    return -1


def _time_clock(s, n, i):
    # \d\d:\d\d:\d\d(?:[.,]\d+)?\b
    if not (_dd(s, n, i) and _is(s, n, i + 2, 58) and _dd(s, n, i + 3) and _is(s, n, i + 5, 58)
            and _dd(s, n, i + 6)):
        return -1
    p = i + 8
    if (_is(s, n, p, 46) or _is(s, n, p, 44)) and _cls(s, n, p + 1, _D):
        q = _run(s, n, p + 1, _D)
        if _bnd(s, n, q):
            return q
    if _bnd(s, n, p):
        return p
    return -1


def _ctime_rest(s, n, p):
    # MON\s+\d{1,2}\s+\d\d:\d\d:\d\d(?:\s+\d{4})?\b   with MON = (Jan|...)[a-z]*
    if not _word3(s, n, p, _MONTHS):
        return -1
    p += 3
    while p < n and s[p] >= 97 and s[p] <= 122:
        p += 1
    if not _cls(s, n, p, _S):
        return -1
    p = _run(s, n, p, _S)
    q = _run(s, n, p, _D)
    if q - p < 1 or q - p > 2 or not _cls(s, n, q, _S):
        return -1
    p = _run(s, n, q, _S)
    if not (_dd(s, n, p) and _is(s, n, p + 2, 58) and _dd(s, n, p + 3) and _is(s, n, p + 5, 58)
            and _dd(s, n, p + 6)):
        return -1
    q = p + 8
    if _cls(s, n, q, _S):
        r = _run(s, n, q, _S)
        if _dd(s, n, r) and _dd(s, n, r + 2) and _bnd(s, n, r + 4):
            return r + 4
    if _bnd(s, n, q):
        return q
    return -1


def _time_ctime(s, n, i):
    # (?:DAY\s+)?MON...   with DAY = (Mon|...)[a-z]*
    if _word3(s, n, i, _DAYS):
        p = i + 3
        while p < n and s[p] >= 97 and s[p] <= 122:
            p += 1
        if _cls(s, n, p, _S):
            e = _ctime_rest(s, n, _run(s, n, p, _S))
            if e >= 0:
                return e
    return _ctime_rest(s, n, i)


def _m_time(s, n, i):
    if _cls(s, n, i - 1, _W):  # every alternative starts with \b and a word character
        return -1
    c = _T[s[i]]
    if c & _D:
        e = _time_iso(s, n, i)
        if e >= 0:
            return e
        return _time_clock(s, n, i)
    if c & _AL:
        return _time_ctime(s, n, i)
    return -1


def _m_url(s, n, i):
    # \b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+
    if not _cls(s, n, i, _AL) or _cls(s, n, i - 1, _W):
        return -1
    p = i + 1
    while p < n and (((_T[s[p]] & _W) != 0 and s[p] != 95) or s[p] == 43 or s[p] == 46 or s[p] == 45):
        p += 1
    if not (_is(s, n, p, 58) and _is(s, n, p + 1, 47) and _is(s, n, p + 2, 47)):
        return -1
    q = p + 3
    while q < n and not (_T[s[q]] & _S) and s[q] != 34 and s[q] != 39 and s[q] != 60 and s[q] != 62:
        q += 1
    return q if q > p + 3 else -1


def _kv_run(s, n, i):  # [^\s,;)\]}"]+
    p = i
    while p < n:
        c = s[p]
        if (_T[c] & _S) != 0 or c == 44 or c == 59 or c == 41 or c == 93 or c == 125 or c == 34:
            break
        p += 1
    return p if p > i else -1


def _m_bool1(s, n, i):
    # (?<=[a-zA-Z]:)(?:true|false|null)\b
    if not (_is(s, n, i - 1, 58) and _cls(s, n, i - 2, _AL)):
        return -1
    for k in range(3):
        a, b = _BW_OFF[k], _BW_OFF[k + 1]
        if _lit(s, n, i, _BW, a, b):
            e = i + (b - a)
            return e if not _cls(s, n, e, _W) else -1
    return -1


def _m_bool2(s, n, i):
    # \b(?:true|false|null|None|True|False)\b
    if _cls(s, n, i - 1, _W):
        return -1
    for k in range(6):
        a, b = _BW_OFF[k], _BW_OFF[k + 1]
        if _lit(s, n, i, _BW, a, b):
            e = i + (b - a)
            return e if not _cls(s, n, e, _W) else -1
    return -1


def _size_unit(s, n, p):
    # bytes|B|KB|MB|GB|TB|KiB|MiB|GiB|TiB
    if p >= n:
        return -1
    c = s[p]
    if c == 98:  # b
        if p + 5 <= n and s[p + 1] == 121 and s[p + 2] == 116 and s[p + 3] == 101 and s[p + 4] == 115:
            return p + 5
        return -1
    if c == 66:  # B
        return p + 1
    if c == 75 or c == 77 or c == 71 or c == 84:  # K M G T
        if _is(s, n, p + 1, 66):
            return p + 2
        if _is(s, n, p + 1, 105) and _is(s, n, p + 2, 66):
            return p + 3
    return -1


def _size_amount(s, n, p):  # \d+(?:\.\d+)?\s*UNIT, from a digit at p
    p = _run(s, n, p, _D)
    if _is(s, n, p, 46) and _cls(s, n, p + 1, _D):
        p = _run(s, n, p + 1, _D)
    p = _run(s, n, p, _S)
    return _size_unit(s, n, p)


def _m_size(s, n, i):
    # \b\d+(?:\.\d+)?\s*UNIT(?:\s*\(\d+(?:\.\d+)?\s*UNIT\))?(?!\w)
    if not _cls(s, n, i, _D) or _cls(s, n, i - 1, _W):
        return -1
    u = _size_amount(s, n, i)
    if u < 0:
        return -1
    q = _run(s, n, u, _S)
    if _is(s, n, q, 40) and _cls(s, n, q + 1, _D):
        u2 = _size_amount(s, n, q + 1)
        if u2 >= 0 and _is(s, n, u2, 41) and not _cls(s, n, u2 + 1, _W):
            return u2 + 1
    return u if not _cls(s, n, u, _W) else -1


def _m_duration(s, n, i):
    # (?<![\w.])[<>~]?\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|...)(?![\w.])
    if _cls(s, n, i - 1, _W) or _is(s, n, i - 1, 46):
        return -1
    p = i
    if s[p] == 60 or s[p] == 62 or s[p] == 126:
        p += 1
    if not _cls(s, n, p, _D):
        return -1
    p = _run(s, n, p, _D)
    if _is(s, n, p, 46) and _cls(s, n, p + 1, _D):
        p = _run(s, n, p + 1, _D)
    if _cls(s, n, p, _S):
        p += 1
    for k in range(_DU_OFF.shape[0] - 1):
        a, b = _DU_OFF[k], _DU_OFF[k + 1]
        if _lit(s, n, p, _DU, a, b):
            e = p + (b - a)
            if not (_cls(s, n, e, _W) or _is(s, n, e, 46)):
                return e
    return -1


def _duration_guard_at(s, n, p):
    # \d ?(?:ns|us|µs|ms|s|sec|min|h) at p: the guard is not implied by the mask (it allows only a space)
    if not (_T[s[p]] & _D):
        return False
    q = p + 1
    if _is(s, n, q, 32):
        q += 1
    if q < n:
        c = s[q]
        if c == 115 or c == 104:
            return True
        if (c == 110 or c == 117 or c == 109) and _is(s, n, q + 1, 115):
            return True
        if c == 109 and _is(s, n, q + 1, 105) and _is(s, n, q + 2, 110):
            return True
    return False


def _duration_guard(s, n):
    for p in range(n):
        if _duration_guard_at(s, n, p):
            return True
    return False


def _m_uuid(s, n, i):
    # \b[0-9a-fA-F]{8}-{4}-{4}-{4}-{12}\b
    if i + 36 > n or _cls(s, n, i - 1, _W):
        return -1
    for k in range(36):
        if k == 8 or k == 13 or k == 18 or k == 23:
            if s[i + k] != 45:
                return -1
        elif not (_T[s[i + k]] & _HX):
            return -1
    return i + 36 if not _cls(s, n, i + 36, _W) else -1


# ---------------------------------------------------------------- token masks (no whitespace inside)


def _m_path(s, n, i):
    # /(?<!NB/)[\w.\-@~+%]+(?:/[\w.\-@~+%]+)+/?
    if s[i] != 47 or (i > 0 and not (_T[s[i - 1]] & _DL)):
        return -1
    p = _run(s, n, i + 1, _PC)
    if p == i + 1:
        return -1
    iters = 0
    while _is(s, n, p, 47):
        q = _run(s, n, p + 1, _PC)
        if q == p + 1:
            break
        p = q
        iters += 1
    if iters == 0:
        return -1
    if _is(s, n, p, 47):
        p += 1
    return p


def _rb(s, n, p):  # (?!NB): the end, or a delimiter
    return p >= n or (_T[s[p]] & _DL) != 0


def _m_ip(s, n, i):
    # LB /?\d{1,3}(?:\.\d{1,3}){3}(?::\d+)? RB
    if i > 0 and not (_T[s[i - 1]] & _DL):
        return -1
    p = i
    if s[p] == 47:
        p += 1
    for k in range(4):
        if k > 0:
            if not _is(s, n, p, 46):
                return -1
            p += 1
        q = _run(s, n, p, _D)
        if q == p or q - p > 3:
            return -1
        p = q
    if _is(s, n, p, 58) and _cls(s, n, p + 1, _D):
        q = _run(s, n, p + 1, _D)
        if _rb(s, n, q):
            return q
    return p if _rb(s, n, p) else -1


def _m_version(s, n, i):
    # LB v?\d+\.\d+\.\d+(?:[-+][\w.-]+)? RB
    if i > 0 and not (_T[s[i - 1]] & _DL):
        return -1
    p = i
    if s[p] == 118:
        p += 1
    for k in range(3):
        if k > 0:
            if not _is(s, n, p, 46):
                return -1
            p += 1
        q = _run(s, n, p, _D)
        if q == p:
            return -1
        p = q
    if _is(s, n, p, 45) or _is(s, n, p, 43):
        q = p + 1
        while q < n and ((_T[s[q]] & _W) != 0 or s[q] == 46 or s[q] == 45):
            q += 1
        if q > p + 1 and _rb(s, n, q):
            return q
        return -1
    return p if _rb(s, n, p) else -1


def _m_hex(s, n, i):
    # \b0[xX][0-9a-fA-F]+\b
    if s[i] != 48 or _cls(s, n, i - 1, _W) or not (_is(s, n, i + 1, 120) or _is(s, n, i + 1, 88)):
        return -1
    q = _run(s, n, i + 2, _HX)
    if q == i + 2 or _cls(s, n, q, _W):
        return -1
    return q


def _m_num(s, n, i):
    # LB [-+]?\d+(?:\.\d+)? RB
    if i > 0 and not (_T[s[i - 1]] & _DL):
        return -1
    p = i
    if s[p] == 45 or s[p] == 43:
        p += 1
    if not _cls(s, n, p, _D):
        return -1
    p = _run(s, n, p, _D)
    if _is(s, n, p, 46) and _cls(s, n, p + 1, _D):
        q = _run(s, n, p + 1, _D)
        return q if _rb(s, n, q) else -1
    return p if _rb(s, n, p) else -1


def _m_star(s, n, i):
    # (?<!NB_NODOT)(?=NB_NODOT*\d)NB_NODOT+
    if i > 0 and not ((_T[s[i - 1]] & _DL) != 0 or s[i - 1] == 46):
        return -1
    q = i
    digit = False
    while q < n and not (_T[s[q]] & _DL) and s[q] != 46:
        if _T[s[q]] & _D:
            digit = True
        q += 1
    return q if digit else -1


# ---------------------------------------------------------------- passes


def _m_kv(s, n, i, aux):
    # (?<==)(?:"[^"]*"|'[^']*'|[^\s,;)\]}"]+)
    if not _is(s, n, i - 1, 61):
        return -1
    c = s[i]
    if c == 34 or c == 39:
        # next closing quote after i: aux[0] / aux[1] remember the last search (i only grows)
        slot = 0 if c == 34 else 1
        if aux[slot] <= i:
            q = i + 1
            while q < n and s[q] != c:
                q += 1
            aux[slot] = q
        q = aux[slot]
        if q < n:
            return q + 1
        return -1 if c == 34 else _kv_run(s, n, i)
    return _kv_run(s, n, i)


K_TIME, K_URL, K_KV, K_BOOL1, K_BOOL2, K_SIZE, K_DURATION, K_UUID, K_PATH, K_IP, K_VERSION, K_HEX, K_NUM, \
    K_STAR = range(14)
_PH_OF_KIND = np.array([P_TIME, P_URL, P_WILD, P_WILD, P_BOOL, P_SIZE, P_DURATION, P_UUID, P_PATH, P_IP,
                        P_VERSION, P_HEX, P_NUM, P_WILD], np.int64)


def _prefilter() -> tuple[np.ndarray, np.ndarray]:
    """Per mask, the characters a match can start with and the characters it can follow (256: none).

    A pure speed-up: each matcher checks the same conditions again itself.
    """
    first = np.zeros((14, 256), np.uint8)
    prev = np.zeros((14, 257), np.uint8)
    second = np.zeros((14, 257), np.uint8)  # the character after the first (256: the end)
    cls = _table()
    digits = [c for c in range(128) if cls[c] & _D]
    letters = [c for c in range(128) if cls[c] & _AL]
    hexd = [c for c in range(128) if cls[c] & _HX]
    non_w = [c for c in range(128) if not cls[c] & _W] + [256]
    delim = [c for c in range(128) if cls[c] & _DL] + [256]

    def allow(k, firsts, prevs, seconds=tuple(range(257))):
        first[k, list(firsts)] = 1
        prev[k, list(prevs)] = 1
        second[k, list(seconds)] = 1

    def chars(text):
        return [ord(c) for c in text]

    space = [c for c in range(128) if cls[c] & _S]

    # \d\d... or a day / month name (second letter lower case)
    allow(K_TIME, digits + chars("JFMASONDTW"), non_w, digits + [c for c in letters if 97 <= c <= 122])
    allow(K_URL, letters, non_w, [c for c in range(128) if cls[c] & _W and c != 95] + chars("+.-:"))
    allow(K_KV, range(128), [ord("=")])
    allow(K_BOOL1, chars("tfn"), [ord(":")], chars("rau"))
    allow(K_BOOL2, chars("tfnNTF"), non_w, chars("rauo"))
    allow(K_SIZE, digits, non_w, digits + space + chars(".bBKMGT"))
    allow(K_DURATION, digits + chars("<>~"), [c for c in non_w if c != ord(".")], digits + space + chars(".numsh"))
    allow(K_UUID, hexd, non_w, hexd)
    allow(K_PATH, [ord("/")], delim, [c for c in range(128) if cls[c] & _PC])
    allow(K_IP, digits + [ord("/")], delim, digits + [ord(".")])
    allow(K_VERSION, digits + [ord("v")], delim, digits + [ord(".")])
    allow(K_HEX, [ord("0")], non_w, chars("xX"))
    allow(K_NUM, digits + chars("-+"), delim)
    allow(K_STAR, [c for c in range(128) if not cls[c] & _DL and c != ord(".")], delim + [ord(".")])
    return first.reshape(-1), prev.reshape(-1), second.reshape(-1)


_FIRST, _PREV, _SECOND = _prefilter()


def _sub(kind, src, n, dst, cap, aux):
    """``re.sub`` of mask ``kind``: src[:n] -> dst; the new length, -2 (no match: src unchanged) or -1 (overflow)."""
    aux[0] = -1
    aux[1] = -1
    i = 0
    m = 0
    last = 0  # src[last:i] is pending (unmatched) text
    ph = _PH_OF_KIND[kind]
    a, b = _PH_OFF[ph], _PH_OFF[ph + 1]
    row = kind * 256
    prow = kind * 257
    changed = False
    while i < n:
        if (_FIRST[row + src[i]] == 0 or _PREV[prow + (src[i - 1] if i > 0 else 256)] == 0
                or _SECOND[prow + (src[i + 1] if i + 1 < n else 256)] == 0):
            i += 1
            continue
        # the matchers are called directly (each call level costs); the two hottest start cheaper
        pa, pb = a, b
        if kind == K_STAR:
            # <num> and the digit catch-all in one pass. Equivalent to <num> first: a <num> match is a
            # whole delimited chunk, so the catch-all never starts inside one or reads across one, and
            # it never starts at the delimiter that follows one (the only character whose predecessor
            # the <num> pass changes).
            c = src[i]
            if ((_T[c] & _D) != 0 or c == 45 or c == 43) and (i == 0 or (_T[src[i - 1]] & _DL) != 0):
                e = _m_num(src, n, i)
                if e >= 0:
                    pa, pb = _PH_OFF[P_NUM], _PH_OFF[P_NUM + 1]
                    changed = True
                    if m + (i - last) + (pb - pa) > cap:
                        return -1
                    for k in range(last, i):
                        dst[m] = src[k]
                        m += 1
                    for k in range(pa, pb):
                        dst[m] = _PH[k]
                        m += 1
                    i = e
                    last = e
                    continue
            q = i
            digit = False
            while q < n and (_T[src[q]] & _DL) == 0 and src[q] != 46:
                if _T[src[q]] & _D:
                    digit = True
                q += 1
            if not digit:
                i = q  # no position inside this chunk can start a match: its predecessor is in the chunk
                continue
            e = q
        elif kind == K_TIME:
            # \d\d:.. (clock) or \d{4}-.. (ISO) from a digit; a three-letter day or month from a letter
            if _T[src[i]] & _D:
                if not ((i + 2 < n and src[i + 2] == 58) or (i + 4 < n and src[i + 4] == 45)):
                    i += 1
                    continue
            elif not (i + 2 < n and src[i + 2] >= 97 and src[i + 2] <= 122):
                i += 1
                continue
            e = _m_time(src, n, i)
        elif kind == K_URL:
            e = _m_url(src, n, i)
        elif kind == K_KV:
            e = _m_kv(src, n, i, aux)
        elif kind == K_BOOL1:
            e = _m_bool1(src, n, i)
        elif kind == K_BOOL2:
            e = _m_bool2(src, n, i)
        elif kind == K_SIZE:
            e = _m_size(src, n, i)
        elif kind == K_DURATION:
            e = _m_duration(src, n, i)
        elif kind == K_UUID:
            e = _m_uuid(src, n, i)
        elif kind == K_PATH:
            e = _m_path(src, n, i)
        elif kind == K_IP:
            e = _m_ip(src, n, i)
        elif kind == K_VERSION:
            e = _m_version(src, n, i)
        elif kind == K_HEX:
            e = _m_hex(src, n, i)
        else:
            e = _m_num(src, n, i)
        if e < 0:
            i += 1
            continue
        changed = True
        if m + (i - last) + (pb - pa) > cap:
            return -1
        for k in range(last, i):
            dst[m] = src[k]
            m += 1
        for k in range(pa, pb):
            dst[m] = _PH[k]
            m += 1
        i = e
        last = e
    if not changed:
        return -2
    if m + (n - last) > cap:
        return -1
    for k in range(last, n):
        dst[m] = src[k]
        m += 1
    return m


def _mask_line(line, n, a, b, out, cap, aux):
    """Mask line[:n] into out; returns the length, or -1 (hand the line to mask())."""
    # Cheap flags on the input: the passes only ever remove digits and these characters, so a
    # mask whose guard fails on the input cannot match later either.
    has_digit = False
    has_eq = False
    has_dash = False
    has_B = False
    has_url = False
    has_bool = False
    has_clock = False
    has_hex = False
    has_duration = False  # the duration guard on the input: the earlier passes cannot create a hit
    groups = 0  # digit runs joined by single dots, ending here (1.2.3 -> 3): <ip> and <version> need 3
    most_groups = 0
    after_word = 0  # 128 when line[p - 1] is a word character (a row of _G)
    for p in range(n):
        c = line[p]
        if c >= 128:
            return -1
        a[p] = c
        g = _G[after_word + c]
        after_word = (_T[c] & _W) << 7
        if g == 0:
            continue
        if g == G_DIGIT:
            has_digit = True
            if not has_duration:
                has_duration = _duration_guard_at(line, n, p)
            if p > 0 and (_T[line[p - 1]] & _D) != 0:
                pass
            elif p > 1 and line[p - 1] == 46 and (_T[line[p - 2]] & _D) != 0:
                groups += 1
            else:
                groups = 1
            if groups > most_groups:
                most_groups = groups
            if c == 48 and p + 1 < n and (line[p + 1] == 120 or line[p + 1] == 88):
                has_hex = True
        elif g == G_EQ:
            has_eq = True
        elif g == G_DASH:
            # the dashes of a UUID, 8-4-4-4-12: four of them five apart
            if p + 15 < n and line[p + 5] == 45 and line[p + 10] == 45 and line[p + 15] == 45:
                has_dash = True
        elif g == G_BIG_B:
            has_B = True
        elif g == G_SMALL_B:
            if p + 4 < n and line[p + 1] == 121 and line[p + 2] == 116 and line[p + 3] == 101 \
                    and line[p + 4] == 115:
                has_B = True
        elif g == G_COLON:
            if p + 2 < n and s_digit(line, p - 1) and (_T[line[p + 1]] & _D) != 0 and (_T[line[p + 2]] & _D) != 0:
                has_clock = True
            if p + 2 < n and line[p + 1] == 47 and line[p + 2] == 47:
                has_url = True
        elif not has_bool:  # the first letter of a boolean word after a non-word: both boolean masks start so
            k = g - G_BOOL
            if _lit(line, n, p, _BW, _BW_OFF[k], _BW_OFF[k + 1]):
                has_bool = True
    # the line masks, in mask()'s order; r: new length, -2 unchanged, -1 overflow
    cur, nxt = a, b
    m = n
    touched = False  # whether a pass so far changed the line
    if has_clock:
        r = _sub(0, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
            touched = True
    if has_url:
        r = _sub(1, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
            touched = True
    if has_eq:
        r = _sub(2, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
            touched = True
    if has_bool:
        r = _sub(3, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
            touched = True
        r = _sub(4, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
            touched = True
    if has_B and has_digit:
        r = _sub(5, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
            touched = True
    # has_duration holds for the input; a pass that changed the line may have removed the hit
    if has_duration and (not touched or _duration_guard(cur, m)):
        r = _sub(6, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
    if has_dash and m >= 36:
        r = _sub(7, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
    # whitespace runs -> one space, none at the ends (mask() splits the line and joins the tokens).
    # Without branches on the data: every byte is written (whitespace as a space) and the write
    # position only moves on where the byte does not continue a run of whitespace.
    o = 0
    slash = 0
    digit = 0
    prev_s = 1  # as if the line began after whitespace: leading whitespace is dropped
    for p in range(m):
        c = cur[p]
        t = _T[c]
        sp = (t >> 1) & 1  # _S
        nxt[o] = _SP[c]
        o += 1 - (sp & prev_s)
        prev_s = sp
        slash |= c == 47
        digit |= (t >> 2) & 1  # _D
    if o > 0 and prev_s == 1:
        o -= 1  # the trailing space
    cur, nxt = nxt, cur
    m = o
    # The token masks never cross whitespace and see a space as they see a token's edge (a
    # delimiter, not a word character), so one pass over the joined tokens equals mask()'s
    # passes token by token.
    if slash:
        r = _sub(K_PATH, cur, m, nxt, cap, aux)
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
            digit = 0
            for k in range(m):
                if _T[cur[k]] & _D:
                    digit = 1
                    break
    # each pass with its kind written out: numba compiles one _sub per literal kind, with the other
    # kinds' branches removed (a loop over the kinds gets one generic _sub that tests them per byte)
    if digit:
        if most_groups >= 3:
            r = _sub(K_IP, cur, m, nxt, cap, aux)
            if r == -1:
                return -1
            if r >= 0:
                m = r
                cur, nxt = nxt, cur
            r = _sub(K_VERSION, cur, m, nxt, cap, aux)
            if r == -1:
                return -1
            if r >= 0:
                m = r
                cur, nxt = nxt, cur
        if has_hex:
            r = _sub(K_HEX, cur, m, nxt, cap, aux)
            if r == -1:
                return -1
            if r >= 0:
                m = r
                cur, nxt = nxt, cur
        r = _sub(K_STAR, cur, m, nxt, cap, aux)  # <num> is done inside this pass
        if r == -1:
            return -1
        if r >= 0:
            m = r
            cur, nxt = nxt, cur
    for k in range(m):
        out[k] = cur[k]
    return m


def s_digit(s, p):
    return p >= 0 and (_T[s[p]] & _D) != 0


_H1_BASIS = np.uint64(0xCBF29CE484222325)
_H1_PRIME = np.uint64(0x100000001B3)
_H2_BASIS = np.uint64(0x84222325CBF29CE4)
_H2_MUL = np.uint64(0x9E3779B97F4A7C15)


def _raw_view(arr):  # replaced by a numba intrinsic in load(); in plain Python a view is the array itself
    return arr


def _bounds(data, char_lens, starts, ends, ascii_only):
    """Byte start/end of every line: ``char_lens`` characters each, one separator byte between."""
    pos = 0
    total = data.shape[0]
    for j in range(char_lens.shape[0]):
        starts[j] = pos
        if ascii_only:
            pos += char_lens[j]
        else:
            left = char_lens[j]
            while left > 0 and pos < total:
                pos += 1
                while pos < total and (data[pos] & 0xC0) == 0x80:  # continuation bytes
                    pos += 1
                left -= 1
        ends[j] = pos
        pos += 1


def _scan(data, char_lens, ascii_only, h1, h2):
    nl = char_lens.shape[0]
    starts = np.empty(nl, np.int64)
    ends = np.empty(nl, np.int64)
    _bounds(data, char_lens, starts, ends, ascii_only)
    longest = 0
    for j in range(nl):
        ln = ends[j] - starts[j]
        if ln <= MAX_LINE_BYTES and ln > longest:
            longest = ln
    cap = 6 * longest + 64
    a0 = np.empty(cap, np.uint8)
    b0 = np.empty(cap, np.uint8)
    out0 = np.empty(cap, np.uint8)
    aux0 = np.empty(2, np.int64)
    # views without a reference count: passing a counted array to a compiled helper costs an atomic
    # increment and decrement per call, which was most of the scanner's time; a0..aux0 keep the memory
    a, b, out, aux, data = _raw_view(a0), _raw_view(b0), _raw_view(out0), _raw_view(aux0), _raw_view(data)
    for j in range(nl):
        ln = ends[j] - starts[j]
        h1[j] = 0
        h2[j] = 0
        if ln > MAX_LINE_BYTES:
            continue
        o = _mask_line(data[starts[j]:ends[j]], ln, a, b, out, cap, aux)
        if o < 0:
            continue
        x = _H1_BASIS
        y = _H2_BASIS
        for k in range(o):
            c = np.uint64(out[k])
            x = (x ^ c) * _H1_PRIME
            y = (y + c + np.uint64(1)) * _H2_MUL
        x ^= x >> np.uint64(29)
        y ^= np.uint64(o)
        if x == np.uint64(0):
            x = np.uint64(1)
        h1[j] = x
        h2[j] = y
    return a0.shape[0] + b0.shape[0] + out0.shape[0] + aux0.shape[0]  # keeps the buffers alive until here


def _scan_texts(data, char_lens, ascii_only, offsets, buf):
    """Masked texts of every line into buf (offsets[j]..offsets[j+1]); a flagged line gets offsets -1."""
    nl = char_lens.shape[0]
    starts = np.empty(nl, np.int64)
    ends = np.empty(nl, np.int64)
    _bounds(data, char_lens, starts, ends, ascii_only)
    longest = 0
    for j in range(nl):
        ln = ends[j] - starts[j]
        if ln <= MAX_LINE_BYTES and ln > longest:
            longest = ln
    cap = 6 * longest + 64
    a0 = np.empty(cap, np.uint8)
    b0 = np.empty(cap, np.uint8)
    out0 = np.empty(cap, np.uint8)
    aux0 = np.empty(2, np.int64)
    # views without a reference count: passing a counted array to a compiled helper costs an atomic
    # increment and decrement per call, which was most of the scanner's time; a0..aux0 keep the memory
    a, b, out, aux, data = _raw_view(a0), _raw_view(b0), _raw_view(out0), _raw_view(aux0), _raw_view(data)
    w = 0
    for j in range(nl):
        ln = ends[j] - starts[j]
        o = -1
        if ln <= MAX_LINE_BYTES:
            o = _mask_line(data[starts[j]:ends[j]], ln, a, b, out, cap, aux)
        if o < 0 or w + o > buf.shape[0]:
            offsets[2 * j] = -1
            offsets[2 * j + 1] = -1
            continue
        offsets[2 * j] = w
        for k in range(o):
            buf[w] = out[k]
            w += 1
        offsets[2 * j + 1] = w
    return a0.shape[0] + b0.shape[0] + out0.shape[0] + aux0.shape[0]  # keeps the buffers alive until here


# ---------------------------------------------------------------- compiling


# tiny helpers are inlined where they are used (numba IR): a call that passes an array costs reference
# counting, which made every matcher call ~30x dearer than its work
_INLINE = {"_cls", "_is", "_dd", "_bnd", "_run", "_lit", "_word3", "_rb", "s_digit", "_kv_run", "_size_unit", "_duration_guard_at"}
_KERNELS: tuple | None = None
_FAILED = False
compile_seconds: float | None = None  # wall time of the first load (compile, or read from numba's cache)


def available() -> bool:
    """Whether numba can be imported (the scanner is loaded on first use)."""
    if _FAILED:
        return False
    try:
        import importlib.util

        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):
        return False


def load() -> tuple | None:
    """The compiled ``(scan, scan_texts)`` pair, compiled (or read from numba's cache) on the first call.

    ``None`` when numba is missing or fails to compile; :data:`compile_seconds` says what the first call cost.
    """
    global _KERNELS, _FAILED, compile_seconds
    if _KERNELS is not None or _FAILED:
        return _KERNELS
    t = time.perf_counter()
    try:
        from numba import njit
    except ImportError:
        _FAILED = True
        return None
    try:
        g = globals()
        g["_raw_view"] = _make_raw_view()
        helpers = ["_cls", "_is", "_dd", "_bnd", "_run", "_lit", "_word3", "_time_iso", "_time_clock", "_ctime_rest",
                   "_time_ctime", "_m_time", "_m_url", "_kv_run", "_m_bool1", "_m_bool2", "_size_unit",
                   "_size_amount", "_m_size", "_m_duration", "_duration_guard", "_duration_guard_at", "_m_uuid", "_m_path", "_rb",
                   "_m_ip", "_m_version", "_m_hex", "_m_num", "_m_star", "_m_kv", "_sub", "s_digit",
                   "_mask_line", "_bounds"]
        for name in helpers:
            if name in _INLINE:
                g[name] = njit(cache=True, nogil=True, inline="always")(g[name])
            else:
                g[name] = njit(cache=True, nogil=True)(g[name])
        scan = njit(cache=True, nogil=True)(g["_scan"])
        texts = njit(cache=True, nogil=True)(g["_scan_texts"])
        # compile now (or load from the cache), on a line that exercises every pass
        sample = "2026-03-01 10:00:00Z a=1 http://x/y true 5 MB 3 ms 12345678-1234-1234-1234-123456789abc " \
                 "/a/b 10.0.0.1:80 v1.2.3 0x1f 42 x1"
        data, lens, ascii_only = encode([sample])
        scan(data, lens, ascii_only, np.empty(1, np.uint64), np.empty(1, np.uint64))
        texts(data, lens, ascii_only, np.empty(2, np.int64), np.empty(1024, np.uint8))
    except Exception:  # noqa: BLE001 - a numba that cannot compile this leaves the regex path in place
        _FAILED = True
        return None
    _KERNELS = (scan, texts)
    compile_seconds = time.perf_counter() - t
    return _KERNELS


def loaded() -> bool:
    """Whether this process has the compiled scanner already."""
    return _KERNELS is not None


def warm() -> bool:
    """Whether numba's on-disk cache holds the scanner compiled from this very source.

    Then :func:`load` only reads it (well under a second); otherwise it would compile (about a
    minute), which a run with a deadline must not wait for. Reads numba's cache index, a private
    interface: any surprise counts as "not warm".
    """
    try:
        from numba import njit

        return bool(njit(cache=True)(_scan)._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001
        return False


_WARMING: list = []


def warm_up_in_background() -> None:
    """Compile the scanner into numba's cache in a separate process (once per process), for later runs.

    The process has its own ten-minute alarm and no terminal; this run goes on without the scanner.
    """
    if _WARMING:
        return
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])  # the directory holding the ctxgrab package
    code = ("import signal, sys\nsignal.alarm(600)\nsys.path.insert(0, sys.argv[1])\n"
            "from ctxgrab.analysis import _maskscan\n_maskscan.load()\n")
    try:
        _WARMING.append(subprocess.Popen([sys.executable, "-c", code, root], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True))
    except OSError:
        _WARMING.append(None)


def _make_raw_view():
    """A numba intrinsic: the same array with no memory owner (its reference counting becomes a no-op).

    The caller keeps the owning array alive for as long as the view is used.
    """
    from numba.extending import intrinsic

    @intrinsic
    def raw_view(typingctx, arr):
        def codegen(context, builder, signature, args):
            src = context.make_array(arr)(context, builder, value=args[0])
            out = context.make_array(arr)(context, builder)  # zero-filled: meminfo and parent are NULL
            out.nitems = src.nitems
            out.itemsize = src.itemsize
            out.data = src.data
            out.shape = src.shape
            out.strides = src.strides
            return out._getvalue()

        return arr(arr), codegen

    return raw_view


def encode(lines: list[str]) -> tuple[np.ndarray, np.ndarray, bool]:
    """The lines as one buffer (joined by newlines) with their lengths in characters."""
    joined = "\n".join(lines)
    raw = joined.encode("utf-8", "surrogatepass")
    lens = np.fromiter(map(len, lines), np.int64, len(lines))
    return np.frombuffer(raw, np.uint8), lens, len(raw) == len(joined)


def hashes(lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each line's masked text; 0 where the line must go to mask()."""
    scan, _ = load()  # type: ignore[misc]
    data, lens, ascii_only = encode(lines)
    h1 = np.empty(len(lines), np.uint64)
    h2 = np.empty(len(lines), np.uint64)
    scan(data, lens, ascii_only, h1, h2)
    return h1, h2


def texts(lines: list[str]) -> list[str | None]:
    """Each line's masked text, or ``None`` where the line must go to mask()."""
    _, scan_texts = load()  # type: ignore[misc]
    data, lens, ascii_only = encode(lines)
    offsets = np.empty(2 * len(lines), np.int64)
    size = int(sum(6 * min(int(n), MAX_LINE_BYTES) + 64 for n in lens.tolist()))
    buf = np.empty(size, np.uint8)
    scan_texts(data, lens, ascii_only, offsets, buf)
    raw = buf.tobytes()
    off = offsets.tolist()
    return [None if off[2 * j] < 0 else raw[off[2 * j]:off[2 * j + 1]].decode("ascii") for j in range(len(lines))]
