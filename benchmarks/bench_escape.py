"""Cost of the escaping seam: rendering a prompt with it against the same render without it.

The reference is the same templates in a plain Jinja environment (no ``finalize``, no
context extension, plain ``concat``), measured side by side in one run, alternating, best
of ``--repeat``, in CPU time of this process. Rendering only: the evidence is collected once (the demo, or a saved file)
and both environments render the same evidence to the same kind of prompt.

    python benchmarks/bench_escape.py                      # the demo prompt
    python benchmarks/bench_escape.py --evidence ev.json   # a file written by --save
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import jinja2

import ctxgrab
from ctxgrab import render as _render
from ctxgrab.api import load_evidence, render_result
from ctxgrab.resources import bundled_dir

REPO = Path(__file__).resolve().parents[1]


def plain_environment() -> jinja2.Environment:
    """The environment as it was before the seam: same loader, filters and globals."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.PrefixLoader({"bundled": jinja2.FileSystemLoader(str(bundled_dir("templates")))}),
            jinja2.FileSystemLoader([str(d) for d in _render.template_dirs(None)]),
        ]),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(_render.FILTERS)
    env.globals.update(_render.environment().globals)
    return env


def best(fn: Any, repeat: int) -> float:
    """Best CPU time of this process (user + system): steadier than the wall clock on a shared machine."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--evidence", type=Path, help="a file written by `ctxgrab incident --save`")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    if args.evidence:
        saved = load_evidence(args.evidence)
        what = str(args.evidence)
    else:
        r = ctxgrab.incident("payments", config=REPO / "fixtures" / "demo" / "ctxgrab.yaml")
        saved = {"service": r.service, "at": r.at, "window": r.window, "baseline": r.baseline,
                 "evidence": r.evidence, "description": r.description, "template": r.template, "budget": None}
        what = "the demo (fixtures/demo, payments)"

    seam_env = _render.environment()
    plain_env = plain_environment()
    original = _render.environment

    def with_env(env: jinja2.Environment) -> str:
        _render.environment = lambda user_dir=None: env  # type: ignore[assignment]
        try:
            return render_result(**saved).markdown
        finally:
            _render.environment = original  # type: ignore[assignment]

    seam_out, plain_out = with_env(seam_env), with_env(plain_env)
    seam_s, plain_s = [], []
    for _ in range(3):  # alternate, so drift on a shared machine hits both sides
        plain_s.append(best(lambda: with_env(plain_env), args.repeat))
        seam_s.append(best(lambda: with_env(seam_env), args.repeat))
    s, p = min(seam_s), min(plain_s)
    # compile cost: parsing every bundled template once, with and without the extension
    sources = [(str(f), f.read_text(encoding="utf-8")) for f in sorted((REPO / "templates").rglob("*.j2"))]
    c_seam = best(lambda: [seam_env.compile(src, name) for name, src in sources], 5)
    c_plain = best(lambda: [plain_env.compile(src, name) for name, src in sources], 5)
    print(f"Evidence: {what}; prompt {len(seam_out):,} characters "
          f"({'identical to' if seam_out == plain_out else 'different from'} the render without the seam)\n")
    print("| | without the seam | with the seam | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| render (signals + template), best of {args.repeat} ×3 | {p * 1000:.2f} ms | {s * 1000:.2f} ms | "
          f"×{s / p:.3f} |")
    print(f"| compile all {len(sources)} templates, best of 5 | {c_plain * 1000:.1f} ms | {c_seam * 1000:.1f} ms | "
          f"×{c_seam / c_plain:.3f} |")
    if not args.evidence:
        run = best(lambda: ctxgrab.incident("payments", config=REPO / "fixtures" / "demo" / "ctxgrab.yaml"), 3)
        print(f"\nThe whole demo run (collect, redact, signals, render), best of 3: {run * 1000:.0f} ms CPU; "
              f"the seam adds {(s - p) * 1000:.2f} ms to its render ({(s - p) / run:.3%} of the run).")


if __name__ == "__main__":
    main()
