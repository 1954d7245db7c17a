"""Pack schema with naming variants, the bundled jvm/http/process packs, and the demo's OpenMetrics."""

from __future__ import annotations

import re

import pytest
import yaml

from ctxgrab.errors import ConfigError
from ctxgrab.packs import Pack, fill, load_pack
from prom_fixtures import load_build

KEPT_IDS = {"jvm": {"heap_used", "heap_committed", "heap_max", "gc_pause", "threads"},
            "http": {"request_rate", "error_ratio", "latency_p99"}}


@pytest.mark.parametrize("name", ["jvm", "http", "process"])
def test_bundled_packs_have_both_namings(name: str) -> None:
    pack = load_pack(name)
    assert list(pack.probe) == ["micrometer", "otel"]
    assert KEPT_IDS.get(name, set()) <= {m.id for m in pack.metrics}
    for m in pack.metrics:
        assert set(m.variants) == {"micrometer", "otel"}, m.id
        assert m.query == m.variants["micrometer"]
        for q in m.variants.values():
            assert "$selector" in q
            filled = fill(q, {"service": "payments"})
            assert 'service="payments"' in filled and "$" not in filled
            assert filled.count("(") == filled.count(")") and filled.count("{") == filled.count("}")


def test_fill_without_labels_drops_the_comma() -> None:
    q = load_pack("jvm").metric("heap_used").query_for("otel")
    assert fill(q, {}) == 'sum by (pod, instance) (jvm_memory_used_bytes{jvm_memory_type="heap"})'


def test_variant_not_in_probe_is_rejected(tmp_path) -> None:
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({
        "name": "bad", "probe": {"micrometer": "x{$selector}"},
        "metrics": [{"id": "a", "title": "A", "variants": {"otel": "y"}}]}))
    with pytest.raises(ConfigError, match=r"bad.yaml.*variants otel are not in the pack's `probe`"):
        load_pack("bad", tmp_path)


def test_metric_needs_query_or_variants() -> None:
    with pytest.raises(ValueError, match="needs `query` or `variants`"):
        Pack.model_validate({"name": "p", "metrics": [{"id": "a", "title": "A"}]})
    pack = Pack.model_validate({"name": "p", "metrics": [{"id": "a", "title": "A", "query": "up"}]})
    assert pack.metrics[0].query_for("otel") == "up"


def test_demo_openmetrics_is_what_promtool_accepts() -> None:
    build = load_build()
    saved, labels = build.load_saved()
    text = build.to_openmetrics(build.families(saved, labels, "micrometer"))
    lines = text.splitlines()
    assert lines[-1] == "# EOF" and "" not in lines
    last: dict[str, float] = {}
    seen_names: list[str] = []
    for line in lines[:-1]:
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+) (\d+(?:\.\d+)?)', line)
        assert m, line
        name, lbls, ts = m.group(1), m.group(2), float(m.group(4))
        assert 1e9 < ts < 1e10  # seconds, never milliseconds
        key = name + lbls
        assert ts > last.get(key, 0), f"out of order: {line}"
        last[key] = ts
        if not seen_names or seen_names[-1] != name:
            assert name not in seen_names, f"family {name} is not contiguous"
            seen_names.append(name)
    import_text = build.to_import_text(build.families(saved, labels, "otel"))
    assert re.search(r" \d{13}$", import_text.splitlines()[0])  # VictoriaMetrics wants milliseconds


def test_bucket_shares_reproduce_the_quantile() -> None:
    build = load_build()
    bounds = build.BUCKETS
    for p99 in (0.006, 0.18, 0.3, 1.6, 7.0):  # above the first bound (5 ms), as in the scenario
        shares = build._bucket_shares(p99)
        assert shares == sorted(shares) and shares[-1] == 1.0
        # histogram_quantile's linear interpolation inside the bucket holding rank 0.99
        i = next(k for k, s in enumerate(shares) if s >= 0.99)
        lo, s_lo = (bounds[i - 1], shares[i - 1]) if i else (0.0, 0.0)
        got = lo + (bounds[i] - lo) * (0.99 - s_lo) / (shares[i] - s_lo)
        assert got == pytest.approx(p99, rel=1e-9)


PER_POD = {"heap_used", "heap_committed", "heap_max", "old_gen_after_gc", "gc_pause", "gc_rate", "threads",
           "cpu_usage", "rss", "open_fds", "max_fds"}


@pytest.mark.parametrize("name", ["jvm", "http", "process"])
def test_bundled_packs_declare_how_each_metric_aggregates(name: str) -> None:
    """Per-pod quantities are per instance (the query keeps the pod); sums only where a sum means something."""
    for m in load_pack(name).metrics:
        assert m.aggregate in ("sum", "max", "per_instance"), m.id
        if m.id in PER_POD:
            assert m.aggregate == "per_instance", m.id
            for q in m.variants.values():
                assert re.match(r"^(sum|max) by \(pod, instance\) \(", q), (m.id, q)
        if m.id == "request_rate":
            assert m.aggregate == "sum"
