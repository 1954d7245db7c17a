"""What changed between two versions: commits, files and review facts from ``git`` output,
tied to the evidence (stack frames, heap classes, settings keys, SQL).

Pure functions over text: the collector (:mod:`ctxgrab.collectors.repo`) runs ``git`` and
hands its output here, so everything below is testable without a repository.

The tie-in is what makes the section worth reading: a new exception's top frame
``PaymentService.java:42`` that falls in a hunk of a commit between the last known good
version and the current one names that commit; a class leading the heap growth whose
source file the change touched names the commits that touched it.

>>> parse_log("\\x1eabc1234\\x1f\\x1fAnn\\x1fann@example.com\\x1f2026-03-01T10:00:00+00:00"
...           "\\x1fPAY-1 fix\\x1fReviewed-by: Bo <bo@example.com>\\n\\n3\\t1\\tsrc/A.java\\n")[0]["tickets"]
['PAY-1']
"""

from __future__ import annotations

import re
from typing import Any, Iterable

__all__ = [
    "LOG_FORMAT",
    "parse_log",
    "parse_numstat",
    "parse_hunks",
    "parse_blame_porcelain",
    "review_facts",
    "frames_from_evidence",
    "classes_from_evidence",
    "sql_tables_from_evidence",
    "match_path",
    "changed_setting_keys",
    "rank",
]

#: ``git log --format`` for :func:`parse_log`: record separator, then unit-separated fields.
LOG_FORMAT = "%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%s%x1f%(trailers:only,unfold,separator=%x1d)"

REVIEW_TRAILERS = ("reviewed-by", "approved-by", "acked-by", "reviewed-on", "tested-by")
_TICKET = re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d{1,7}\b")
# Merges that come from a reviewed branch: GitHub pull requests, GitLab merge requests,
# Bitbucket and Azure DevOps pull requests.
_REVIEWED_MERGE = re.compile(
    r"^(Merge pull request #\d+|Merged PR \d+|Merged in \S+ \(pull request #\d+\))|See merge request ",
    re.M,
)


def _rename_target(path: str) -> tuple[str, str | None]:
    """``src/{a => b}/X.java`` → (``src/b/X.java``, ``src/a/X.java``); a plain path → (path, None)."""
    if " => " not in path and '"' not in path:
        return path, None  # the common case, kept cheap: a large change has tens of thousands
    if len(path) >= 2 and path[0] == path[-1] == '"':
        path = path[1:-1]
    m = re.match(r"^(.*)\{(.*) => (.*)\}(.*)$", path)
    if m:
        pre, old, new, post = m.groups()
        join = lambda mid: re.sub(r"//+", "/", f"{pre}{mid}{post}").lstrip("/")  # noqa: E731
        return join(new), join(old)
    if " => " in path:
        old, new = path.split(" => ", 1)
        return new, old
    return path, None


def parse_numstat(text: str) -> list[dict[str, Any]]:
    """``git diff --numstat -M`` (or the numstat part of ``git log``) → files with lines added/removed.

    Binary files have ``added``/``removed`` None and ``binary`` True.
    """
    files = []
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3 or not parts[2]:
            continue
        a, r, p = parts
        path, old = _rename_target(p)
        binary = a == "-" and r == "-"
        try:
            added = None if binary else int(a)
            removed = None if binary else int(r)
        except ValueError:
            continue
        f: dict[str, Any] = {"path": path, "added": added, "removed": removed, "binary": binary}
        if old is not None:
            f["renamed_from"] = old
        files.append(f)
    return files


