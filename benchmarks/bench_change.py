"""How long "What changed" takes on a large change, against git's own floor.

Builds (with ``git fast-import``) a repository whose change between two tags has
``--commits`` commits touching ``--files`` distinct files (four per commit, a merge every
50 commits), then times, side by side in one run:

- the floor: ``git log --numstat`` plus ``git diff --numstat`` over the range, the two
  reads the analysis cannot do without;
- ctxgrab's analysis (``ctxgrab.collectors.repo.analyse``): those reads, parsing, review
  facts, blame of the failing frame, ranking, bounded output.

    python3 benchmarks/bench_change.py --commits 5000 --files 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ctxgrab.collectors.repo import analyse  # noqa: E402
from ctxgrab.evidence import Evidence  # noqa: E402


def build(repo: Path, commits: int, files: int) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    t0 = 1_770_000_000
    out = []
    mark = 0

    def blob(text: str) -> int:
        nonlocal mark
        mark += 1
        data = text.encode()
        out.append(f"blob\nmark :{mark}\ndata {len(data)}\n".encode() + data + b"\n")
        return mark

    base = blob("\n".join(f"line {i}" for i in range(1, 200)) + "\n")
    mark += 1
    root = mark
    out.append(f"commit refs/heads/main\nmark :{root}\ncommitter Base <b@x> {t0} +0000\ndata 4\nbase\n"
               f"M 100644 :{base} src/main/java/com/acme/Hot.java\n".encode())
    out.append(f"reset refs/tags/v1.0.0\nfrom :{root}\n".encode())
    prev = root
    per = max(1, files // commits)
    for c in range(commits):
        lines = []
        for k in range(per):
            n = (c * per + k) % files
            b = blob(f"file {n} version {c}\n")
            lines.append(f"M 100644 :{b} mod{n % 97}/pkg{n % 13}/F{n}.java")
        if c == commits // 2:
            b = blob("\n".join(f"line {i}" if i != 42 else "hot change" for i in range(1, 200)) + "\n")
            lines.append(f"M 100644 :{b} src/main/java/com/acme/Hot.java")
        mark += 1
        trailer = "\n\nReviewed-by: R <r@x>" if c % 3 else ""
        msg = f"PAY-{c} change {c}{trailer}".encode()
        parents = f"from :{prev}\n"
        if c % 50 == 49:
            parents += f"merge :{prev - 10 if prev > 10 else root}\n"
        out.append(f"commit refs/heads/main\nmark :{mark}\nauthor A{c % 17} <a@x> {t0 + c * 60} +0000\n"
                   f"committer A <a@x> {t0 + c * 60} +0000\ndata {len(msg)}\n".encode() + msg + b"\n"
                   + parents.encode() + ("\n".join(lines) + "\n").encode())
        prev = mark
    out.append(f"reset refs/tags/v2.0.0\nfrom :{prev}\n".encode())
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=b"".join(out), check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=5000)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "big.git"
        t = time.monotonic()
        build(repo, args.commits, args.files)
        print(f"built {args.commits:,} commits touching {args.files:,} files in {time.monotonic() - t:.1f} s")
        evidence = [
            Evidence(kind="deploys", name="deploys", title="d", data={
                "current": {"version": "2.0.0"}, "last_known_good": {"version": "1.0.0"}}),
            Evidence(kind="logs", name="l", title="l", data={"patterns": [{
                "example": "java.lang.NullPointerException\n\tat com.acme.Hot.run(Hot.java:42)",
                "exception": "java.lang.NullPointerException", "new": True, "count": 10}]}),
        ]
        floor, ours = [], []
        env = dict(os.environ, LC_ALL="C")
        for _ in range(args.repeat):
            t = time.monotonic()
            subprocess.run(["git", "-C", str(repo), "log", "--numstat", "--format=%H%x1f%s", "v1.0.0..v2.0.0"],
                           stdout=subprocess.DEVNULL, check=True, env=env)
            subprocess.run(["git", "-C", str(repo), "diff", "--numstat", "-M", "v1.0.0", "v2.0.0"],
                           stdout=subprocess.DEVNULL, check=True, env=env)
            floor.append(time.monotonic() - t)
            t = time.monotonic()
            data = analyse(repo, "v{version}", evidence, time.monotonic() + 60)
            ours.append(time.monotonic() - t)
        f, o = statistics.median(floor), statistics.median(ours)
        frame = next(l for l in data["links"] if l["what"] == "frame")
        print(f"change: {data['commits_total']:,} commits, {data['files_total']:,} files; listed "
              f"{len(data['commits'])} commits and {len(data['files'])} files; frame Hot.java:42 → "
              f"{frame.get('commit')} ({frame.get('subject')})")
        print(f"git floor (log --numstat + diff --numstat): median {f:.2f} s of {args.repeat}")
        print(f"ctxgrab analyse: median {o:.2f} s of {args.repeat} (all: {', '.join(f'{x:.2f}' for x in ours)})")
        print(f"ratio ctxgrab / floor: {o / f:.2f}")


if __name__ == "__main__":
    main()
