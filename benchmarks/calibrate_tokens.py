"""How close ctxgrab's offline token estimate is to exact tokenizers.

    pip install bpe-openai   # ships the o200k_base and cl100k_base vocabularies inside the package
    python benchmarks/calibrate_tokens.py

Texts: the demo prompt (rendered through the library, whole and at each budget),
Loghub samples from ``shared/data/loghub`` when present, this repository's
source and docs, and JSON payloads from the demo fixture, cut into 1,500-character
pieces. For each piece the exact count is the larger of o200k_base and
cl100k_base; the script prints estimate/exact per text family and the share of
pieces where the estimate is at least the exact count (the budget is safe there).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ctxgrab.render.budget import SAFETY_FACTOR, count_tokens  # noqa: E402


def _pieces(text: str, size: int = 1500) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size) if text[i:i + size].strip()]


def corpus() -> dict[str, list[str]]:
    families: dict[str, list[str]] = {}
    try:
        from ctxgrab import incident

        demo = REPO / "fixtures" / "demo" / "ctxgrab.yaml"
        families["prompt"] = [incident("payments", config=demo).markdown] + [
            incident("payments", config=demo, budget=b).markdown for b in (2000, 4000)
        ]
    except Exception as exc:  # the demo needs the whole pipeline; calibrate on the rest without it
        print(f"demo prompt unavailable: {exc}")
    loghub = REPO.parent / "shared" / "data" / "loghub"
    if loghub.is_dir():
        families["logs"] = [p.read_text(errors="replace")[:4500] for p in sorted(loghub.glob("*/*_2k.log"))]
    families["code"] = [p.read_text()[:4500] for p in sorted((REPO / "src" / "ctxgrab").rglob("*.py"))[:30]]
    families["docs"] = [p.read_text()[:6000] for p in sorted((REPO / "docs").glob("*.md"))] + [
        (REPO / "README.md").read_text()[:6000]] if (REPO / "README.md").exists() else []
    families["json"] = [p.read_text()[:4500] for p in sorted((REPO / "fixtures" / "demo" / "metrics").glob("*.json"))]
    return {k: [piece for text in v for piece in _pieces(text)] for k, v in families.items() if v}


def main() -> None:
    try:
        import bpe_openai
    except ImportError:
        sys.exit("pip install bpe-openai (exact o200k_base / cl100k_base tokenizers, vocabularies included)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        encoders = [bpe_openai.get_encoding(n) for n in ("o200k_base", "cl100k_base")]
        families = corpus()
        print(f"SAFETY_FACTOR = {SAFETY_FACTOR}")
        print(f"{'family':8} {'pieces':>6} {'min':>6} {'median':>7} {'p95':>6} {'max':>6} {'est>=exact':>11}")
        every = []
        for name, pieces in families.items():
            ratios = sorted(count_tokens(p) / max(len(e.encode(p)) for e in encoders) for p in pieces)
            every += ratios
            safe = sum(r >= 1 for r in ratios) / len(ratios)
            print(f"{name:8} {len(ratios):6d} {ratios[0]:6.2f} {statistics.median(ratios):7.2f} "
                  f"{ratios[int(0.95 * (len(ratios) - 1))]:6.2f} {ratios[-1]:6.2f} {safe:11.1%}")
        every.sort()
        print(f"{'all':8} {len(every):6d} {every[0]:6.2f} {statistics.median(every):7.2f} "
              f"{every[int(0.95 * (len(every) - 1))]:6.2f} {every[-1]:6.2f} {sum(r >= 1 for r in every) / len(every):11.1%}")
        text = "\n".join(p for v in families.values() for p in v)
        t = time.perf_counter()
        count_tokens(text)
        est_s = time.perf_counter() - t
        t = time.perf_counter()
        len(encoders[0].encode(text))
        exact_s = time.perf_counter() - t
        print(f"speed on {len(text) / 1e6:.2f} MB: estimate {est_s * 1000:.1f} ms, o200k_base exact {exact_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