def parse_log(text: str) -> list[dict[str, Any]]:
    """``git log --format=LOG_FORMAT --numstat`` → commits, newest first, with their files."""
    commits = []
    for rec in text.split("\x1e"):
        if not rec.strip():
            continue
        head, _, rest = rec.partition("\n")
        fields = head.split("\x1f")
        if len(fields) < 7:
            continue
        sha, parents, author, email, date, subject, trailers_raw = fields[:7]
        trailers = []
        for t in trailers_raw.split("\x1d"):
            key, sep, value = t.partition(":")
            if sep and key.strip():
                trailers.append({"key": key.strip(), "value": value.strip()})
        files = parse_numstat(rest)
        added = sum(f["added"] or 0 for f in files)
        removed = sum(f["removed"] or 0 for f in files)
        plist = parents.split()
        commits.append({
            "sha": sha,
            "short": sha[:7],
            "parents": plist,
            "merge": len(plist) > 1,
            "author": author,
            "email": email,
            "date": date,
            "subject": subject,
            "tickets": sorted(set(_TICKET.findall(subject))),
            "trailers": trailers,
            "reviewed": any(t["key"].lower() in REVIEW_TRAILERS for t in trailers),
            "co_authors": [t["value"] for t in trailers if t["key"].lower() == "co-authored-by"],
            "files": files,
            "added": added,
            "removed": removed,
        })
    return commits


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.M)


def parse_hunks(diff_text: str) -> list[dict[str, int]]:
    """``@@ -a,b +c,d @@`` headers of a one-file diff → new-side line ranges (``start``..``end``).

    A pure deletion (``d == 0``) is kept as the one line after which lines went away.
    """
    out = []
    for m in _HUNK.finditer(diff_text):
        old_start, old_len, start, length = m.groups()
        n = 1 if length is None else int(length)
        s = int(start)
        out.append({"start": s if n else max(s, 1), "end": s + n - 1 if n else max(s, 1),
                    "old_start": int(old_start), "old_len": 1 if old_len is None else int(old_len),
                    "added": n})
    return out


def parse_blame_porcelain(text: str) -> dict[str, Any] | None:
    """The first line of ``git blame --porcelain -L n,n``: commit, original line and path."""
    lines = text.splitlines()
    if not lines:
        return None
    head = lines[0].split()
    if len(head) < 3 or not re.fullmatch(r"[0-9a-f]{40,64}", head[0]):
        return None
    out: dict[str, Any] = {"sha": head[0], "orig_line": int(head[1]), "final_line": int(head[2])}
    for line in lines[1:]:
        if line.startswith("filename "):
            out["path"] = line[len("filename "):]
        elif line.startswith("boundary"):
            out["boundary"] = True
    return out


def review_facts(commits: list[dict[str, Any]], covered_by_merge: dict[str, str]) -> dict[str, Any]:
    """How many non-merge commits carry a review trailer or came through a reviewed merge.

    ``covered_by_merge`` maps a commit sha to the short sha of the reviewed merge that brought it.
    """
    own = [c for c in commits if not c["merge"]]
    reviewed, via_merge, unreviewed = [], [], []
    for c in own:
        if c["reviewed"]:
            reviewed.append(c)
        elif c["sha"] in covered_by_merge:
            via_merge.append(c)
        else:
            unreviewed.append(c)
    return {
        "commits": len(own),
        "merges": len(commits) - len(own),
        "with_trailer": len(reviewed),
        "via_reviewed_merge": len(via_merge),
        "unreviewed": len(unreviewed),
        "unreviewed_commits": [{"short": c["short"], "subject": c["subject"], "author": c["author"]}
                               for c in unreviewed],
    }


