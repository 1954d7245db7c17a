"""Provider formats are data: every entry's documented examples are removed whole; the public samples hold.

The public-sample corpus (tests/data/redact/public_samples.json, sources in SOURCES.md) was not
written together with the rules: gitleaks', detect-secrets' and Presidio's published true and false
positives, documented token formats placed in gitleaks' sample contexts, and public configuration
lines. The Loghub logs (read from ../shared at test time, never copied here) are real benign text.
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

import pytest

from ctxgrab.redact import KINDS, redact
from ctxgrab.redact_providers import PROVIDERS, Provider

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import redact_corpus  # noqa: E402

EXAMPLES = [(p.kind, e) for p in PROVIDERS for e in p.examples]


@pytest.mark.parametrize("kind, example", EXAMPLES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(EXAMPLES)])
def test_each_documented_example_is_removed_whole(kind: str, example: str) -> None:
    for text in (example, f"config loaded token {example} ok", f'{{"value": "{example}"}}'):
        out = redact(text)
        assert not redact_corpus.survives(example, out), (text, out)


def test_every_entry_is_well_formed() -> None:
    for p in PROVIDERS:
        assert isinstance(p, Provider) and p.kind in KINDS and p.source, p
        rx = re.compile(p.pattern)
        assert p.triggers, f"{p.kind}: an entry needs a trigger so the pattern does not run on every text"
        assert not rx.match(""), p.kind
        for e in p.examples:
            hay = e.lower() if p.lower else e
            assert any(t in hay for t in p.triggers), f"{p.kind}: example {e!r} lacks every trigger"


PUBLIC = redact_corpus.public_corpus(seed=11, loghub=False)


def test_public_samples_recall_per_kind() -> None:
    total, missed = collections.Counter(), collections.defaultdict(list)
    for r in PUBLIC:
        if r["secret"] is None:
            continue
        total[r["kind"]] += 1
        out = redact(r["text"])
        if redact_corpus.survives(r["secret"], out):
            missed[r["kind"]].append((r["source"], r["text"][:120], out[:120]))
    assert len(total) >= 20 and sum(total.values()) >= 1000
    low = {k: f"{1 - len(missed[k]) / total[k]:.1%}" for k in total if len(missed[k]) / total[k] > 0.01 and total[k] >= 30}
    assert not low, (low, {k: v[:2] for k, v in missed.items()})
    # kinds with few samples: at most one miss each
    assert all(len(v) <= 1 or total[k] >= 30 for k, v in missed.items()), dict(missed)


def test_public_benign_samples_are_unchanged() -> None:
    benign = [r for r in PUBLIC if r["secret"] is None]
    assert len(benign) >= 150
    changed = [(r["source"], r["text"][:120], redact(r["text"])[:120]) for r in benign if redact(r["text"]) != r["text"]]
    assert len(changed) <= 0.03 * len(benign), changed  # the few left are listed in docs/benchmarks.md


@pytest.mark.slow
@pytest.mark.skipif(not redact_corpus.LOGHUB.is_dir(), reason="Loghub samples not present in ../shared/data/loghub")
def test_real_logs_are_left_alone_except_addresses() -> None:
    lines = [r for r in redact_corpus.public_corpus(seed=11) if r["kind"].startswith("benign:loghub")]
    damaged = [(r["kind"], r["text"][:160]) for r in lines if redact_corpus.loghub_damaged(r["text"], redact(r["text"]))]
    assert len(lines) >= 10_000
    assert len(damaged) <= 0.001 * len(lines), damaged[:5]
