"""Packs: declarative sets of collector instances, one YAML file each.

A pack names the metric queries (and later other inputs) a technology needs, so a
user writes ``packs: [jvm, http]`` instead of PromQL. Queries carry ``$selector``,
replaced with the service's label matchers (``service="payments"``)::

    name: jvm
    description: JVM heap, GC and threads
    metrics:
      - id: heap_used
        title: JVM heap used
        unit: bytes
        query: sum(jvm_memory_used_bytes{area="heap",$selector})

Exporters name the same signal differently (Micrometer ``jvm_memory_used_bytes{area="heap"}``,
OpenTelemetry ``jvm_memory_used_bytes{jvm_memory_type="heap"}``). A pack may declare
naming *variants*: a per-pack ``probe`` (one cheap series selector per variant, tried
in order) and per-metric ``variants`` (the query for each naming). ``query`` is the
query used when no probe ran (saved files) and defaults to the first variant::

    probe:
      micrometer: jvm_memory_used_bytes{area="heap",$selector}
      otel: jvm_memory_used_bytes{jvm_memory_type="heap",$selector}
    metrics:
      - id: heap_used
        title: JVM heap used
        unit: bytes
        variants:
          micrometer: sum(jvm_memory_used_bytes{area="heap",$selector})
          otel: sum(jvm_memory_used_bytes{jvm_memory_type="heap",$selector})

``aggregate`` says how a metric combines across pods: ``sum`` only where a fleet
total means something (request rate), ``per_instance`` for per-pod quantities (heap,
GC time, threads, RSS, CPU: the worst pod, the spread and the pod count are shown,
the trend is the worst pod's), ``max`` for one highest-pod series.

A metric marked ``optional: true`` is one not every service exposes (old gen after
GC): when it finds nothing it says so quietly instead of reporting a gap. A metric
with ``quantile: 0.99`` queries histogram bucket rates (``sum by (le) (rate(..._bucket[5m]))``)
and ctxgrab computes the quantile exactly as ``histogram_quantile`` does, so p50 and
p99 share one query.

Metrics of one family can share one query on live sources (one request, one evaluation):
the pack names it under ``queries`` with the label that tells the parts apart, and each
metric says which part it reads (or that it is a ratio of them), keeping its own query for
saved replies::

    queries:
      heap:
        by: part
        query: >-
          label_replace(sum by (pod, instance) (jvm_memory_used_bytes{area="heap",$selector}), "part", "used", "", "")
          or label_replace(sum by (pod, instance) (jvm_memory_max_bytes{area="heap",$selector} > 0), "part", "max", "", "")
    metrics:
      - id: heap_used
        shared: {query: heap, part: used}
        ...

Packs resolve from ``defaults.packs_dir`` first, then the bundled ``collectors/``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .yamlsafe import safe_load as safe_yaml
from .configfile import yaml_error_line
from .errors import ConfigError
from .resources import bundled_dir, plugin_dirs

__all__ = ["Pack", "PackMetric", "SharedQuery", "SharedFrom", "load_pack", "pack_dirs", "selector", "fill"]


class SharedFrom(BaseModel):
    """Where a metric reads its series from a query it shares with others of its pack (``shared:``)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(description="name of the pack's `queries` entry")
    part: str | None = Field(
        None, description="the value of the shared query's `by` label whose series are this metric's")
    ratio_of: str | None = Field(
        None, description="this metric is the share of all series summed held by those whose `by` label fully "
                          "matches this regex (`5..`: 5xx over all requests, as PromQL's `=~`; 0 at a step where "
                          "none has a series but others do)")

    @model_validator(mode="after")
    def _one_way(self) -> "SharedFrom":
        if self.part is not None and self.ratio_of is not None:
            raise ValueError("give `part` or `ratio_of`, not both")
        return self