def reviewed_merges(commits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge commits whose message or trailers say the branch was reviewed."""
    return [c for c in commits if c["merge"] and (c["reviewed"] or _REVIEWED_MERGE.search(c["subject"]))]


def brought_by_merges(commits: list[dict[str, Any]], head: str) -> dict[str, str]:
    """Which merge brought each side-branch commit into the line that ends at ``head``.

    The mainline is ``head``'s first-parent chain inside the range; a commit off it belongs
    to the oldest mainline merge whose other parents reach it (what ``git rev-list
    M^1..M^2`` lists for each merge ``M``, in one pass over the parsed graph).
    Returns sha → short sha of the merge.
    """
    by_sha = {c["sha"]: c for c in commits}
    mainline: list[str] = []
    sha = head
    while sha in by_sha:
        mainline.append(sha)
        parents = by_sha[sha]["parents"]
        sha = parents[0] if parents else ""
    on_main = set(mainline)
    owner: dict[str, str] = {}
    for m in reversed(mainline):  # oldest merge first
        c = by_sha[m]
        if not c["merge"]:
            continue
        stack = [p for p in c["parents"][1:] if p in by_sha]
        while stack:
            x = stack.pop()
            if x in on_main or x in owner:
                continue
            owner[x] = c["short"]
            stack.extend(p for p in by_sha[x]["parents"] if p in by_sha)
    return owner


# --- what the evidence points at -------------------------------------------------------

_JAVA_FRAME = re.compile(
    r"at\s+(?:[\w.$/]+/)?(?P<cls>[\w$]+(?:\.[\w$]+)+)\.(?P<meth>[\w$<>]+)\((?P<file>[\w$-]+\.(?:java|kt|scala|groovy|clj)):(?P<line>\d+)\)"
)
_PY_FRAME = re.compile(r'File "(?P<file>[^"]+\.py)", line (?P<line>\d+)(?:, in (?P<meth>[\w<>]+))?')
_GO_FRAME = re.compile(r"(?P<file>(?:/[\w.@+-]+)+\.go):(?P<line>\d+)")
_JS_FRAME = re.compile(r"\((?P<file>(?:/|\.\.?/)?[\w./@-]+\.(?:js|ts|mjs|cjs|tsx|jsx)):(?P<line>\d+):\d+\)")


def _frames_in(text: str) -> list[dict[str, Any]]:
    out = []
    for m in _JAVA_FRAME.finditer(text):
        cls = m.group("cls")
        pkg = cls.rsplit(".", 1)[0].split("$")[0] if "." in cls else ""
        out.append({"file": m.group("file"), "line": int(m.group("line")), "symbol": f"{cls.split('.')[-1]}.{m.group('meth')}",
                    "package_path": pkg.replace(".", "/"), "frame": f"{cls.split('.')[-1]}.{m.group('meth')}"
                    f"({m.group('file')}:{m.group('line')})", "class": cls})
    for rx in (_PY_FRAME, _GO_FRAME, _JS_FRAME):
        for m in rx.finditer(text):
            path = m.group("file")
            out.append({"file": path.rsplit("/", 1)[-1], "line": int(m.group("line")), "path_hint": path,
                        "frame": f"{path.rsplit('/', 1)[-1]}:{m.group('line')}", "package_path": ""})
    return out


def frames_from_evidence(evidence: Iterable[Any]) -> list[dict[str, Any]]:
    """Stack frames of the exceptions in log patterns, new ones first, each with the pattern it came from.

    Only application frames count: JDK, framework and generated frames are dropped, so
    ``Arrays.copyOf`` does not stand for the ``RedisCache.put`` that called it.
    """
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for ev in evidence:
        if getattr(ev, "kind", None) not in ("logs", "loki") or not ev.ok:
            continue
        for p in ev.data.get("patterns", []):
            text = "\n".join(str(p.get(k) or "") for k in ("example", "trace_summary", "exception"))
            frames = [f for f in _frames_in(text) if not _library_frame(f)]
            for depth, f in enumerate(frames[:8]):
                key = (f["file"], f["line"])
                if key in seen:
                    continue
                seen.add(key)
                found.append(f | {"exception": p.get("exception"), "new": bool(p.get("new")),
                                  "count": p.get("count") or 0, "depth": depth,
                                  "level": p.get("level")})
    found.sort(key=lambda f: (not f["new"], f["depth"], -f["count"]))
    return found


_LIBRARY_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "scala.", "org.springframework.",
                     "org.apache.", "io.netty.", "org.eclipse.", "org.hibernate.", "com.zaxxer.", "reactor.",
                     "io.micrometer.", "org.junit.", "ch.qos.", "org.slf4j.", "com.fasterxml.", "io.grpc.")


def _library_frame(f: dict[str, Any]) -> bool:
    cls = f.get("class")
    if cls:
        return cls.startswith(_LIBRARY_PREFIXES) or "GeneratedMethodAccessor" in cls or "$$" in cls
    hint = f.get("path_hint", "")
    return "/site-packages/" in hint or "/usr/lib/" in hint or "/go/src/runtime/" in hint or "node_modules" in hint


_CLASS_NAME = re.compile(r"^(?:[a-z_][\w]*\.)+[A-Z][\w$]*$")
_FQCN = re.compile(r"\b(?:[a-z_][\w]*\.)+[A-Z][\w$]*")


def classes_from_evidence(evidence: Iterable[Any]) -> list[dict[str, Any]]:
    """Application classes that lead the heap: leak suspects and their holders, then the top growers."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(name: Any, why: str) -> None:
        if not isinstance(name, str):
            return
        name = name.split(" ")[0].split("[")[0]
        if not _CLASS_NAME.match(name) or name.startswith(_LIBRARY_PREFIXES) or name in seen:
            return
        seen.add(name)
        out.append({"class": name, "why": why})

    for ev in evidence:
        if getattr(ev, "kind", None) != "heap" or not ev.ok:
            continue
        d = ev.data
        for s in d.get("suspects") or []:
            if isinstance(s, dict):
                for name in _FQCN.findall(str(s.get("object") or "")):
                    add(name, "leak suspect in the heap dump")
                for h in ((s.get("accumulation") or {}).get("holds") or []):
                    if isinstance(h, dict):
                        add(h.get("class"), "held below the leak suspect's accumulation point")
        growth = d.get("growth") if isinstance(d.get("growth"), dict) else {}
        for g in growth.get("classes") or []:
            if isinstance(g, dict):
                add(g.get("class"), "grew since the baseline histogram")
        for row in (d.get("top_retainers") or [])[:20]:
            if isinstance(row, dict):
                add(row.get("class"), "among the largest retainers")
    return out


_SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO|TABLE)\s+\"?([A-Za-z_][\w.]*)\"?", re.I)
_SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|ALTER|CREATE)\b", re.I)


