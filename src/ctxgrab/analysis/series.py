"""Summaries of a metric series: the numbers a person would quote.

Pure functions over ``[(unix_seconds, value), ...]``. NaN and ±Inf points are
dropped and counted, never propagated.

>>> pts = [(i * 3600.0, 2.0 + 0.5 * i) for i in range(13)]
>>> s = summarize(pts)
>>> s["first"], s["last"], s["trend_per_hour"], round(s["r2"], 3)
(2.0, 8.0, 0.5, 1.0)
"""

from __future__ import annotations

import math
from itertools import accumulate
from typing import Any, Iterable, Sequence

__all__ = [
    "summarize",
    "sparkline",
    "change_point",
    "linear_trend",
    "percentile",
    "pick_step",
    "rank_series",
    "episodes",
    "non_finite_count",
    "histogram_quantile",
    "quantile_series",
    "per_instance",
    "fleet_info",
    "WORST_PODS",
    "ALIKE_WITHIN",
    "AGGREGATIONS",
    "TREND_MIN_SPAN_S",
    "TREND_MIN_POINTS",
]

#: How a pack metric combines its series across pods (``aggregate:`` in a pack):
#: ``sum`` (one fleet series; only where a sum means something: request rate),
#: ``max`` (one series, the highest pod at each step), ``per_instance`` (one series per
#: pod, reported as the worst pod, the spread and the pod count: heap, GC time, threads).
AGGREGATIONS = ("sum", "max", "per_instance")

_BLOCKS = "▁▂▃▄▅▆▇█"
#: A trend is quoted (and projected) only over at least this span and this many points:
#: ten minutes of samples a second apart gave "+42.5 GB/h … full in 2 s".
TREND_MIN_SPAN_S = 1800.0
TREND_MIN_POINTS = 10
MAX_POINTS = 11_000  # Prometheus refuses range queries returning more points per series