class SharedQuery(BaseModel):
    """One query whose reply serves several metrics of a pack (``queries:``), told apart by a label."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(description="the label that tells the metrics apart (added by the query, e.g. with label_replace)")
    query: str = Field("", description="PromQL with $selector; defaults to the first of `variants`")
    variants: dict[str, str] = Field(default_factory=dict, description="query per naming variant")

    @model_validator(mode="after")
    def _query_or_variants(self) -> "SharedQuery":
        if not self.query:
            if not self.variants:
                raise ValueError("a shared query needs `query` or `variants`")
            self.query = next(iter(self.variants.values()))
        return self

    def query_for(self, naming: str | None) -> str:
        return self.variants.get(naming or "", self.query)


class PackMetric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="identifier, unique in the pack")
    title: str = Field(description="label in the prompt")
    query: str = Field("", description="PromQL with $selector; defaults to the first of `variants`")
    variants: dict[str, str] = Field(
        default_factory=dict, description="query per naming variant (keys as in the pack's `probe`)"
    )
    unit: str | None = Field(None, description="bytes, seconds, ratio, rps, …")
    limit_of: str | None = Field(None, description="id of the metric this one bounds (heap_max bounds heap_used)")
    bounded_by: list[str] = Field(
        default_factory=list,
        description="settings that bound this metric (`-Xmx`, `-XX:MaxDirectMemorySize`, "
                    "`spring.datasource.hikari.maximum-pool-size`), or `container:memory` for the container's "
                    "memory limit; the prompt shows the limit beside the metric and the saturation signal uses it",
    )
    aggregate: Literal["sum", "max", "per_instance"] | None = Field(
        None,
        description="how the metric combines across pods: `sum` (a fleet total that means something: request "
                    "rate), `max`, or `per_instance` (one series per pod, shown as the worst pod, the spread and "
                    "the pod count; the query keeps the pod labels, e.g. `sum by (pod, instance) (...)`)",
    )
    optional: bool = Field(False, description="not every service exposes it: nothing found is not a gap")
    quantile: float | None = Field(
        None, ge=0, le=1,
        description="the query returns histogram bucket rates by `le`; ctxgrab computes this quantile from them "
                    "(one bucket query then serves p50 and p99)",
    )

    shared: SharedFrom | None = Field(
        None,
        description="live sources read this metric from a query shared with other metrics of the pack "
                    "(`queries:`): one request, one evaluation; `query`/`variants` stay the metric's own query "
                    "(saved replies, and the reference the shared one is tested against)",
    )

    @model_validator(mode="after")
    def _query_or_variants(self) -> "PackMetric":
        if not self.query:
            if not self.variants:
                raise ValueError(f"metric {self.id!r} needs `query` or `variants`")
            self.query = next(iter(self.variants.values()))
        return self

    def query_for(self, naming: str | None) -> str:
        """The query for a naming variant; the default ``query`` when that variant is not given."""
        return self.variants.get(naming or "", self.query)


class Pack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    probe: dict[str, str] = Field(
        default_factory=dict,
        description="naming variant -> series selector that exists only under that naming, tried in order",
    )
    queries: dict[str, SharedQuery] = Field(
        default_factory=dict, description="name -> a query several metrics read their series from (`shared:`)")
    metrics: list[PackMetric] = Field(default_factory=list)

    @model_validator(mode="after")
    def _variants_known(self) -> "Pack":
        for name, q in self.queries.items():
            unknown = sorted(set(q.variants) - set(self.probe))
            if unknown:
                raise ValueError(f"query {name!r}: variants {', '.join(unknown)} are not in the pack's `probe`")
        for m in self.metrics:
            if m.shared is not None and m.shared.query not in self.queries:
                raise ValueError(f"metric {m.id!r}: shared query {m.shared.query!r} is not in the pack's `queries` "
                                 f"({', '.join(self.queries) or 'none'})")
            unknown = sorted(set(m.variants) - set(self.probe))
            if unknown:
                raise ValueError(
                    f"metric {m.id!r}: variants {', '.join(unknown)} are not in the pack's `probe` "
                    f"({', '.join(self.probe) or 'none'})"
                )
        return self

    def metric(self, metric_id: str) -> PackMetric | None:
        return next((m for m in self.metrics if m.id == metric_id), None)


def pack_dirs(user_dir: Path | None) -> list[Path]:
    """The user's folder, then packages registered under ``ctxgrab.packs``, then the bundled packs."""
    dirs = [user_dir] if user_dir else []
    dirs.extend(plugin_dirs("collectors"))
    dirs.append(bundled_dir("collectors"))
    return dirs


def load_pack(name: str, user_dir: Path | None = None) -> Pack:
    """Find and validate pack ``name``."""
    dirs = pack_dirs(user_dir)
    for d in dirs:
        for ext in (".yaml", ".yml"):
            p = d / f"{name}{ext}"
            if p.is_file():
                return _parse_pack(str(p), p.stat().st_mtime_ns)
    available = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.y*ml")})
    raise ConfigError(f"unknown pack {name!r} — fix: use one of: {', '.join(available) or 'none'}")


@lru_cache(maxsize=64)
def _parse_pack(path: str, mtime_ns: int) -> Pack:
    # Every metric instance of a run looks its pack up; parse each file version once.
    p = Path(path)
    try:
        data = safe_yaml(p.read_text(encoding="utf-8"))
        return Pack.model_validate(data)
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}:{yaml_error_line(e)} — fix: correct the pack file") from None
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{p}: {key}: {err['msg']} — fix: correct the pack file") from None


def selector(labels: dict[str, str]) -> str:
    """Label matchers for ``$selector``: ``{'service': 'payments'}`` → ``service="payments"``."""
    out = []
    for k, v in sorted(labels.items()):
        v = v.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{k}="{v}"')
    return ",".join(out)


def fill(query: str, labels: dict[str, str], extra: str = "") -> str:
    """Fill ``$selector`` into a query, dropping the dangling comma when there are no labels.

    ``extra`` adds matchers already written as PromQL (``pod=~"a|b"``) to every selector.
    """
    sel = ",".join(x for x in (selector(labels), extra) if x)
    if not sel:
        query = query.replace(",$selector", "").replace("$selector,", "")
    return query.replace("$selector", sel)