def _strings(obj: Any, depth: int = 0) -> Iterable[str]:
    if depth > 12:
        return
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj[:500]:
            yield from _strings(v, depth + 1)


def sql_tables_from_evidence(evidence: Iterable[Any]) -> list[str]:
    """Table names in SQL statements carried by traces and database evidence."""
    tables: list[str] = []
    for ev in evidence:
        if getattr(ev, "kind", None) not in ("traces", "postgres") or not ev.ok:
            continue
        for s in _strings(ev.data):
            if _SQL_START.match(s):
                for t in _SQL_TABLE.findall(s):
                    t = t.split(".")[-1].lower()
                    if t not in tables and t not in ("select", "set"):
                        tables.append(t)
    return tables[:20]


def match_path(paths: Iterable[str], file: str, package_path: str = "") -> str | None:
    """The changed path that holds ``file`` (a frame's file name), preferring the package's folder."""
    best = None
    for p in paths:
        if p.rsplit("/", 1)[-1] != file:
            continue
        if package_path and p.endswith(f"{package_path}/{file}"):
            return p
        best = best or p
    return best


def changed_setting_keys(old: dict[str, str], new: dict[str, str], wanted: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Keys whose values differ between two versions of a settings file (``wanted`` first)."""
    wanted = list(wanted)
    out = []
    for key in sorted(set(old) | set(new), key=lambda k: (k not in wanted, k)):
        if old.get(key) != new.get(key):
            out.append({"key": key, "old": old.get(key), "new": new.get(key), "shown": key in wanted})
    return out


def rank(commits: list[dict[str, Any]], linked: set[str]) -> list[dict[str, Any]]:
    """Commits tied to the evidence first, then by lines changed, then newest first."""
    order = {c["sha"]: i for i, c in enumerate(commits)}
    return sorted(commits, key=lambda c: (c["sha"] not in linked, c["merge"], -(c["added"] + c["removed"]),
                                          order[c["sha"]]))
