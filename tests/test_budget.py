"""Token budget: counts are calibrated, trimming keeps headline facts and says what it did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxgrab.evidence import Evidence, Status
from ctxgrab.render.budget import LEVELS, count_tokens, fit_to_budget

REPO = Path(__file__).resolve().parents[1]


def _evidence() -> list[Evidence]:
    series = [{"labels": {"pod": f"payments-{i}"}, "points": [[1772400000 + 15 * j, 100.0 + j] for j in range(720)],
               "summary": {"start": 100.0, "end": 819.0, "verdict": "growing 60/h"}} for i in range(4)]
    patterns = [{"template": f"Payment failed for order <NUM> code {i}", "count": 1000 - i,
                 "example": f"2026-03-02T10:00:00Z ERROR order {i} " + "at com.acme.Pay.process(Pay.java:42)\n" * 30}
                for i in range(40)]
    heap = {"top_classes": [{"name": f"com.acme.C{i}", "retained_bytes": 10**9 // (i + 1)} for i in range(200)],
            "verdict": "leak suspect: com.acme.C0 retains 1.0 GB"}
    return [
        Evidence(kind="metrics", name="heap", title="JVM heap used", data={"series": series}),
        Evidence(kind="logs", name="app", title="payments log", data={"patterns": patterns}),
        Evidence(kind="heap", name="dump", title="Heap dump", data=heap),
        Evidence.failed("metrics", "gc", "GC pauses", "Prometheus unreachable: connection refused"),
    ]


def render(evs: list[Evidence], notes: list[str]) -> str:
    out = []
    for ev in evs:
        out.append(f"## {ev.title} [{ev.status.value}] {ev.reason or ''}")
        out.append(json.dumps(ev.data, indent=1))
    out += [f"- trimmed: {n}" for n in notes]
    return "\n".join(out)


@pytest.mark.parametrize("budget", [1000, 2000, 4000, 8000, 20000])
def test_fits_and_keeps_headline_facts(budget: int) -> None:
    evidence = _evidence()
    full = render(evidence, [])
    text, notes = fit_to_budget(evidence, render, budget)
    assert count_tokens(text) <= budget or "over the" in notes[-1]
    assert count_tokens(text) < count_tokens(full)
    for ev in evidence:  # titles, statuses and reasons always survive
        assert f"## {ev.title} [{ev.status.value}] {ev.reason or ''}" in text
    for top in ("Payment failed for order <NUM> code 0", "com.acme.C0", "leak suspect: com.acme.C0 retains 1.0 GB",
                "growing 60/h", "payments-0"):
        assert top in text
    assert notes and all(f"- trimmed: {n}" in text for n in notes)


def test_trims_lowest_priority_first() -> None:
    evidence = _evidence()
    full = count_tokens(render(evidence, []))
    text, notes = fit_to_budget(evidence, render, int(full * 0.9))
    assert notes and notes[0].startswith("series thinned")  # points go first
    assert "code 39" in text  # ... while every log pattern is still there


def test_points_are_thinned_evenly_keeping_first_and_last() -> None:
    evidence = _evidence()
    seen: list[list[Evidence]] = []

    def spy(evs: list[Evidence], notes: list[str]) -> str:
        seen.append(evs)
        return render(evs, notes)

    fit_to_budget(evidence, spy, 3000)
    points = seen[-1][0].data["series"][0]["points"]
    assert points[0] == [1772400000, 100.0] and points[-1] == [1772400000 + 15 * 719, 819.0]
    assert len(points) < 720
    assert evidence[0].data["series"][0]["points"][5] == [1772400075, 105.0]  # input untouched


def test_no_trim_when_it_fits() -> None:
    evidence = _evidence()[3:]
    text, notes = fit_to_budget(evidence, render, 10_000)
    assert notes == [] and text == render(evidence, [])


def test_over_budget_even_at_heaviest_level_says_so() -> None:
    evidence = _evidence()
    text, notes = fit_to_budget(evidence, render, 50)
    assert "over the 50-token budget" in notes[-1]
    assert "leak suspect" in text


def test_levels_only_get_heavier() -> None:
    for a, b in zip(LEVELS[1:], LEVELS[2:]):
        for x, y in ((a.points, b.points), (a.string_chars, b.string_chars), (a.list_items, b.list_items)):
            assert y is not None and (x is None or y <= x)


def test_count_is_deterministic_and_grows_with_text() -> None:
    assert count_tokens("") == 0
    one = count_tokens("heap used 2.0 GB → 7.9 GB over 12 h")
    assert count_tokens("heap used 2.0 GB → 7.9 GB over 12 h\n" * 10) >= 9 * one


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # bpe-openai loads its data with a legacy API
def test_estimate_is_close_to_an_exact_tokenizer_when_one_is_installed() -> None:
    """Calibration check against o200k_base when the bpe-openai package (which ships its vocabulary) is present."""
    # An optional calibration reference, not a part ctxgrab runs with: skipped when absent, also under CI.
    bpe_openai = pytest.importorskip("bpe_openai", reason="bpe-openai (exact reference tokenizer) is not installed")
    enc = bpe_openai.get_encoding("o200k_base")
    texts = [render(_evidence(), [])[:6000], (REPO / "src/ctxgrab/render/budget.py").read_text()[:6000],
             "2026-03-02T10:02:04.382Z ERROR [http-nio-8080-exec-17] com.acme.payments.PaymentService - failed\n" * 40]
    for text in texts:
        ratio = count_tokens(text) / len(enc.encode(text))
        assert 0.9 <= ratio <= 1.6, ratio


DEMO = REPO / "fixtures" / "demo" / "ctxgrab.yaml"
# The headline facts: the signals with their numbers, the rollback plan and the settings that bound memory.
HEADLINES = ["live set after GC 2.4 GiB → 7.5 GiB", "94% of the 8.0 GiB max heap", "5xx ratio 15.2%", "error_spike",
             "recent_deploy", "kubectl rollout undo deployment/payments -n prod", "v2.3.1", "canary at 10%",
             "NullPointerException at PaymentService.process(PaymentService.java:42)",
             "`server.max-websocket-sessions` = `10000`", "`payments.cache.redis.max-entries` = `10000`",
             "`-Xmx` = `8g`"]


@pytest.fixture(scope="module")
def demo_prompts() -> dict[int, object]:
    import ctxgrab

    return {b: ctxgrab.incident("payments", config=DEMO, budget=b) for b in (1000, 1500, 2000, 4000, 8000, 100_000)}


@pytest.mark.parametrize("budget", [1500, 2000, 4000, 8000])
def test_demo_prompt_within_budget_keeps_headlines(demo_prompts: dict, budget: int) -> None:
    result = demo_prompts[budget]
    used = count_tokens(result.markdown)
    assert used <= budget, (budget, used, result.trimmed)
    for fact in HEADLINES:
        assert fact in result.markdown, (budget, fact)
    for note in result.trimmed:  # the prompt says what was trimmed
        assert note in result.markdown
    assert used <= count_tokens(demo_prompts[100_000].markdown)


def test_a_budget_below_the_headline_keeps_the_headline_and_says_so(demo_prompts: dict) -> None:
    """The demo's headline (ten signals, the rollback plan, the bounding settings, the ask) needs
    more than 1,000 tokens: the facts stay and the prompt says by how much it is over."""
    result = demo_prompts[1000]
    for fact in HEADLINES:
        assert fact in result.markdown, fact
    over = [n for n in result.trimmed if "over the 1000-token budget" in n]
    assert over and over[0] in result.markdown
    assert count_tokens(result.markdown) <= count_tokens(demo_prompts[1500].markdown) + 200


def test_demo_prompt_trims_more_under_a_smaller_budget(demo_prompts: dict) -> None:
    sizes = [count_tokens(demo_prompts[b].markdown) for b in (1500, 2000, 4000, 8000, 100_000)]
    assert sizes == sorted(sizes)
    assert demo_prompts[100_000].trimmed == [] and demo_prompts[1000].trimmed


def test_trimmed_example_keeps_the_exception_message() -> None:
    """At small budgets an example kept 200 characters of header and lost the message naming the cause."""
    from ctxgrab.render.budget import LEVELS, _trim

    lines = (Path(__file__).parent / "data" / "java_stacktrace.log").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "Rejected request" in line)
    example = "\n".join(lines[start:start + 10])  # real JDK 17 output: header, trace, Caused by
    assert len(example) > 400 and "Caused by: java.lang.NumberFormatException" in example
    ev = Evidence(kind="logs", name="app", title="app log", data={"patterns": [
        {"template": "Rejected request", "count": 3, "example": example}]})
    level = next(lv for lv in LEVELS if lv.string_chars == 200)
    (cut,), _notes = _trim([ev], level)
    kept = cut.data["patterns"][0]["example"]
    assert len(kept) <= 260
    assert "java.lang.IllegalStateException: bad amount 12x" in kept
    assert 'Caused by: java.lang.NumberFormatException: For input string: "12x"' in kept
    assert kept.splitlines()[0].startswith("2026-03-02T10:02:09Z ERROR")
