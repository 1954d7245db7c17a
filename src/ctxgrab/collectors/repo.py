"""Collector ``change``: the code between the last known good version and the current one.

Runs after the other collectors of the run: the deploy history (a deploys file or
Kubernetes) names the two versions, and the evidence (new exceptions' frames, the
classes leading the heap, settings keys, SQL in traces) says which changed files and
hunks matter. ``git`` runs as a read-only subprocess (no network: ``protocol.allow=never``,
no lazy fetches, no optional locks), every call under a timeout inside the collector's
budget, every output capped.

Params (the service's ``repo:``): ``path`` (a clone, bare or not, or a ``git bundle``
file), ``tag`` (how a deploy version maps to a git ref, ``v{version}`` by default),
``max_commits``, ``max_files``.

Payload (``data``)::

    {"from": {"version", "ref", "sha"}, "to": {...},
     "commits_total", "commits": [...], "commits_left_out",
     "files_total", "files": [{path, added, removed, binary, renamed_from?, commits}], "files_left_out",
     "lines_added", "lines_removed", "binary_files",
     "review": {commits, merges, with_trailer, via_reviewed_merge, unreviewed, unreviewed_commits},
     "links": [{what: frame|class|setting|sql, ...}],   # evidence tied to the change
     "rollback_removes": ["3f9c2e1", ...],               # what a rollback to `from` takes out
     "gaps": [...]}
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ..analysis import gitchange as gc
from ..evidence import Evidence, Status
from . import CollectRequest, run_blocking

__all__ = ["collect", "GitError", "git_runner"]

KIND = "change"
TITLE = "What changed"
MAX_LOG_BYTES = 64 << 20  # git log output read at most (about 100k commits with their files)
MAX_READ_COMMITS = 20_000
MAX_FRAMES = 12
MAX_SHOW_BYTES = 1 << 20


class GitError(Exception):
    """A git call failed; the message is one line a person can act on."""


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_NO_LAZY_FETCH": "1",
                "GIT_NO_REPLACE_OBJECTS": "1", "GIT_PAGER": "cat", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"})
    return env


def git_runner(git: str, repo: Path, deadline: float):
    """A function that runs one read-only git command in ``repo`` before ``deadline``."""
    env = _git_env()
    base = [git, "-C", str(repo), "-c", "safe.directory=*", "-c", "protocol.allow=never", "-c", "core.quotepath=off",
            "-c", "color.ui=never", "-c", "log.showSignature=false", "--no-pager"]

    def run(*args: str, max_bytes: int = MAX_SHOW_BYTES, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str, bool]:
        left = deadline - time.monotonic()
        if left <= 0.05:
            raise GitError("the collector's time ran out before git answered")
        # stderr goes to a file: a pipe that git fills while we read stdout would stall both.
        err_file = tempfile.TemporaryFile()
        proc = subprocess.Popen([*base, *args], stdout=subprocess.PIPE, stderr=err_file, stdin=subprocess.DEVNULL,
                                env=env)
        chunks, size, cut = [], 0, False
        try:
            assert proc.stdout is not None
            while True:
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(args, left)
                b = proc.stdout.read1(1 << 16)  # type: ignore[union-attr]
                if not b:
                    break
                if size + len(b) > max_bytes:
                    chunks.append(b[: max_bytes - size])
                    cut = True
                    break
                chunks.append(b)
                size += len(b)
            if cut:
                proc.kill()
            proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            err_file.close()
            raise GitError(f"git {args[0]} did not finish within the collector's time") from None
        err_file.seek(0)
        err = err_file.read(64 << 10)
        err_file.close()
        out = b"".join(chunks).decode("utf-8", "replace")
        if not cut and proc.returncode not in ok_codes:
            msg = (err or b"").decode("utf-8", "replace").strip().splitlines()
            raise GitError(f"git {args[0]} failed: {msg[-1] if msg else f'exit {proc.returncode}'}")
        return proc.returncode, out, cut

    return run


def _bundle_clone(git: str, bundle: Path, deadline: float) -> Path:
    """A bare clone of a ``git bundle`` file, cached by the bundle's content."""
    h = hashlib.sha256()
    with bundle.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "ctxgrab-bundles" / digest
    if (target / "HEAD").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{digest}-"))
    try:
        proc = subprocess.run([git, "-c", "protocol.allow=never", "-c", "protocol.file.allow=always", "clone",
                               "--quiet", "--bare", "--mirror", str(bundle), str(tmp / "r")],
                              capture_output=True, env=_git_env(), timeout=max(0.5, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GitError("unpacking the git bundle did not finish within the collector's time") from None
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        last = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"{bundle}: not a readable git bundle ({last[-1] if last else 'git clone failed'})")
    try:
        os.replace(tmp / "r", target)
    except OSError:
        pass  # another run unpacked it first
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def _versions(evidence: list[Evidence]) -> tuple[str | None, str | None, str | None]:
    """(current, last known good, why not) from the run's deploy evidence."""
    for ev in evidence:
        if ev.kind in ("deploys", "kubernetes") and ev.ok:
            cur = (ev.data.get("current") or {}).get("version")
            lkg = (ev.data.get("last_known_good") or {}).get("version")
            if cur and lkg:
                return str(cur), str(lkg), None
            if cur:
                return str(cur), None, "the deploy history names no last known good version to compare with"
    for ev in evidence:
        if ev.kind in ("deploys", "kubernetes"):
            return None, None, f"the deploy history could not be read ({ev.reason or ev.status.value})"
    return None, None, "no deploy history (deploys: or kubernetes:) names the versions to compare"


def _resolve_ref(run: Any, template: str, version: str) -> tuple[str | None, str]:
    """The commit for a version: the ref from the template, else the version itself."""
    tried = []
    for ref in dict.fromkeys([template.replace("{version}", version), version]):
        tried.append(ref)
        code, out, _ = run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", ok_codes=(0, 1))
        if code == 0 and out.strip():
            return out.strip(), ref
    return None, " or ".join(repr(t) for t in tried)


def _settings_files(evidence: list[Evidence]) -> list[dict[str, Any]]:
    out = []
    for ev in evidence:
        if ev.kind == "settings" and ev.ok:
            for f in ev.data.get("files", []):
                out.append(f)
    return out


def _parse_settings_text(name: str, text: str) -> dict[str, str]:
    from .settings import _flatten, detect_format, parse_env, parse_jvm_flags, parse_properties

    fmt = detect_format(Path(name), text)
    if fmt == "properties":
        return parse_properties(text)
    if fmt == "env":
        return parse_env(text)
    if fmt == "jvm":
        return parse_jvm_flags(text)
    try:
        if fmt == "json":
            import json

            return _flatten(json.loads(text))
        from ..yamlsafe import safe_load

        return _flatten(safe_load(text) or {})
    except Exception:  # noqa: BLE001 - an unparsable old version is a gap, not a failure
        return {}


def analyse(repo_path: Path, template: str, evidence: list[Evidence], deadline: float, *, max_commits: int = 12,
            max_files: int = 12, git: str | None = None) -> dict[str, Any]:
    """The change between the deploy history's last known good and current versions, tied to ``evidence``."""
    git = git or shutil.which("git")
    if not git:
        raise GitError("git not found on PATH: install git to see the commits between the versions")
    cur_v, lkg_v, why = _versions(evidence)
    if why and not (cur_v and lkg_v):
        raise GitError(why)
    if not repo_path.exists():
        raise GitError(f"{repo_path}: no such repository")
    if repo_path.is_file():
        repo_path = _bundle_clone(git, repo_path, deadline)
    run = git_runner(git, repo_path, deadline)
    code, out, _ = run("rev-parse", "--git-dir", ok_codes=(0, 128))
    if code != 0:
        raise GitError(f"{repo_path}: not a git repository")
    shallow = run("rev-parse", "--is-shallow-repository")[1].strip() == "true"
    to_sha, to_ref = _resolve_ref(run, template, cur_v)  # type: ignore[arg-type]
    from_sha, from_ref = _resolve_ref(run, template, lkg_v)  # type: ignore[arg-type]
    for sha, ref, v, role in ((to_sha, to_ref, cur_v, "current"), (from_sha, from_ref, lkg_v, "last known good")):
        if sha is None:
            hint = (" (the clone is shallow: fetch the tags with `git fetch --unshallow --tags`)" if shallow
                    else " (fetch the tags, or set repo.tag to how versions map to refs)")
            raise GitError(f"no git ref for the {role} version {v}: tried {ref}{hint}")
    rng = f"{from_sha}..{to_sha}"
    total = int(run("rev-list", "--count", rng)[1].strip() or 0)
    gaps: list[str] = []
    if total == 0:
        behind = int(run("rev-list", "--count", f"{to_sha}..{from_sha}")[1].strip() or 0)
        if behind:
            gaps.append(f"{cur_v} is older than {lkg_v}: the current version is {behind} commit(s) behind it")
    # The two big reads run side by side: each is one git process, the other core is free.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        diff_job = pool.submit(run, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--numstat", "-M",
                               from_sha, to_sha, "--", max_bytes=MAX_LOG_BYTES)
        _, log_text, cut = run("log", "--no-color", "--no-ext-diff", "--no-textconv", "-M", "--numstat",
                               f"--max-count={MAX_READ_COMMITS}", f"--format={gc.LOG_FORMAT}", rng, "--",
                               max_bytes=MAX_LOG_BYTES)
        _, diff_text, dcut = diff_job.result()
    commits = gc.parse_log(log_text)
    if cut or len(commits) < total:
        gaps.append(f"read {len(commits):,} of {total:,} commits (the rest were past the output cap)")
    files = gc.parse_numstat(diff_text)
    if dcut:
        gaps.append(f"the file list was cut at {len(files):,} files")
    by_sha = {c["sha"]: c for c in commits}
    touching: dict[str, list[str]] = {}
    for c in commits:
        for f in c["files"]:
            touching.setdefault(f["path"], []).append(c["short"])
    for f in files:
        f["commits"] = touching.get(f["path"], [])[:8]

    # Review: trailers, or commits brought in by a reviewed merge.
    reviewed = {m["short"] for m in gc.reviewed_merges(commits)}
    covered = {sha: m for sha, m in gc.brought_by_merges(commits, to_sha).items() if m in reviewed}

    # Ties to the evidence.
    paths = [f["path"] for f in files]
    links: list[dict[str, Any]] = []
    linked: set[str] = set()
    for fr in gc.frames_from_evidence(evidence)[:MAX_FRAMES]:
        path = gc.match_path(paths, fr["file"], fr.get("package_path", ""))
        if not path:
            continue
        link: dict[str, Any] = {"what": "frame", "frame": fr["frame"], "exception": fr.get("exception"),
                                "new": fr["new"], "count": fr["count"], "depth": fr["depth"], "file": path,
                                "line": fr["line"], "in_change": False}
        code, out, _ = run("blame", "--porcelain", "-L", f"{fr['line']},{fr['line']}", to_sha, "--", path,
                           ok_codes=(0, 128))
        blame = gc.parse_blame_porcelain(out) if code == 0 else None
        if blame and blame["sha"] in by_sha:
            c = by_sha[blame["sha"]]
            link.update({"in_change": True, "commit": c["short"], "subject": c["subject"], "author": c["author"],
                         "added": c["added"], "removed": c["removed"], "reviewed": c["reviewed"]})
            _, show, _ = run("show", "--no-color", "--no-ext-diff", "--no-textconv", "-U0", "--format=", "-M",
                             c["sha"], "--", blame.get("path", path), ok_codes=(0, 128))
            hunks = gc.parse_hunks(show)
            if hunks:
                # The span the commit changed in this file, and the hunk that holds the frame's line.
                link["lines"] = {"first": min(h["start"] for h in hunks), "last": max(h["end"] for h in hunks)}
                link["file_added"] = sum(h["added"] for h in hunks)
                link["file_removed"] = sum(h["old_len"] for h in hunks)
            for h in hunks:
                if h["start"] <= blame["orig_line"] <= h["end"]:
                    link["hunk"] = {"first": h["start"], "last": h["end"]}
                    break
            linked.add(c["sha"])
        elif blame:
            link["last_changed"] = blame["sha"][:7]
            link["commits"] = touching.get(path, [])[:5]
        links.append(link)
    for cl in gc.classes_from_evidence(evidence)[:20]:
        outer = cl["class"].split("$")[0]
        pkg, _, simple = outer.rpartition(".")
        for ext in (".java", ".kt", ".scala", ".groovy"):
            path = gc.match_path(paths, simple + ext, pkg.replace(".", "/"))
            if path:
                f = next(x for x in files if x["path"] == path)
                shas = [c["sha"] for c in commits if any(g["path"] == path for g in c["files"])]
                linked.update(shas)
                links.append({"what": "class", "class": cl["class"], "why": cl["why"], "file": path,
                              "added": f["added"], "removed": f["removed"], "commits": [s[:7] for s in shas][:5],
                              "subjects": [by_sha[s]["subject"] for s in shas][:3]})
                break
    for sf in _settings_files(evidence):
        base = str(sf.get("path", "")).rsplit("/", 1)[-1]
        path = next((p for p in paths if p.rsplit("/", 1)[-1] == base), None)
        if not path:
            continue
        old_path = next((f.get("renamed_from") or path for f in files if f["path"] == path), path)
        _, old_text, _ = run("show", f"{from_sha}:{old_path}", ok_codes=(0, 128))
        _, new_text, _ = run("show", f"{to_sha}:{path}", ok_codes=(0, 128))
        shown = {v["key"]: str(v.get("value")) for v in sf.get("values", [])}
        changed = gc.changed_setting_keys(_parse_settings_text(path, old_text), _parse_settings_text(path, new_text),
                                          shown)
        shas = [c["sha"] for c in commits if any(g["path"] == path for g in c["files"])]
        for ch in changed:
            if not ch["shown"]:
                continue
            if "[REDACTED" in shown.get(ch["key"], ""):
                ch["old"] = ch["new"] = "[REDACTED:setting]"  # a secret's old value is a secret too
            linked.update(shas)
            links.append({"what": "setting", "key": ch["key"], "old": ch["old"], "new": ch["new"], "file": path,
                          "commits": [s[:7] for s in shas][:5]})
        others = sum(1 for ch in changed if not ch["shown"])
        if others:
            links.append({"what": "settings_other", "file": path, "count": others})
    tables = gc.sql_tables_from_evidence(evidence)
    if tables and paths:
        for t in tables[:5]:
            code, out, _ = run("grep", "-l", "-w", "-i", "-I", "-e", t, to_sha, "--", *paths[:200],
                               ok_codes=(0, 1, 128))
            hits = [line.split(":", 1)[-1] for line in out.splitlines() if line][:5] if code == 0 else []
            if hits:
                links.append({"what": "sql", "table": t, "files": hits})

    ranked = gc.rank(commits, linked)
    review = gc.review_facts(ranked, covered)  # unreviewed commits tied to the evidence come first
    link_files = {l_["file"] for l_ in links if l_.get("file")}
    files_sorted = sorted(files, key=lambda f: (f["path"] not in link_files, -((f["added"] or 0) + (f["removed"] or 0)),
                                                f["path"]))
    keep = ranked[:max_commits]
    for c in keep:
        c["files_changed"] = len(c["files"])
        for k in ("files", "email", "parents"):
            c.pop(k, None)
    return {
        "from": {"version": lkg_v, "ref": from_ref, "sha": from_sha[:12]},
        "to": {"version": cur_v, "ref": to_ref, "sha": to_sha[:12]},
        "commits_total": total,
        "commits": keep,
        "commits_left_out": max(0, total - len(keep)),
        "files_total": len(files),
        "files": files_sorted[:max_files],
        "files_left_out": max(0, len(files) - max_files),
        "lines_added": sum(f["added"] or 0 for f in files),
        "lines_removed": sum(f["removed"] or 0 for f in files),
        "binary_files": sum(1 for f in files if f["binary"]),
        "merges": sum(1 for c in commits if c["merge"]),
        "review": review,
        "links": links,
        "rollback_removes": [c["short"] for c in ranked if not c["merge"]][:10],
        "shallow": shallow,
        "gaps": gaps,
    }


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    """The commits between the last known good and the current version, tied to the run's evidence."""
    name = str(params.get("name", KIND))
    evidence = list(request.extra.get("evidence") or [])
    path = request.resolve(params["path"])
    deadline = time.monotonic() + max(0.5, min(float(params.get("timeout_s") or request.timeout_s), request.timeout_s))
    try:
        data = await run_blocking(
            lambda: analyse(path, str(params.get("tag") or "v{version}"), evidence, deadline,
                            max_commits=int(params.get("max_commits", 12)), max_files=int(params.get("max_files", 12)))
        )
    except GitError as e:
        return Evidence.failed(KIND, name, TITLE, str(e), status=Status.empty if "no deploy" in str(e) else Status.error,
                               source=str(path))
    except OSError as e:
        return Evidence.failed(KIND, name, TITLE, f"{path}: {e.strerror or e}", source=str(path))
    warnings = list(data.pop("gaps", []))
    return Evidence(kind=KIND, name=name, title=f"{TITLE} ({data['from']['version']} → {data['to']['version']})",
                    source=str(path), data=data, warnings=warnings)