def pick_step(window_s: float, target_points: int = 720) -> int:
    """A step in whole seconds that keeps a range query well under the point limit.

    The step is rounded up to a "nice" value (15 s, 1 min, 5 min, ...) so that the
    same window always gives the same step, and doubled until the query returns
    fewer than :data:`MAX_POINTS` points per series.

    >>> pick_step(12 * 3600)
    60
    >>> pick_step(30 * 86400, target_points=20_000) * 11_000 > 30 * 86400
    True
    """
    step = max(1, math.ceil(window_s / target_points))
    for nice in (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if nice >= step:
            step = nice
            break
    while window_s / step >= MAX_POINTS:
        step *= 2
    return step


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return float(sorted_values[lo])
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def linear_trend(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope per hour and R² of ``points``."""
    n = len(points)
    if n < 2:
        return 0.0, 0.0
    t0 = points[0][0]
    sx = sy = 0.0
    for t, v in points:
        sx += t - t0
        sy += v
    mx, my = sx / n, sy / n
    sxx = sxy = syy = 0.0
    for t, v in points:  # centred sums: numerically stable for epoch seconds and byte counts
        dx, dy = (t - t0) - mx, v - my
        sxx += dx * dx
        sxy += dx * dy
        syy += dy * dy
    if sxx == 0:
        return 0.0, 0.0
    sxx /= 3600 * 3600  # per hour
    sxy /= 3600
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy > 0 else 0.0
    return slope, r2


def change_point(points: Sequence[tuple[float, float]], min_segment: int = 3) -> dict[str, Any] | None:
    """The single split that best separates the series into two levels (least squared error).

    Returns the time of the split and the means before and after, or None when the
    series is too short or flat.
    """
    n = len(points)
    if n < 2 * min_segment:
        return None
    ys = [v for _, v in points]
    prefix = [0.0, *accumulate(ys)]
    prefix_sq = [0.0, *accumulate(y * y for y in ys)]

    s_all, sq_all = prefix[n], prefix_sq[n]
    total = sq_all - s_all * s_all / n
    if total <= 0:
        return None
    best_i, best = None, total
    # cost(i) = SSE of [0, i) + SSE of [i, n), from the prefix sums; inlined, this is the hot loop
    for i in range(min_segment, n - min_segment + 1):
        s1, q1 = prefix[i], prefix_sq[i]
        s2 = s_all - s1
        cost = q1 - s1 * s1 / i + (sq_all - q1) - s2 * s2 / (n - i)
        if cost < best:
            best_i, best = i, cost
    if best_i is None:
        return None
    before = (prefix[best_i]) / best_i
    after = (prefix[n] - prefix[best_i]) / (n - best_i)
    return {
        "at": points[best_i][0],
        "before": before,
        "after": after,
        "ratio": (after / before) if before else None,
        "explained": 1 - best / total,  # share of variance the split explains
    }


def sparkline(values: Sequence[float], width: int = 24) -> str:
    """A unicode sparkline of ``values`` resampled to ``width`` buckets (bucket means)."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:
        buckets = []
        for b in range(width):
            lo, hi = b * len(vals) // width, (b + 1) * len(vals) // width
            chunk = vals[lo:hi] or [vals[lo]]
            buckets.append(sum(chunk) / len(chunk))
        vals = buckets
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return _BLOCKS[0] * len(vals)
    return "".join(_BLOCKS[min(7, int((v - lo) / (hi - lo) * 8))] for v in vals)


def summarize(points: Iterable[tuple[float, float]], baseline: Iterable[tuple[float, float]] | None = None) -> dict[str, Any]:
    """Start, end, min, max, mean, p95, change, trend per hour with R², change point, sparkline.

    With ``baseline`` points, also the baseline mean and the ratio of this window's mean to it.
    """
    isfinite = math.isfinite
    given = [(float(t), float(v)) for t, v in points]
    clean = [p for p in given if isfinite(p[1])]
    dropped = len(given) - len(clean)
    clean.sort()
    if not clean:
        return {"points": 0, "dropped_points": dropped}
    values = [v for _, v in clean]
    ordered = sorted(values)
    slope, r2 = linear_trend(clean)
    first, last = values[0], values[-1]
    out: dict[str, Any] = {
        "points": len(clean),
        "dropped_points": dropped,
        "start_ts": clean[0][0],
        "end_ts": clean[-1][0],
        "span_s": clean[-1][0] - clean[0][0],
        "first": first,
        "last": last,
        "min": ordered[0],
        "max": ordered[-1],
        "mean": sum(values) / len(values),
        "p95": percentile(ordered, 95),
        "change": last - first,
        "change_ratio": (last / first) if first else None,
        "trend_per_hour": slope,
        "r2": r2,
        "trend_ok": len(clean) >= TREND_MIN_POINTS and clean[-1][0] - clean[0][0] >= TREND_MIN_SPAN_S,
        "sparkline": sparkline(values),
        "change_point": change_point(clean),
    }
    if baseline is not None:
        base = [float(v) for _, v in baseline if math.isfinite(float(v))]
        if base:
            bmean = sum(base) / len(base)
            out["baseline_mean"] = bmean
            out["baseline_ratio"] = (out["mean"] / bmean) if bmean else None
    return out


def non_finite_count(points: Iterable[tuple[float, float]]) -> int:
    """How many samples are NaN or ±Inf (Prometheus sends them as ``"NaN"``, ``"+Inf"``)."""
    return sum(1 for _, v in points if not math.isfinite(float(v)))


def _relevance(summary: dict[str, Any]) -> float:
    """How much a series says about an incident: its change, relative to its own level.

    A series that moved (level shift, trend, baseline ratio far from 1) beats a flat
    one; ties fall back to magnitude so the biggest flat series still come first.
    """
    mean = abs(summary.get("mean") or 0.0)
    scale = max(mean, abs(summary.get("max") or 0.0), 1e-12)
    moved = abs((summary.get("max") or 0.0) - (summary.get("min") or 0.0)) / scale
    ratio = summary.get("baseline_ratio")
    if ratio and ratio > 0:
        moved = max(moved, abs(math.log(ratio)))
    return moved


def rank_series(summaries: Sequence[dict[str, Any]], keep: int = 5) -> tuple[list[dict[str, Any]], int]:
    """The ``keep`` most relevant of ``[{"labels", "summary", ...}]`` and how many there were.

    Relevance is relative change first (a pool that tripled outranks a larger flat
    one), magnitude second, labels last so the order is stable.

    >>> flat = {"labels": {"i": "a"}, "summary": {"mean": 100.0, "min": 100.0, "max": 100.0}}
    >>> grew = {"labels": {"i": "b"}, "summary": {"mean": 5.0, "min": 1.0, "max": 9.0}}
    >>> [s["labels"]["i"] for s in rank_series([flat, grew], keep=1)[0]], rank_series([flat, grew], keep=1)[1]
    (['b'], 2)
    """
    import json

    def key(s: dict[str, Any]) -> tuple[float, float, str]:
        summ = s["summary"]
        return (-round(_relevance(summ), 6), -abs(summ.get("mean") or 0.0), json.dumps(s["labels"], sort_keys=True))

    ordered = sorted(summaries, key=key)
    return list(ordered[:keep]), len(ordered)


def episodes(timestamps: Iterable[float], step_s: float, until_s: float | None = None) -> list[dict[str, Any]]:
    """Intervals during which a series was present, from its sample times at ``step_s``.

    Used for alert history: ``ALERTS{alertstate="firing"}`` has a sample at every step
    while the alert fires. A gap longer than one and a half steps ends an episode.
    ``until_s`` (the window end) marks an episode that lasts to the end as ``ongoing``.

    >>> episodes([0, 60, 120, 600, 660], 60, until_s=660)
    [{'start': 0.0, 'end': 120.0, 'duration_s': 120.0, 'ongoing': False}, {'start': 600.0, 'end': 660.0, 'duration_s': 60.0, 'ongoing': True}]
    """
    ts = sorted(float(t) for t in timestamps)
    out: list[dict[str, Any]] = []
    if not ts:
        return out
    start = prev = ts[0]
    for t in ts[1:]:
        if t - prev > 1.5 * step_s:
            out.append({"start": start, "end": prev, "duration_s": prev - start, "ongoing": False})
            start = t
        prev = t
    ongoing = until_s is not None and until_s - prev <= 1.5 * step_s
    out.append({"start": start, "end": prev, "duration_s": prev - start, "ongoing": ongoing})
    return out


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """The ``q`` quantile of a classic histogram, as PromQL's ``histogram_quantile`` computes it.

    ``buckets`` are ``(upper_bound, cumulative_count)`` pairs (the ``le`` series, any
    order; counts may be rates). Same rules as Prometheus: linear interpolation inside
    the bucket holding the rank, the lower bound of the first bucket is 0, a rank in the
    ``+Inf`` bucket gives the highest finite bound, non-monotonic counts are raised to
    the running maximum, and NaN when there is no ``+Inf`` bucket or no observation.

    >>> histogram_quantile(0.99, [(0.1, 98.0), (0.25, 100.0), (math.inf, 100.0)])
    0.175
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets)
    if any(ordered[i][0] == ordered[i - 1][0] for i in range(1, len(ordered))):
        merged: dict[float, float] = {}
        for le, count in ordered:
            merged[le] = merged.get(le, 0.0) + count
        ordered = sorted(merged.items())
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return math.nan
    running = -math.inf
    fixed = []
    for le, count in ordered:
        running = max(running, count)
        fixed.append((le, running))
    observations = fixed[-1][1]
    if not observations > 0:
        return math.nan
    rank = q * observations
    b = next(i for i, (_, c) in enumerate(fixed) if c >= rank)
    if b == len(fixed) - 1:
        return fixed[-2][0]
    if b == 0 and fixed[0][0] <= 0:
        return fixed[0][0]
    start, end, count = 0.0, fixed[b][0], fixed[b][1]
    if b > 0:
        start = fixed[b - 1][0]
        count -= fixed[b - 1][1]
        rank -= fixed[b - 1][1]
    return start + (end - start) * (rank / count)


def quantile_series(q: float, bucket_series: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """``histogram_quantile(q, ...)`` at every timestamp of ``[{"labels": {"le": ...}, "points": [...]}]``.

    Lets one ``sum by (le) (rate(..._bucket[5m]))`` query serve every quantile a pack asks for.
    """
    columns: list[tuple[float, Sequence[tuple[float, float]]]] = []
    for s in bucket_series:
        le_text = s["labels"].get("le")
        if le_text is None:
            continue
        columns.append((math.inf if le_text in ("+Inf", "Inf", "inf") else float(le_text), s["points"]))
    if not columns:
        return []
    columns.sort(key=lambda c: c[0])
    stamps = [t for t, _ in columns[0][1]]
    if all(len(pts) == len(stamps) and [t for t, _ in pts] == stamps for _, pts in columns):
        # the usual case: every bucket has every step, already in le order
        bounds = [le for le, _ in columns]
        if 0 <= q <= 1 and len(bounds) >= 2 and math.isinf(bounds[-1]) and len(set(bounds)) == len(bounds):
            rows = zip(*[[v for _, v in pts] for _, pts in columns])
            return [(t, _quantile_sorted(q, bounds, row)) for t, row in zip(stamps, rows)]
        rows = zip(*[[v for _, v in pts] for _, pts in columns])
        return [(t, histogram_quantile(q, zip(bounds, row))) for t, row in zip(stamps, rows)]
    by_t: dict[float, list[tuple[float, float]]] = {}
    for le, pts in columns:
        for t, v in pts:
            by_t.setdefault(t, []).append((le, v))
    return [(t, histogram_quantile(q, by_t[t])) for t in sorted(by_t)]


def _quantile_sorted(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """:func:`histogram_quantile` for distinct, sorted bounds ending in +Inf (the hot path of a range query)."""
    running = -math.inf
    fixed = []
    for c in counts:
        if c > running:
            running = c
        fixed.append(running)
    observations = fixed[-1]
    if not observations > 0:
        return math.nan
    rank = q * observations
    b = 0
    while fixed[b] < rank:
        b += 1
    last = len(fixed) - 1
    if b == last:
        return bounds[last - 1]
    if b == 0:
        if bounds[0] <= 0:
            return bounds[0]
        return bounds[0] * (rank / fixed[0])
    start = bounds[b - 1]
    return start + (bounds[b] - start) * ((rank - fixed[b - 1]) / (fixed[b] - fixed[b - 1]))


#: Per-pod metrics name this many worst pods; the rest are counted, never listed.
WORST_PODS = 3
#: "Alike" the worst pod: a latest value within this share of the worst pod's (heap within 10 %).
ALIKE_WITHIN = 0.1


def per_instance(summaries: Sequence[dict[str, Any]], shown: int = WORST_PODS) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-pod series as a person reads them: the worst pod first, the spread, and how many pods.

    The worst pod is the one with the highest latest value (ties: highest max): the pod that
    runs out first, whose trend predicts the failure. A fleet sum of per-pod quantities is
    several times what any one pod can hold, so it is never made here. ``info`` also names
    the ``shown`` worst pods with their latest values and counts the others alike the worst
    (latest value at least ``1 - ALIKE_WITHIN`` of the worst pod's): the same numbers the
    live collector asks Prometheus for with ``topk`` and ``count`` (:func:`fleet_info`).

    >>> mk = lambda pod, last, mx: {"labels": {"pod": pod}, "summary": {"last": last, "max": mx}}
    >>> ordered, pods = per_instance([mk("a", 2.0, 3.0), mk("b", 7.0, 7.5), mk("c", 4.0, 4.0), mk("d", 6.5, 6.5)], 1)
    >>> [s["labels"]["pod"] for s in ordered], pods["count"], pods["last_min"], pods["last_max"], pods["last_median"]
    (['b', 'd', 'c', 'a'], 4, 2.0, 7.0, 5.25)
    >>> pods["others_alike"]
    1
    """
    import json

    def key(s: dict[str, Any]) -> tuple[float, float, str]:
        summ = s["summary"]
        return (-(summ.get("last") or 0.0), -(summ.get("max") or 0.0), json.dumps(s["labels"], sort_keys=True))

    ordered = sorted(summaries, key=key)
    lasts = sorted(float(s["summary"].get("last") or 0.0) for s in ordered)
    if not ordered:
        return [], {"count": 0}
    top = [{"labels": s["labels"], "last": float(s["summary"].get("last") or 0.0)} for s in ordered[:shown]]
    threshold = (1 - ALIKE_WITHIN) * lasts[-1]
    info = fleet_info(len(ordered), top, lasts[0], percentile(lasts, 50), sum(1 for v in lasts if v >= threshold))
    return list(ordered), info


def fleet_info(count: int, top: Sequence[dict[str, Any]], last_min: float, last_median: float,
               near_worst: int) -> dict[str, Any]:
    """The per-pod spread as the prompt states it, from the worst pods (``[{"labels", "last"}]``, worst
    first), the lowest and median latest values, and how many pods are alike the worst (itself included).

    >>> info = fleet_info(300, [{"labels": {"pod": "a"}, "last": 10.0}, {"labels": {"pod": "b"}, "last": 8.0}], 1.0, 4.0, 12)
    >>> info["worst"], info["last_max"], info["others_alike"], info["alike_within"]
    ({'pod': 'a'}, 10.0, 11, 0.1)
    """
    worst = top[0]["last"] if top else math.nan
    shown_alike = sum(1 for t in top if t["last"] >= (1 - ALIKE_WITHIN) * worst)
    return {
        "count": count, "worst": top[0]["labels"] if top else {}, "last_min": last_min,
        "last_max": worst, "last_median": last_median, "worst_pods": [dict(t) for t in top],
        "near_worst": near_worst, "others_alike": max(0, near_worst - shown_alike), "alike_within": ALIKE_WITHIN,
    }
